/**
 * `RbdBackend implements EngineApi` on Ceph RBD (ARCHITECTURE.md, "Storage backends"):
 * a volume is an image (layering, exclusive-lock, object-map, fast-diff, deep-flatten), a
 * snapshot an RBD snapshot, a clone a clone v2 of one, revert a rollback, delete and flatten
 * librbd's own work run as jobs. Every fact lives in the cluster (images, snapshots, image
 * metadata: naming.ts), so any number of instances serve the same pool; the open image handles
 * kept here are a cache. This file checks arguments and orders the calls; space.ts answers the
 * diff, block-status and accounting queries, snapshots.ts the snapshot and revert ones.
 */
import type {
  ByteRange,
  EngineApi,
  EngineJob,
  Extent,
  FsckReport,
  GroupSnapshotResult,
  PoolInfo,
  SnapshotInfo,
  ViewRef,
  VolumeInfo,
  WriteOptions,
  ZeroOptions,
} from '../../engine/types.js';
import { checkRange, checkVolumeSize } from '../../engine/views.js';
import { isStrataError, StrataError } from '../../lib/errors.js';
import { limits } from '../../lib/limits.js';
import { Cluster, type ClusterOptions } from './cluster.js';
import { WriteGates } from './gate.js';
import { deleteVolumeWork } from './deletion.js';
import { cloneImage, createImage, listImages, RbdImage } from './image.js';
import { whileLocked } from './lock-wait.js';
import { RbdJobs } from './jobs.js';
import { imageName, isVolumeId, metadataKeys, randomVolumeId, rbdPoolId, splitSnapshotId, volumeIdOfImage } from './naming.js';
import { RbdSnapshots } from './snapshots.js';
import { RbdSpace } from './space.js';

/** layering, exclusive-lock, object-map, fast-diff, deep-flatten (RBD_FEATURE_* bits). */
export const imageFeatures = 1n | 4n | 8n | 16n | 32n;

export class RbdBackend implements EngineApi {
  /** The unit diffs and allocation are reported in. */
  readonly chunkSizeBytes = limits.rbd.diffBlockSizeBytes;
  /** Block status is a diff-iterate on the cluster: READs do not ask it first. */
  readonly blockStatusIsCheap = false;
  /** The control plane's pool id: the same on every instance using this cluster, pool and namespace. */
  readonly poolId: string;
  private readonly heads = new Map<number, Promise<RbdImage>>();
  private readonly gates = new WriteGates();
  private readonly jobRunner = new RbdJobs();
  private readonly dirty = new Set<number>();
  private readonly snapshots: RbdSnapshots;
  private readonly space: RbdSpace;
  private failure: StrataError | null = null;
  private closed = false;

  private constructor(private readonly cluster: Cluster) {
    this.poolId = rbdPoolId(cluster.fsid, cluster.pool, cluster.namespace);
    const context = {
      ioctx: cluster.ioctx,
      head: (volumeId: number) => this.head(volumeId),
      gates: this.gates,
      whileLocked,
    };
    this.snapshots = new RbdSnapshots(context);
    this.space = new RbdSpace(context, this.snapshots);
  }

  static async open(options: ClusterOptions): Promise<RbdBackend> {
    return new RbdBackend(await Cluster.connect(options));
  }

  /** Where the backend lives, for logs: `rbd:POOL[/NAMESPACE]` on cluster FSID. */
  describe(): string {
    const namespace = this.cluster.namespace === '' ? '' : `/${this.cluster.namespace}`;
    return `rbd:${this.cluster.pool}${namespace} (cluster ${this.cluster.fsid})`;
  }

  async info(): Promise<PoolInfo> {
    this.checkOpen();
    const ids = await this.volumeIds();
    let snapshots = 0;
    for (const id of ids) snapshots += await this.snapshots.count(id).catch(() => 0);
    return { chunkSizeBytes: this.chunkSizeBytes, volumes: ids.length, snapshots, chunksAllocated: 0, chunksFree: 0, chunksPending: 0 };
  }

  health(): { writable: boolean; reasons: string[] } {
    if (this.failure === null) return { writable: true, reasons: [] };
    return { writable: false, reasons: [`the Ceph cluster refused this client (${this.failure.code}); restart the instance once it is let back in`] };
  }

  // ---- volumes ------------------------------------------------------------------------------

  async createVolume(options: { sizeBytes: number }): Promise<VolumeInfo> {
    this.checkOpen();
    checkVolumeSize(options.sizeBytes);
    await this.checkVolumeCount();
    const id = await this.withNewVolumeId((candidate) => createImage(this.cluster.ioctx, imageName(candidate), options.sizeBytes, imageFeatures));
    return this.volume(id);
  }

