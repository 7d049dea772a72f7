/**
 * Waiting out another instance's hold on an image's exclusive lock: while an instance holds
 * the locks of a group snapshot's members (snapshots.ts), librbd refuses writes and changes from
 * every other client with EROFS. Such a call is retried every `lockRetryIntervalMs` for up to
 * `lockWaitMsMax`; past that the caller gets BUSY.
 */
import { isStrataError, StrataError } from '../../lib/errors.js';
import { limits } from '../../lib/limits.js';

export async function whileLocked<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + limits.rbd.lockWaitMsMax;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isStrataError(error, 'READ_ONLY')) throw error;
      if (Date.now() >= deadline) throw new StrataError('BUSY', 'another instance holds the image lock; retry later');
      await new Promise((resolve) => setTimeout(resolve, limits.rbd.lockRetryIntervalMs));
    }
  }
}
