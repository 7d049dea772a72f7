/**
 * Deleting a volume on RBD, as a job: mark the image (so every instance sees it as deleting),
 * flatten the clones made from its snapshots, remove its snapshots, then the image, reporting
 * progress at each step. Run again after an interruption, it continues from what is left.
 */
import { isStrataError } from '../../lib/errors.js';
import { limits } from '../../lib/limits.js';
import type { RbdJob } from './jobs.js';
import { removeImage, type RbdImage } from './image.js';
import type { Pointer } from './librbd.js';
import { whileLocked } from './lock-wait.js';
import { metadataKeys } from './naming.js';

export interface DeletionContext {
  ioctx: Pointer;
  head(volumeId: number): Promise<RbdImage>;
  volumeIds(): Promise<number[]>;
  /** Drops every cached handle of the volume. */
  forget(volumeId: number): Promise<void>;
}

export async function deleteVolumeWork(context: DeletionContext, volumeId: number, job: RbdJob): Promise<void> {
  const head = await context.head(volumeId);
  await whileLocked(() => head.setMetadata(metadataKeys.deleting, '1'));
  const children = await childrenOf(context, head.name);
  const snaps = await head.snapshots();
  const total = children.length + snaps.length + 1;
  let done = 0;
  for (const child of children) {
    await whileLocked(() => child.flatten(() => undefined));
    job.report(++done, total);
  }
  for (const snap of snaps) {
    // Gone already: a snapshot deleted while it had clones waits in RBD's trash and goes by
    // itself once the flatten above detached its last clone (or another instance removed it).
    await whileLocked(() => head.removeSnapshot(snap.id)).catch((error: unknown) => {
      if (!isStrataError(error, 'NOT_FOUND')) throw error;
    });
    job.report(++done, total);
  }
  await context.forget(volumeId);
  await head.close();
  await removeWhenUnwatched(context.ioctx, head.name, (removed, of) => job.report(done + (of === 0 ? 0 : removed / of), total));
  job.report(total, total);
}

/**
 * RBD refuses to remove an image another client still has open (EBUSY): other instances close
 * theirs when they see the deleting mark (backend.ts, `headUpdated`), and a dead instance's
 * watch expires; until then the removal is retried, for up to `removeWaitMsMax`.
 */
async function removeWhenUnwatched(ioctx: Pointer, name: string, onProgress: (done: number, total: number) => void): Promise<void> {
  const deadline = Date.now() + limits.rbd.removeWaitMsMax;
  for (;;) {
    try {
      return await removeImage(ioctx, name, onProgress);
    } catch (error) {
      if (!isStrataError(error, 'BUSY') || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, limits.rbd.removeRetryIntervalMs));
    }
  }
}

/** Heads of the volumes cloned from a snapshot of the image `name`. */
async function childrenOf(context: DeletionContext, name: string): Promise<RbdImage[]> {
  const children: RbdImage[] = [];
  for (const id of await context.volumeIds()) {
    const head = await context.head(id).catch(() => null);
    if (head !== null && (await head.parent())?.imageName === name) children.push(head);
  }
  return children;
}
