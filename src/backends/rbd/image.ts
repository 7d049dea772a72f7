/**
 * An open RBD image (the live head, or a snapshot when opened read-only at one). Data I/O uses
 * librbd's aio calls: the call only queues the request, librbd completes it on its own thread,
 * and koffi runs the completion callback on the main thread. Buffers handed to librbd live in
 * memory koffi allocated (a JS buffer may move once the call returns), copied in and out.
 * Everything else that may wait on the cluster runs on a koffi worker thread (`offLoop`),
 * including the getters that refresh the image first (size, snapshot list, parent): librbd runs
 * completion callbacks on the same thread that refreshes images, and that thread waits while
 * koffi hands a callback to the main thread, so a main thread blocked in librbd would deadlock.
 */
import koffi from 'koffi';
import { StrataError } from '../../lib/errors.js';
import { check } from './errors.js';
import { cString, native, offLoop, whilePending, withCallback, type ParentSpec, type Pointer, type SnapInfo } from './librbd.js';

/** Settles aio completions: one registered callback for every request, keyed by a token. */
class Completions {
  private readonly pending = new Map<number, (result: number) => void>();
  private nextToken = 1;
  private callback: Pointer | null = null;

  /** Starts one aio request; resolves with its return value (negative errno on failure). */
  run(start: (completion: Pointer) => number): Promise<number> {
    const lib = native();
    this.callback ??= koffi.register((completion: Pointer, arg: Pointer) => this.settle(completion, arg), koffi.pointer(lib.types.completionCallback));
    const token = this.nextToken++;
    const out: [Pointer | null] = [null];
    check(lib.rbdAioCreateCompletion(BigInt(token), this.callback, out) as number, 'rbd_aio_create_completion');
    const completion = out[0] as Pointer;
    return whilePending(
      () =>
        new Promise<number>((resolve) => {
          this.pending.set(token, resolve);
          let started: number;
          try {
            started = start(completion);
          } catch (error) {
            this.pending.delete(token);
            lib.rbdAioRelease(completion);
            throw error;
          }
          if (started < 0) {
            this.pending.delete(token);
            lib.rbdAioRelease(completion);
            resolve(started);
          }
        }),
    );
  }

  private settle(completion: Pointer, arg: Pointer): void {
    const lib = native();
    const result = Number(lib.rbdAioGetReturnValue(completion));
    lib.rbdAioRelease(completion);
    const token = Number(arg);
    const resolve = this.pending.get(token);
    this.pending.delete(token);
    resolve?.(result);
  }
}

const completions = new Completions();

/**
 * Header-update listeners: one registered callback for every watched image (koffi allows a
 * few thousand registered callbacks in all), dispatching on the token librbd hands back.
 */
class UpdateListeners {
  private readonly listeners = new Map<number, () => void>();
  private nextToken = 1;
  private registered: Pointer | null = null;

  callback(): Pointer {
    this.registered ??= koffi.register((arg: Pointer) => this.listeners.get(Number(arg))?.(), koffi.pointer(native().types.updateCallback));
    return this.registered;
  }

  add(listener: () => void): number {
    const token = this.nextToken++;
    this.listeners.set(token, listener);
    return token;
  }

  delete(token: number): void {
    this.listeners.delete(token);
  }
}

const updates = new UpdateListeners();

/** A region of native memory for one aio request. */
function nativeBuffer(lengthBytes: number): { pointer: Pointer; view: Buffer; free(): void } {
  const pointer = koffi.alloc('uint8_t', Math.max(1, lengthBytes)) as Pointer;
  return { pointer, view: Buffer.from(koffi.view(pointer, Math.max(1, lengthBytes))).subarray(0, lengthBytes), free: () => koffi.free(pointer) };
}

export class RbdImage {
  private closed: Promise<void> | null = null;
  /** librbd's size, read off the event loop when opened and whenever it may have changed (never by a call on the main thread: see the file comment). */
  private size = 0;
  private watch: { handle: bigint | number; token: number } | null = null;
  private inFlight = 0;
  private readonly drained: (() => void)[] = [];

  private constructor(
    private readonly handle: Pointer,
    readonly name: string,
  ) {}

  /** The native handle, unless a close has begun: a call on a closed handle would use freed memory. */
  private live(): Pointer {
    if (this.closed !== null) throw new StrataError('NOT_FOUND', `image ${this.name} was closed (its volume is being deleted)`);
    return this.handle;
  }

