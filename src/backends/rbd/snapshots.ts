/**
 * Snapshots on RBD: look-up by id, the snapshot tree kept in image metadata, group snapshots
 * behind a fence, delete and revert. A snapshot id packs its volume id and RBD's snapshot id
 * (naming.ts); read-only handles opened at a snapshot are cached for its reads.
 *
 * The group fence: this instance's writes to the members are held back (WriteGates) and
 * drained; then a second handle on each member takes the image's exclusive lock explicitly,
 * which makes the instance that held it (if any) finish its in-flight writes and hand it over;
 * while every lock is held here no instance can write any member, and the snapshots are taken
 * one after another; then the locks are released. A write that reaches another instance
 * meanwhile is refused by librbd and retried by that instance's backend until the lock is free
 * (`whileLocked`), so it lands after the snapshots, never between them.
 */
import type { JobProgress, SnapshotInfo } from '../../engine/types.js';
import type { GroupSnapshotResult } from '../../engine/types.js';
import { isStrataError, StrataError } from '../../lib/errors.js';
import { limits } from '../../lib/limits.js';
import type { WriteGates } from './gate.js';
import { RbdImage } from './image.js';
import type { ParentSpec, Pointer, SnapInfo } from './librbd.js';
import { metadataKeys, newSnapshotName, snapshotId, snapshotNamePrefix, splitSnapshotId, volumeIdOfImage } from './naming.js';

export interface BackendContext {
  ioctx: Pointer;
  head(volumeId: number): Promise<RbdImage>;
  gates: WriteGates;
  whileLocked<T>(call: () => Promise<T>): Promise<T>;
}

export interface SnapshotEntry extends SnapInfo {
  snapshotId: number;
  volumeId: number;
  head: RbdImage;
}

export class RbdSnapshots {
  private readonly views = new Map<number, Promise<RbdImage>>();

  constructor(private readonly context: BackendContext) {}

  /** Strata's snapshots of a volume's image, oldest first. */
  async entries(volumeId: number): Promise<SnapshotEntry[]> {
    const head = await this.context.head(volumeId);
    return (await head.snapshots())
      .filter((snap) => snap.name.startsWith(snapshotNamePrefix))
      .sort((a, b) => a.id - b.id)
      .map((snap) => ({ ...snap, snapshotId: snapshotId(volumeId, snap.id), volumeId, head }));
  }

  async count(volumeId: number): Promise<number> {
    return (await this.entries(volumeId)).length;
  }

  async entry(id: number): Promise<SnapshotEntry> {
    const { volumeId, rbdSnapId } = splitSnapshotId(id);
    const entries = await this.entries(volumeId).catch((error: unknown) => {
      throw isStrataError(error, 'NOT_FOUND') ? new StrataError('NOT_FOUND', `snapshot ${id} does not exist`) : error;
    });
    const found = entries.find((entry) => entry.id === rbdSnapId);
    if (found === undefined) throw new StrataError('NOT_FOUND', `snapshot ${id} does not exist`);
    return found;
  }

  async nameOf(id: number): Promise<string> {
    return (await this.entry(id)).name;
  }

  /** The Strata snapshot id of a clone's parent, or null when the parent is not a Strata image. */
  idOfParent(parent: ParentSpec): number | null {
    const volumeId = volumeIdOfImage(parent.imageName);
    return volumeId === null ? null : snapshotId(volumeId, parent.snapId);
  }

  async info(id: number): Promise<SnapshotInfo> {
    return this.infoOf(await this.entry(id));
  }

  async list(volumeId: number): Promise<SnapshotInfo[]> {
    return Promise.all((await this.entries(volumeId)).map((entry) => this.infoOf(entry)));
  }

  private async infoOf(entry: SnapshotEntry): Promise<SnapshotInfo> {
    const parent = await entry.head.metadata(metadataKeys.snapshotParent(entry.id));
    return {
      id: entry.snapshotId,
      volumeId: entry.volumeId,
      sizeBytes: entry.sizeBytes,
      state: 'available',
      parentSnapshotId: parent === null || parent === '' ? null : Number(parent),
      createdAtMs: await entry.head.snapshotCreatedAtMs(entry.id),
    };
  }

  /** A read-only handle at the snapshot, opened once. */
  view(id: number): Promise<RbdImage> {
    let view = this.views.get(id);
    if (view === undefined) {
      view = (async () => {
        const entry = await this.entry(id);
        const image = await RbdImage.open(this.context.ioctx, entry.head.name, { readOnly: true });
        await image.setSnapshot(entry.id).catch(async (error: unknown) => {
          await image.close();
          throw error;
        });
        return image;
      })();
      view.catch(() => this.views.delete(id));
      this.views.set(id, view);
    }
    return view;
  }

