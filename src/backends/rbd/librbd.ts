/**
 * The C functions of librados and librbd that the RBD backend calls, declared through koffi
 * (FFI; ARCHITECTURE.md says why FFI rather than an addon). Only what the backend uses is
 * declared. Calls that wait on the cluster are made with `.async`, which runs them on koffi's
 * worker threads, so the event loop never blocks on the network; data I/O uses librbd's aio
 * calls, whose completion callback koffi queues back onto the main thread.
 *
 * Nothing here checks return codes: `check` in errors.ts turns a negative errno into a
 * StrataError at each call site.
 */
import { promisify } from 'node:util';
import koffi, { type TypeObject } from 'koffi';
import { StrataError } from '../../lib/errors.js';

/** An opaque C pointer (koffi represents pointers as BigInts). */
export type Pointer = bigint;
// koffi's function objects are untyped; each wrapper below fixes the JS signature.
type NativeFn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

const timespec = koffi.struct('strata_timespec', { tv_sec: 'int64_t', tv_nsec: 'long' });
const snapInfo = koffi.struct('strata_rbd_snap_info_t', { id: 'uint64_t', size: 'uint64_t', name: 'char *' });
const imageSpec = koffi.struct('strata_rbd_image_spec_t', { id: 'char *', name: 'char *' });
const linkedImageSpec = koffi.struct('strata_rbd_linked_image_spec_t', {
  pool_id: 'int64_t',
  pool_name: 'char *',
  pool_namespace: 'char *',
  image_id: 'char *',
  image_name: 'char *',
  trash: 'bool',
});
const snapSpec = koffi.struct('strata_rbd_snap_spec_t', { id: 'uint64_t', namespace_type: 'int', name: 'char *' });
const completionCallback = koffi.proto('void strata_rbd_callback_t(void *completion, void *arg)');
const progressCallback = koffi.proto('int strata_librbd_progress_fn_t(uint64_t offset, uint64_t total, void *arg)');
const updateCallback = koffi.proto('void strata_rbd_update_callback_t(void *arg)');
const diffCallback = koffi.proto('int strata_rbd_diff_cb(uint64_t offset, size_t length, int exists, void *arg)');

export interface SnapInfo {
  id: number;
  sizeBytes: number;
  name: string;
}

export interface ParentSpec {
  imageName: string;
  snapId: number;
}

let loaded: ReturnType<typeof bind> | null = null;

/** Loads librados.so.2 and librbd.so.1 once; throws when they are not installed. */
export function native(): ReturnType<typeof bind> {
  loaded ??= bind();
  return loaded;
}

function load(name: string, debianPackage: string) {
  try {
    return koffi.load(name);
  } catch (error) {
    throw new StrataError('IO_ERROR', `${name} cannot be loaded (install ${debianPackage}): ${(error as Error).message}`);
  }
}