  /** Calls `onUpdate` on the main thread whenever the image's header changes (size, snapshots, metadata, from any client). */
  watchUpdates(onUpdate: () => void): void {
    const token = updates.add(onUpdate);
    const handle: [bigint | number] = [0];
    const result = native().rbdUpdateWatch(this.live(), handle, updates.callback(), BigInt(token)) as number;
    if (result < 0) {
      updates.delete(token);
      check(result, 'rbd_update_watch', this.name);
    }
    this.watch = { handle: handle[0], token };
  }

  static async open(ioctx: Pointer, name: string, options: { readOnly?: boolean } = {}): Promise<RbdImage> {
    const lib = native();
    const out: [Pointer | null] = [null];
    const call = options.readOnly ? 'rbd_open_read_only' : 'rbd_open';
    const result = await offLoop(options.readOnly ? lib.rbdOpenReadOnly : lib.rbdOpen, ioctx, name, out, null);
    check(result, call, name);
    const image = new RbdImage(out[0] as Pointer, name);
    await image.refreshSize().catch(async (error: unknown) => {
      await image.close();
      throw error;
    });
    return image;
  }

  /**
   * Closes the handle once every call already using it has returned: librbd aborts the process
   * when an image is closed under an operation in flight (a snapshot's view closed by its
   * deletion while a read or diff on it still runs). Calls made after close are refused.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      while (this.inFlight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
      const lib = native();
      if (this.watch !== null) {
        await offLoop(lib.rbdUpdateUnwatch, this.handle, this.watch.handle);
        updates.delete(this.watch.token);
      }
      check(await offLoop(lib.rbdClose, this.handle), 'rbd_close', this.name);
    })();
    return this.closed;
  }

  /** Runs a call on the handle, counted so close() waits for it; NOT_FOUND once the image is closing. */
  private async use<T>(call: () => Promise<T>): Promise<T> {
    if (this.closed !== null) throw new StrataError('NOT_FOUND', `${this.name} is closed (its volume or snapshot went away)`);
    this.inFlight++;
    try {
      return await call();
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.drained.splice(0)) resolve();
    }
  }

  // ---- data ---------------------------------------------------------------------------------

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    const lib = native();
    const buffer = nativeBuffer(lengthBytes);
    try {
      const result = await this.use(() => completions.run((c) => lib.rbdAioRead(this.handle, offsetBytes, lengthBytes, buffer.pointer, c) as number));
      check(result, 'rbd_aio_read', this.name);
      const data = Buffer.alloc(lengthBytes);
      buffer.view.copy(data, 0, 0, Math.min(result, lengthBytes));
      return data;
    } finally {
      buffer.free();
    }
  }

  async write(offsetBytes: number, data: Uint8Array): Promise<void> {
    const lib = native();
    const buffer = nativeBuffer(data.length);
    try {
      buffer.view.set(data);
      const result = await this.use(() => completions.run((c) => lib.rbdAioWrite(this.handle, offsetBytes, data.length, buffer.pointer, c) as number));
      check(result, 'rbd_aio_write', this.name);
    } finally {
      buffer.free();
    }
  }

  async discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    const lib = native();
    check(await this.use(() => completions.run((c) => lib.rbdAioDiscard(this.handle, offsetBytes, lengthBytes, c) as number)), 'rbd_aio_discard', this.name);
  }

  async writeZeroes(offsetBytes: number, lengthBytes: number, thick: boolean): Promise<void> {
    const lib = native();
    // RBD_WRITE_ZEROES_FLAG_THICK_PROVISION keeps the range allocated.
    const flags = thick ? 1 : 0;
    check(await this.use(() => completions.run((c) => lib.rbdAioWriteZeroes(this.handle, offsetBytes, lengthBytes, c, flags, 0) as number)), 'rbd_aio_write_zeroes', this.name);
  }

  async flush(): Promise<void> {
    const lib = native();
    check(await this.use(() => completions.run((c) => lib.rbdAioFlush(this.handle, c) as number)), 'rbd_aio_flush', this.name);
  }

  // ---- properties -----------------------------------------------------------------------------

  sizeBytes(): number {
    return this.size;
  }

  /** Reads the size again (after a resize or rollback here, or a header change by any client). */
  async refreshSize(): Promise<number> {
    const out: [bigint | number] = [0];
    check(await this.use(() => offLoop(native().rbdGetSize, this.handle, out)), 'rbd_get_size', this.name);
    this.size = Number(out[0]);
    return this.size;
  }

  async createdAtMs(): Promise<number> {
    const out = [{ tv_sec: 0, tv_nsec: 0 }];
    check(await this.use(() => offLoop(native().rbdGetCreateTimestamp, this.handle, out)), 'rbd_get_create_timestamp', this.name);
    return timespecMs(out[0]);
  }

  /** The clone parent (image name and snapshot id), or null for an image that reads through none. */
  async parent(): Promise<ParentSpec | null> {
    const lib = native();
    const image = koffi.alloc(lib.types.linkedImageSpec, 1) as Pointer;
    const snap = koffi.alloc(lib.types.snapSpec, 1) as Pointer;
    try {
      const result = await this.use(() => offLoop(lib.rbdGetParent, this.handle, image, snap));
      if (result === -2) return null;
      check(result, 'rbd_get_parent', this.name);
      const imageSpec = koffi.decode(image, lib.types.linkedImageSpec) as { image_name: string };
      const snapSpec = koffi.decode(snap, lib.types.snapSpec) as { id: bigint | number };
      const parent = { imageName: imageSpec.image_name, snapId: Number(snapSpec.id) };
      lib.rbdLinkedImageSpecCleanup(image);
      lib.rbdSnapSpecCleanup(snap);
      return parent;
    } finally {
      koffi.free(image);
      koffi.free(snap);
    }
  }

  async resize(sizeBytes: number): Promise<void> {
    check(await this.use(() => offLoop(native().rbdResize, this.handle, sizeBytes)), 'rbd_resize', this.name);
    await this.refreshSize();
  }

  async metadata(key: string): Promise<string | null> {
    const value = Buffer.alloc(256);
    const length: [number] = [value.length];
    const result = await this.use(() => offLoop(native().rbdMetadataGet, this.handle, key, value, length));
    if (result === -2) return null;
    check(result, 'rbd_metadata_get', `${this.name} ${key}`);
    return cString(value);
  }

  async setMetadata(key: string, value: string): Promise<void> {
    check(await this.use(() => offLoop(native().rbdMetadataSet, this.handle, key, value)), 'rbd_metadata_set', `${this.name} ${key}`);
  }

  async removeMetadata(key: string): Promise<void> {
    const result = await this.use(() => offLoop(native().rbdMetadataRemove, this.handle, key));
    if (result !== -2) check(result, 'rbd_metadata_remove', `${this.name} ${key}`);
  }

  // ---- snapshots ------------------------------------------------------------------------------

  /** Creates a snapshot and returns its RBD id. */
  async createSnapshot(name: string): Promise<number> {
    const lib = native();
    check(await this.use(() => offLoop(lib.rbdSnapCreate, this.handle, name)), 'rbd_snap_create', `${this.name}@${name}`);
    const id: [bigint | number] = [0];
    check(await this.use(() => offLoop(lib.rbdSnapGetId, this.handle, name, id)), 'rbd_snap_get_id', `${this.name}@${name}`);
    return Number(id[0]);
  }

  async snapshots(): Promise<SnapInfo[]> {
    const lib = native();
    let capacity = 16;
    for (;;) {
      const max: [number] = [capacity];
      const array = koffi.alloc(lib.types.snapInfo, capacity + 1) as Pointer;
      try {
        const result = await this.use(() => offLoop(lib.rbdSnapList, this.handle, array, max));
        if (result === -34) {
          capacity = Math.max(capacity * 2, max[0]);
          continue;
        }
        check(result, 'rbd_snap_list', this.name);
        const entries = koffi.decode(array, lib.types.snapInfo, result) as { id: bigint | number; size: bigint | number; name: string }[];
        const snaps = entries.map((entry) => ({ id: Number(entry.id), sizeBytes: Number(entry.size), name: entry.name }));
        lib.rbdSnapListEnd(array);
        return snaps;
      } finally {
        koffi.free(array);
      }
    }
  }

  async snapshotCreatedAtMs(snapId: number): Promise<number> {
    const out = [{ tv_sec: 0, tv_nsec: 0 }];
    check(await this.use(() => offLoop(native().rbdSnapGetTimestamp, this.handle, snapId, out)), 'rbd_snap_get_timestamp', `${this.name}@${snapId}`);
    return timespecMs(out[0]);
  }

  async removeSnapshot(snapId: number): Promise<void> {
    check(await this.use(() => offLoop(native().rbdSnapRemoveById, this.handle, snapId)), 'rbd_snap_remove_by_id', `${this.name}@${snapId}`);
  }

  /** Rolls the head back to a snapshot (copies every object that differs: O(image size)). */
  async rollback(snapName: string, onProgress: (done: number, total: number) => void): Promise<void> {
    const lib = native();
    await withCallback(progressFn(onProgress), lib.types.progressCallback, async (callback) => {
      check(await this.use(() => offLoop(lib.rbdSnapRollbackWithProgress, this.handle, snapName, callback, null)), 'rbd_snap_rollback', `${this.name}@${snapName}`);
    });
    await this.refreshSize();
  }

  /** Makes this handle read the snapshot `snapId` (a handle opened read-only for a view). */
  async setSnapshot(snapId: number): Promise<void> {
    check(await this.use(() => offLoop(native().rbdSnapSetById, this.handle, snapId)), 'rbd_snap_set_by_id', `${this.name}@${snapId}`);
    await this.refreshSize();
  }

  async flatten(onProgress: (done: number, total: number) => void): Promise<void> {
    const lib = native();
    await withCallback(progressFn(onProgress), lib.types.progressCallback, async (callback) => {
      const result = await this.use(() => offLoop(lib.rbdFlattenWithProgress, this.handle, callback, null));
      // EINVAL: the image has no parent (already flat).
      if (result !== -22) check(result, 'rbd_flatten', this.name);
    });
  }

  async lock(): Promise<void> {
    // RBD_LOCK_MODE_EXCLUSIVE
    check(await this.use(() => offLoop(native().rbdLockAcquire, this.handle, 0)), 'rbd_lock_acquire', this.name);
  }

  async unlock(): Promise<void> {
    check(await this.use(() => offLoop(native().rbdLockRelease, this.handle)), 'rbd_lock_release', this.name);
  }

  /**
   * Extents of [offset, offset + length) that differ from `fromSnapName` (null: from nothing,
   * i.e. the allocated extents), with fast-diff's object map when the image has it.
   */
  async diff(fromSnapName: string | null, offsetBytes: number, lengthBytes: number, includeParent: boolean): Promise<{ offsetBytes: number; lengthBytes: number; exists: boolean }[]> {
    const lib = native();
    const extents: { offsetBytes: number; lengthBytes: number; exists: boolean }[] = [];
    const collect = (offset: bigint | number, length: bigint | number, exists: number) => {
      extents.push({ offsetBytes: Number(offset), lengthBytes: Number(length), exists: exists !== 0 });
      return 0;
    };
    await withCallback(collect, lib.types.diffCallback, async (callback) => {
      const result = await this.use(() => offLoop(lib.rbdDiffIterate2, this.handle, fromSnapName, offsetBytes, lengthBytes, includeParent ? 1 : 0, 0, callback, null));
      check(result, 'rbd_diff_iterate2', this.name);
    });
    extents.sort((a, b) => a.offsetBytes - b.offsetBytes);
    return extents;
  }
}