  async growVolume(volumeId: number, sizeBytes: number): Promise<VolumeInfo> {
    this.checkOpen();
    const head = await this.liveHead(volumeId);
    checkVolumeSize(sizeBytes);
    const current = await head.sizeBytes();
    if (sizeBytes < current) throw new StrataError('INVALID_ARGUMENT', 'a volume can grow but never shrink');
    if (sizeBytes > current) await whileLocked(() => head.resize(sizeBytes));
    return this.volume(volumeId);
  }

  deleteVolume(volumeId: number): EngineJob {
    this.checkOpen();
    return this.jobRunner.start('delete-volume', volumeId, (job) =>
      deleteVolumeWork(
        {
          ioctx: this.cluster.ioctx,
          head: (id) => this.head(id),
          volumeIds: () => this.volumeIds(),
          forget: async (id) => {
            await this.snapshots.forgetVolume(id);
            this.heads.delete(id);
            this.dirty.delete(id);
          },
        },
        volumeId,
        job,
      ),
    );
  }

  async volume(volumeId: number): Promise<VolumeInfo> {
    this.checkOpen();
    const head = await this.head(volumeId);
    const [deleting, headParent] = await Promise.all([head.metadata(metadataKeys.deleting), head.metadata(metadataKeys.headParent)]);
    const parent = await head.parent();
    return {
      id: volumeId,
      sizeBytes: await head.sizeBytes(),
      state: deleting === null && !this.jobRunner.isRunning('delete-volume', volumeId) ? 'available' : 'deleting',
      headParentSnapshotId: headParent === null || headParent === '' ? null : Number(headParent),
      originSnapshotId: parent === null ? null : this.snapshots.idOfParent(parent),
      cloneDepth: await this.cloneDepth(head),
      createdAtMs: await head.createdAtMs(),
    };
  }

  async listVolumes(): Promise<VolumeInfo[]> {
    this.checkOpen();
    const volumes: VolumeInfo[] = [];
    for (const id of await this.volumeIds()) {
      // An image deleted by another instance between the listing and this look-up is skipped.
      const info = await this.volume(id).catch((error: unknown) => (isStrataError(error, 'NOT_FOUND') ? null : Promise.reject(error)));
      if (info !== null) volumes.push(info);
    }
    return volumes;
  }

  // ---- I/O ----------------------------------------------------------------------------------

  async read(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.checkOpen();
    const image = await this.viewImage(view);
    checkRange(await image.sizeBytes(), offsetBytes, lengthBytes);
    return this.noteFailure(image.read(offsetBytes, lengthBytes));
  }

  async write(volumeId: number, offsetBytes: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    await this.admitted(volumeId, offsetBytes, data.length, (head) => head.write(offsetBytes, data));
    if (options.fua) await this.flushVolume(volumeId);
  }

  async trim(volumeId: number, offsetBytes: number, lengthBytes: number, options: WriteOptions = {}): Promise<void> {
    await this.admitted(volumeId, offsetBytes, lengthBytes, (head) => head.discard(offsetBytes, lengthBytes), Infinity);
    if (options.fua) await this.flushVolume(volumeId);
  }

  async writeZeroes(volumeId: number, offsetBytes: number, lengthBytes: number, options: ZeroOptions = {}): Promise<void> {
    const thick = options.noHole ?? false;
    await this.admitted(volumeId, offsetBytes, lengthBytes, (head) => head.writeZeroes(offsetBytes, lengthBytes, thick), Infinity);
    if (options.fua) await this.flushVolume(volumeId);
  }

  /** Flushes every image written since its last flush (rbd_aio_flush: durable in the cluster). */
  async flush(): Promise<void> {
    this.checkOpen();
    await Promise.all([...this.dirty].map((volumeId) => this.flushVolume(volumeId)));
  }

  async blockStatus(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    this.checkOpen();
    return this.space.blockStatus(await this.viewImage(view), offsetBytes, lengthBytes);
  }

  // ---- snapshots ----------------------------------------------------------------------------

  async createSnapshot(volumeId: number): Promise<SnapshotInfo> {
    const result = await this.createGroupSnapshot([volumeId]);
    return result.snapshots[0];
  }