function bind() {
  const rados = load('librados.so.2', 'librados2');
  const rbd = load('librbd.so.1', 'librbd1');
  const r = (decl: string) => rados.func(decl) as unknown as NativeFn;
  const b = (decl: string) => rbd.func(decl) as unknown as NativeFn;
  const fns = {
    radosCreate: r('int rados_create(_Out_ void **cluster, const char *id)'),
    radosConfReadFile: r('int rados_conf_read_file(void *cluster, const char *path)'),
    radosConfSet: r('int rados_conf_set(void *cluster, const char *option, const char *value)'),
    radosConnect: r('int rados_connect(void *cluster)'),
    radosShutdown: r('void rados_shutdown(void *cluster)'),
    radosClusterFsid: r('int rados_cluster_fsid(void *cluster, _Out_ uint8_t *buf, size_t len)'),
    radosIoctxCreate: r('int rados_ioctx_create(void *cluster, const char *pool, _Out_ void **ioctx)'),
    radosIoctxDestroy: r('void rados_ioctx_destroy(void *ioctx)'),
    radosIoctxSetNamespace: r('void rados_ioctx_set_namespace(void *ioctx, const char *nspace)'),
    rbdNamespaceCreate: b('int rbd_namespace_create(void *ioctx, const char *name)'),
    rbdNamespaceExists: b('int rbd_namespace_exists(void *ioctx, const char *name, _Out_ bool *exists)'),
    rbdList2: b('int rbd_list2(void *ioctx, void *images, _Inout_ size_t *max)'),
    rbdImageSpecListCleanup: b('void rbd_image_spec_list_cleanup(void *images, size_t count)'),
    rbdCreate2: b('int rbd_create2(void *ioctx, const char *name, uint64_t size, uint64_t features, _Inout_ int *order)'),
    rbdClone2: b(
      'int rbd_clone2(void *pioctx, const char *pname, const char *psnap, void *cioctx, const char *cname, uint64_t features, _Inout_ int *order, uint64_t stripeUnit, int stripeCount)',
    ),
    rbdRemoveWithProgress: b('int rbd_remove_with_progress(void *ioctx, const char *name, strata_librbd_progress_fn_t *cb, void *arg)'),
    rbdOpen: b('int rbd_open(void *ioctx, const char *name, _Out_ void **image, const char *snap)'),
    rbdOpenReadOnly: b('int rbd_open_read_only(void *ioctx, const char *name, _Out_ void **image, const char *snap)'),
    rbdClose: b('int rbd_close(void *image)'),
    rbdResize: b('int rbd_resize(void *image, uint64_t size)'),
    rbdGetSize: b('int rbd_get_size(void *image, _Out_ uint64_t *size)'),
    rbdGetCreateTimestamp: b('int rbd_get_create_timestamp(void *image, _Out_ strata_timespec *ts)'),
    rbdGetParent: b('int rbd_get_parent(void *image, _Out_ strata_rbd_linked_image_spec_t *image, _Out_ strata_rbd_snap_spec_t *snap)'),
    rbdLinkedImageSpecCleanup: b('void rbd_linked_image_spec_cleanup(strata_rbd_linked_image_spec_t *spec)'),
    rbdSnapSpecCleanup: b('void rbd_snap_spec_cleanup(strata_rbd_snap_spec_t *spec)'),
    rbdSnapCreate: b('int rbd_snap_create(void *image, const char *name)'),
    rbdSnapGetId: b('int rbd_snap_get_id(void *image, const char *name, _Out_ uint64_t *id)'),
    rbdSnapGetTimestamp: b('int rbd_snap_get_timestamp(void *image, uint64_t id, _Out_ strata_timespec *ts)'),
    rbdSnapList: b('int rbd_snap_list(void *image, void *snaps, _Inout_ int *max)'),
    rbdSnapListEnd: b('void rbd_snap_list_end(void *snaps)'),
    rbdSnapRemoveById: b('int rbd_snap_remove_by_id(void *image, uint64_t id)'),
    rbdSnapRollbackWithProgress: b('int rbd_snap_rollback_with_progress(void *image, const char *name, strata_librbd_progress_fn_t *cb, void *arg)'),
    rbdSnapSetById: b('int rbd_snap_set_by_id(void *image, uint64_t id)'),
    rbdFlattenWithProgress: b('int rbd_flatten_with_progress(void *image, strata_librbd_progress_fn_t *cb, void *arg)'),
    rbdMetadataGet: b('int rbd_metadata_get(void *image, const char *key, _Out_ uint8_t *value, _Inout_ size_t *len)'),
    rbdMetadataSet: b('int rbd_metadata_set(void *image, const char *key, const char *value)'),
    rbdMetadataRemove: b('int rbd_metadata_remove(void *image, const char *key)'),
    rbdUpdateWatch: b('int rbd_update_watch(void *image, _Out_ uint64_t *handle, strata_rbd_update_callback_t *cb, void *arg)'),
    rbdUpdateUnwatch: b('int rbd_update_unwatch(void *image, uint64_t handle)'),
    rbdLockAcquire: b('int rbd_lock_acquire(void *image, int mode)'),
    rbdLockRelease: b('int rbd_lock_release(void *image)'),
    rbdDiffIterate2: b(
      'int rbd_diff_iterate2(void *image, const char *fromSnap, uint64_t offset, uint64_t length, uint8_t includeParent, uint8_t wholeObject, strata_rbd_diff_cb *cb, void *arg)',
    ),
    rbdAioCreateCompletion: b('int rbd_aio_create_completion(void *arg, strata_rbd_callback_t *cb, _Out_ void **completion)'),
    rbdAioRead: b('int rbd_aio_read(void *image, uint64_t offset, size_t length, void *buf, void *completion)'),
    rbdAioWrite: b('int rbd_aio_write(void *image, uint64_t offset, size_t length, void *buf, void *completion)'),
    rbdAioDiscard: b('int rbd_aio_discard(void *image, uint64_t offset, uint64_t length, void *completion)'),
    rbdAioWriteZeroes: b('int rbd_aio_write_zeroes(void *image, uint64_t offset, size_t length, void *completion, int zeroFlags, int opFlags)'),
    rbdAioFlush: b('int rbd_aio_flush(void *image, void *completion)'),
    rbdAioGetReturnValue: b('int64_t rbd_aio_get_return_value(void *completion)'),
    rbdAioRelease: b('void rbd_aio_release(void *completion)'),
  };
  return { ...fns, types: { timespec, snapInfo, imageSpec, linkedImageSpec, snapSpec, completionCallback, progressCallback, diffCallback, updateCallback } };
}

export type Native = ReturnType<typeof bind>;

/**
 * Neither a koffi worker call nor a librbd completion keeps Node's event loop alive, so a
 * process waiting only on the cluster would exit: a timer is held while any call is pending.
 */
let pendingCalls = 0;
let keepAlive: NodeJS.Timeout | null = null;

export function whilePending<T>(operation: () => Promise<T>): Promise<T> {
  if (pendingCalls++ === 0) keepAlive = setInterval(() => undefined, 2 ** 30);
  const settle = () => {
    if (--pendingCalls === 0 && keepAlive !== null) {
      clearInterval(keepAlive);
      keepAlive = null;
    }
  };
  let promise: Promise<T>;
  try {
    promise = operation();
  } catch (error) {
    settle();
    throw error;
  }
  return promise.finally(settle);
}

/** Runs a native call on a koffi worker thread. */
export function offLoop(fn: NativeFn, ...args: unknown[]): Promise<number> {
  return whilePending(() => (promisify(fn.async) as (...a: unknown[]) => Promise<number>)(...args)).then((value) => Number(value));
}

/** A registered callback for the duration of `body` (registered callbacks may be called from librbd's threads). */
export async function withCallback<T>(fn: (...args: never[]) => unknown, type: TypeObject, body: (callback: Pointer) => Promise<T>): Promise<T> {
  const callback = koffi.register(fn, koffi.pointer(type));
  try {
    return await body(callback);
  } finally {
    koffi.unregister(callback);
  }
}

/** A NUL-terminated string out of a byte buffer a C call filled. */
export function cString(buffer: Uint8Array): string {
  const end = buffer.indexOf(0);
  return Buffer.from(buffer.buffer, buffer.byteOffset, end === -1 ? buffer.length : end).toString('utf8');
}
