/**
 * One connection to a Ceph cluster and one I/O context on the backend's pool (and RADOS
 * namespace, when one is given). Connecting and shutting down wait on the network, so they run
 * off the event loop.
 */
import { StrataError } from '../../lib/errors.js';
import { check } from './errors.js';
import { native, offLoop, type Pointer } from './librbd.js';

export interface ClusterOptions {
  /** ceph.conf path; Ceph's own search path (CEPH_CONF, /etc/ceph/ceph.conf, …) when absent. */
  confPath?: string;
  /** Client name without `client.` (default `admin`). */
  id?: string;
  pool: string;
  /** A RADOS namespace inside the pool (created when missing); the pool's default namespace when absent. */
  namespace?: string;
}

export class Cluster {
  private closed = false;

  private constructor(
    private readonly handle: Pointer,
    readonly ioctx: Pointer,
    readonly fsid: string,
    readonly pool: string,
    readonly namespace: string,
  ) {}

  static async connect(options: ClusterOptions): Promise<Cluster> {
    const lib = native();
    const out: [Pointer | null] = [null];
    check(lib.radosCreate(out, options.id ?? 'admin') as number, 'rados_create');
    const handle = out[0] as Pointer;
    try {
      check(lib.radosConfReadFile(handle, options.confPath ?? null) as number, 'rados_conf_read_file', options.confPath ?? 'default search path');
      // Clones are clone v2 (no protected snapshots); a discard zeroes what it cannot deallocate
      // (NBD's trim reads as zeroes after); bounded waits instead of hanging on a dead cluster.
      for (const [option, value] of [
        ['rbd_default_clone_format', '2'],
        ['rbd_skip_partial_discard', 'false'],
        ['client_mount_timeout', '30'],
        ['rados_mon_op_timeout', '30'],
      ]) {
        check(lib.radosConfSet(handle, option, value) as number, 'rados_conf_set', option);
      }
      check(await offLoop(lib.radosConnect, handle), 'rados_connect');
      const fsidBuffer = Buffer.alloc(64);
      check(lib.radosClusterFsid(handle, fsidBuffer, fsidBuffer.length) as number, 'rados_cluster_fsid');
      const fsid = fsidBuffer.toString('utf8', 0, fsidBuffer.indexOf(0));
      const ioOut: [Pointer | null] = [null];
      const created = await offLoop(lib.radosIoctxCreate, handle, options.pool, ioOut);
      if (created < 0) throw new StrataError('NOT_FOUND', `Ceph pool "${options.pool}" does not exist`);
      const ioctx = ioOut[0] as Pointer;
      const namespace = options.namespace ?? '';
      if (namespace !== '') await ensureNamespace(ioctx, namespace);
      return new Cluster(handle, ioctx, fsid, options.pool, namespace);
    } catch (error) {
      await offLoop(lib.radosShutdown as never, handle).catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const lib = native();
    lib.radosIoctxDestroy(this.ioctx);
    await offLoop(lib.radosShutdown, this.handle);
  }
}

async function ensureNamespace(ioctx: Pointer, namespace: string): Promise<void> {
  const lib = native();
  const exists: [boolean] = [false];
  check(await offLoop(lib.rbdNamespaceExists, ioctx, namespace, exists), 'rbd_namespace_exists', namespace);
  if (!exists[0]) {
    const created = await offLoop(lib.rbdNamespaceCreate, ioctx, namespace);
    // Another instance may create it at the same time.
    if (created < 0 && created !== -17) check(created, 'rbd_namespace_create', namespace);
  }
  lib.radosIoctxSetNamespace(ioctx, namespace);
}