  async createGroup(volumeIds: number[]): Promise<GroupSnapshotResult> {
    const heads = await Promise.all(volumeIds.map((id) => this.context.head(id)));
    for (const [index, id] of volumeIds.entries()) {
      if ((await this.count(id)) >= limits.snapshotsPerVolumeMax) {
        throw new StrataError('LIMIT_EXCEEDED', `volume ${volumeIds[index]} already has ${limits.snapshotsPerVolumeMax} snapshots`);
      }
    }
    const parents = await Promise.all(heads.map((head) => head.metadata(metadataKeys.headParent)));
    const fenceStart = performance.now();
    const rbdSnapIds = await this.context.gates.fence(volumeIds, () => this.snapshotFenced(heads));
    const fenceHeldMs = performance.now() - fenceStart;
    const ids = rbdSnapIds.map((rbdSnapId, index) => snapshotId(volumeIds[index], rbdSnapId));
    await Promise.all(
      heads.map(async (head, index) => {
        await this.context.whileLocked(() => head.setMetadata(metadataKeys.snapshotParent(rbdSnapIds[index]), parents[index] ?? ''));
        await this.context.whileLocked(() => head.setMetadata(metadataKeys.headParent, String(ids[index])));
      }),
    );
    return { snapshots: await Promise.all(ids.map((id) => this.info(id))), fenceHeldMs };
  }

  /** Takes one snapshot per head; with several, under every member's exclusive lock (see the file comment). */
  private async snapshotFenced(heads: RbdImage[]): Promise<number[]> {
    if (heads.length === 1) return [await this.context.whileLocked(() => heads[0].createSnapshot(newSnapshotName()))];
    const fenced: RbdImage[] = [];
    try {
      for (const head of heads) fenced.push(await RbdImage.open(this.context.ioctx, head.name));
      for (const image of fenced) await this.context.whileLocked(() => image.lock());
      const ids: number[] = [];
      for (const image of fenced) ids.push(await image.createSnapshot(newSnapshotName()));
      return ids;
    } finally {
      await Promise.allSettled(fenced.map(async (image) => image.unlock().finally(() => image.close())));
    }
  }

  /** Removes the RBD snapshot (clone v2: one with clones moves to RBD's trash until they go) and mends the tree around it. */
  async remove(id: number, job: { report(done: number, total: number): void; progress(): JobProgress }): Promise<void> {
    const entry = await this.entry(id);
    await this.dropView(id);
    const { head } = entry;
    const parent = (await head.metadata(metadataKeys.snapshotParent(entry.id))) ?? '';
    await this.context.whileLocked(() => head.removeSnapshot(entry.id));
    // A read that came in meanwhile may have opened a view again; it reads nothing now.
    await this.dropView(id);
    job.report(1, 2);
    for (const other of await this.entries(entry.volumeId)) {
      if ((await head.metadata(metadataKeys.snapshotParent(other.id))) === String(id)) {
        await this.context.whileLocked(() => head.setMetadata(metadataKeys.snapshotParent(other.id), parent));
      }
    }
    if ((await head.metadata(metadataKeys.headParent)) === String(id)) {
      await this.context.whileLocked(() => head.setMetadata(metadataKeys.headParent, parent));
    }
    await this.context.whileLocked(() => head.removeMetadata(metadataKeys.snapshotParent(entry.id)));
    job.report(2, 2);
  }

  /** Rolls the volume back to the snapshot: later snapshots stay; costs a copy of every object that differs. */
  async revert(volumeId: number, id: number): Promise<void> {
    const entry = await this.entry(id);
    const { head } = entry;
    await this.context.gates.fence([volumeId], async () => {
      const sizeBytes = head.sizeBytes();
      await this.context.whileLocked(() => head.flush());
      await this.context.whileLocked(() => head.rollback(entry.name, () => undefined));
      // A rollback also restores the snapshot's size; a volume never shrinks, so a volume grown
      // since grows back (the part beyond the snapshot reads as zeroes, as in the engine).
      if (head.sizeBytes() < sizeBytes) await this.context.whileLocked(() => head.resize(sizeBytes));
    });
    await this.context.whileLocked(() => head.setMetadata(metadataKeys.headParent, String(id)));
  }

  async forgetVolume(volumeId: number): Promise<void> {
    for (const id of [...this.views.keys()]) {
      if (splitSnapshotId(id).volumeId === volumeId) await this.dropView(id);
    }
  }

  private async dropView(id: number): Promise<void> {
    const view = this.views.get(id);
    this.views.delete(id);
    if (view !== undefined) await (await view.catch(() => null))?.close();
  }

  async closeViews(): Promise<void> {
    await Promise.allSettled([...this.views.keys()].map((id) => this.dropView(id)));
  }
}