  async createGroupSnapshot(volumeIds: number[]): Promise<GroupSnapshotResult> {
    this.checkOpen();
    if (volumeIds.length === 0 || volumeIds.length > limits.groupVolumesMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a group snapshot takes 1 to ${limits.groupVolumesMax} volumes`);
    }
    if (new Set(volumeIds).size !== volumeIds.length) throw new StrataError('INVALID_ARGUMENT', 'a volume is listed twice');
    for (const id of volumeIds) await this.liveHead(id);
    // Writes acknowledged here sit in this client's cache; the snapshot flushes them anyway, but
    // a failed flush should fail the snapshot, not be found out later. Volumes this instance did
    // not write are left alone: a flush would take their lock from the instance writing them.
    await Promise.all(volumeIds.filter((id) => this.dirty.has(id)).map((id) => this.flushVolume(id)));
    return this.snapshots.createGroup(volumeIds);
  }

  deleteSnapshot(snapshotId: number): EngineJob {
    this.checkOpen();
    return this.jobRunner.start('delete-snapshot', snapshotId, (job) => this.snapshots.remove(snapshotId, job));
  }

  async snapshot(snapshotId: number): Promise<SnapshotInfo> {
    this.checkOpen();
    const info = await this.snapshots.info(snapshotId);
    return this.jobRunner.isRunning('delete-snapshot', snapshotId) ? { ...info, state: 'deleting' } : info;
  }

  async listSnapshots(volumeId: number): Promise<SnapshotInfo[]> {
    this.checkOpen();
    const list = await this.snapshots.list(volumeId);
    return list.map((info) => (this.jobRunner.isRunning('delete-snapshot', info.id) ? { ...info, state: 'deleting' } : info));
  }

  async exclusiveBytes(snapshotId: number): Promise<number> {
    this.checkOpen();
    return this.space.exclusiveBytes(snapshotId);
  }

  async allocatedBytes(volumeId: number): Promise<number> {
    this.checkOpen();
    return this.space.allocatedBytes(volumeId);
  }

  async revert(volumeId: number, snapshotId: number): Promise<VolumeInfo> {
    this.checkOpen();
    await this.liveHead(volumeId);
    if (splitSnapshotId(snapshotId).volumeId !== volumeId) {
      throw new StrataError('INVALID_ARGUMENT', `snapshot ${snapshotId} is not a snapshot of volume ${volumeId}`);
    }
    await this.snapshots.revert(volumeId, snapshotId);
    return this.volume(volumeId);
  }

  async clone(snapshotId: number, options: { sizeBytes?: number } = {}): Promise<VolumeInfo> {
    this.checkOpen();
    const snapshot = await this.snapshots.info(snapshotId);
    const source = await this.liveHead(snapshot.volumeId);
    const sizeBytes = Math.max(snapshot.sizeBytes, options.sizeBytes ?? 0);
    checkVolumeSize(sizeBytes);
    await this.checkVolumeCount();
    const depth = (await this.cloneDepth(source)) + 1;
    if (depth > limits.cloneDepthMax) {
      throw new StrataError('LIMIT_EXCEEDED', `clone depth would exceed ${limits.cloneDepthMax}; flatten volume ${snapshot.volumeId} first`);
    }
    const snapName = await this.snapshots.nameOf(snapshotId);
    const id = await this.withNewVolumeId((candidate) => cloneImage(this.cluster.ioctx, source.name, snapName, imageName(candidate), imageFeatures));
    if (sizeBytes > snapshot.sizeBytes) {
      const head = await this.head(id);
      await whileLocked(() => head.resize(sizeBytes));
    }
    if (depth > limits.cloneDepthFlattenAbove) this.flatten(id);
    return this.volume(id);
  }

  flatten(volumeId: number): EngineJob {
    this.checkOpen();
    return this.jobRunner.start('flatten', volumeId, async (job) => {
      const head = await this.liveHead(volumeId);
      await whileLocked(() => head.flatten((done, total) => job.report(done, total)));
    });
  }

  async diff(from: ViewRef | null, to: ViewRef): Promise<ByteRange[]> {
    this.checkOpen();
    return this.space.diff(from, to, await this.viewImage(to));
  }

  jobs(): EngineJob[] {
    return this.jobRunner.list();
  }

  /** RBD keeps its own consistency (the OSDs scrub); this checks that every Strata image opens. */
  async fsck(): Promise<FsckReport> {
    const violations: string[] = [];
    let snapshots = 0;
    const ids = await this.volumeIds();
    for (const id of ids) {
      try {
        snapshots += await this.snapshots.count(id);
      } catch (error) {
        violations.push(`volume ${id}: ${(error as Error).message}`);
      }
    }
    return { ok: violations.length === 0, violations, stats: { volumes: ids.length, snapshots, entries: 0, chunksReferenced: 0, chunksFree: 0, bytesVerified: 0 } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.jobRunner.settle();
    await this.flush().catch(() => undefined);
    this.closed = true;
    await this.snapshots.closeViews();
    const heads = [...this.heads.values()];
    this.heads.clear();
    await Promise.allSettled(heads.map(async (head) => (await head).close()));
    await this.cluster.close();
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** The open head image of a volume (opened once, then cached); NOT_FOUND when it does not exist. */
  private head(volumeId: number): Promise<RbdImage> {
    if (!isVolumeId(volumeId)) return Promise.reject(new StrataError('NOT_FOUND', `volume ${volumeId} does not exist`));
    let head = this.heads.get(volumeId);
    if (head === undefined) {
      head = RbdImage.open(this.cluster.ioctx, imageName(volumeId)).then(
        (image) => {
          image.watchUpdates(() => this.headUpdated(volumeId));
          return image;
        },
      ).catch((error: unknown) => {
        this.heads.delete(volumeId);
        if (isStrataError(error, 'NOT_FOUND')) throw new StrataError('NOT_FOUND', `volume ${volumeId} does not exist`);
        throw error;
      });
      this.heads.set(volumeId, head);
    }
    return head;
  }

  /**
   * The image's header changed (any client): the cached size is read again (another instance
   * may have grown it), and if another instance is deleting the volume this instance closes its
   * handle once it sees the deleting mark, so the image has no watcher left and RBD lets the
   * deleter remove it. Calls that already hold the handle get NOT_FOUND.
   */
  private headUpdated(volumeId: number): void {
    const head = this.heads.get(volumeId);
    if (head === undefined || this.jobRunner.isRunning('delete-volume', volumeId)) return;
    void head
      .then(async (image) => {
        await image.refreshSize();
        if ((await image.metadata(metadataKeys.deleting)) === null || this.heads.get(volumeId) !== head) return;
        this.heads.delete(volumeId);
        this.dirty.delete(volumeId);
        await this.snapshots.forgetVolume(volumeId);
        await this.gates.fence([volumeId], () => image.close());
      })
      .catch(() => undefined);
  }

  /** The head of a volume that is not being deleted. */
  private async liveHead(volumeId: number): Promise<RbdImage> {
    const head = await this.head(volumeId);
    if (this.jobRunner.isRunning('delete-volume', volumeId) || (await head.metadata(metadataKeys.deleting)) !== null) {
      throw new StrataError('NOT_FOUND', `volume ${volumeId} is being deleted`);
    }
    return head;
  }

  private viewImage(view: ViewRef): Promise<RbdImage> {
    return 'volumeId' in view ? this.head(view.volumeId) : this.snapshots.view(view.snapshotId);
  }

  private async volumeIds(): Promise<number[]> {
    const names = await listImages(this.cluster.ioctx);
    return names.map(volumeIdOfImage).filter((id): id is number => id !== null).sort((a, b) => a - b);
  }

  private async checkVolumeCount(): Promise<void> {
    if ((await this.volumeIds()).length >= limits.volumesMax) throw new StrataError('LIMIT_EXCEEDED', `a pool holds at most ${limits.volumesMax} volumes`);
  }

  /** Runs `create` with random volume ids until one is free: RBD refuses a taken image name (EEXIST), so no coordination is needed. */
  private async withNewVolumeId(create: (id: number) => Promise<void>): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const id = randomVolumeId();
      try {
        await create(id);
        return id;
      } catch (error) {
        if (!isStrataError(error, 'ALREADY_EXISTS') || attempt >= limits.rbd.volumeIdAttemptsMax) throw error;
      }
    }
  }

  private async cloneDepth(head: RbdImage): Promise<number> {
    let depth = 0;
    for (let parent = await head.parent(); parent !== null && depth <= limits.cloneDepthMax; depth++) {
      const parentId = volumeIdOfImage(parent.imageName);
      if (parentId === null) break;
      parent = await (await this.head(parentId)).parent();
    }
    return depth;
  }

  /** Checks the range and runs one data operation inside this instance's write gate of the volume. */
  private async admitted(volumeId: number, offsetBytes: number, lengthBytes: number, op: (head: RbdImage) => Promise<void>, lengthBytesMax?: number): Promise<void> {
    this.checkOpen();
    const head = await this.head(volumeId);
    checkRange(await head.sizeBytes(), offsetBytes, lengthBytes, lengthBytesMax);
    await this.gates.enter(volumeId);
    try {
      this.dirty.add(volumeId);
      await this.noteFailure(whileLocked(() => op(head)));
    } finally {
      this.gates.leave(volumeId);
    }
  }

  private async flushVolume(volumeId: number): Promise<void> {
    const head = await this.head(volumeId);
    this.dirty.delete(volumeId);
    try {
      await this.noteFailure(whileLocked(() => head.flush()));
    } catch (error) {
      this.dirty.add(volumeId);
      throw error;
    }
  }

  /** Remembers that the cluster fenced this client out (blocklisted): /healthz reports it. */
  private async noteFailure<T>(operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } catch (error) {
      if (isStrataError(error, 'CLOSED')) this.failure ??= error;
      throw error;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED');
  }
}