function timespecMs(ts: { tv_sec: bigint | number; tv_nsec: bigint | number }): number {
  return Number(ts.tv_sec) * 1000 + Math.floor(Number(ts.tv_nsec) / 1e6);
}

function progressFn(onProgress: (done: number, total: number) => void) {
  return (done: bigint | number, total: bigint | number) => {
    onProgress(Number(done), Number(total));
    return 0;
  };
}

/** Image names in the backend's namespace. */
export async function listImages(ioctx: Pointer): Promise<string[]> {
  const lib = native();
  let capacity = 64;
  for (;;) {
    const max: [number] = [capacity];
    const array = koffi.alloc(lib.types.imageSpec, capacity) as Pointer;
    try {
      const result = await offLoop(lib.rbdList2, ioctx, array, max);
      if (result === -34) {
        capacity = Math.max(capacity * 2, Number(max[0]));
        continue;
      }
      check(result, 'rbd_list2');
      const count = Number(max[0]);
      const specs = count === 0 ? [] : (koffi.decode(array, lib.types.imageSpec, count) as { name: string }[]);
      const names = specs.map((spec) => spec.name);
      if (count > 0) lib.rbdImageSpecListCleanup(array, count);
      return names;
    } finally {
      koffi.free(array);
    }
  }
}

export async function createImage(ioctx: Pointer, name: string, sizeBytes: number, features: bigint): Promise<void> {
  const order: [number] = [0];
  check(await offLoop(native().rbdCreate2, ioctx, name, sizeBytes, features, order), 'rbd_create2', name);
}

export async function cloneImage(ioctx: Pointer, parentName: string, snapName: string, childName: string, features: bigint): Promise<void> {
  const order: [number] = [0];
  check(await offLoop(native().rbdClone2, ioctx, parentName, snapName, ioctx, childName, features, order, 0, 0), 'rbd_clone2', `${parentName}@${snapName} → ${childName}`);
}

export async function removeImage(ioctx: Pointer, name: string, onProgress: (done: number, total: number) => void): Promise<void> {
  const lib = native();
  await withCallback(progressFn(onProgress), lib.types.progressCallback, async (callback) => {
    check(await offLoop(lib.rbdRemoveWithProgress, ioctx, name, callback, null), 'rbd_remove', name);
  });
}

