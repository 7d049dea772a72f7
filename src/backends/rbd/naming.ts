/**
 * How the RBD backend names what it stores, so that any instance finds it without asking
 * another: a volume is the image `strata-volume-<id>`; a snapshot id packs the volume id and
 * RBD's own snapshot id (allocated by the cluster, never reused), so it is unique across
 * instances without coordination and leads to its image. Strata's own bookkeeping lives in
 * image metadata (keys below), i.e. in RADOS beside the image.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { StrataError } from '../../lib/errors.js';
import { limits } from '../../lib/limits.js';

const volumePrefix = 'strata-volume-';
export const snapshotNamePrefix = 'strata-snapshot-';
const snapIdScale = 2 ** limits.rbd.snapIdBits;
const volumeIdLimit = 2 ** limits.rbd.volumeIdBits;

export const metadataKeys = {
  /** The snapshot the head's content descends from ('' for none). */
  headParent: 'strata.head_parent',
  /** Set once a delete of the volume has begun. */
  deleting: 'strata.deleting',
  /** The parent of snapshot `rbdSnapId` in the volume's snapshot tree. */
  snapshotParent: (rbdSnapId: number) => `strata.parent.${rbdSnapId}`,
};

export function imageName(volumeId: number): string {
  return `${volumePrefix}${volumeId}`;
}

/** The volume id of a Strata image name, or null for any other image in the pool. */
export function volumeIdOfImage(name: string): number | null {
  if (!name.startsWith(volumePrefix)) return null;
  const id = Number(name.slice(volumePrefix.length));
  return isVolumeId(id) && imageName(id) === name ? id : null;
}

export function isVolumeId(id: number): boolean {
  return Number.isSafeInteger(id) && id >= 1 && id < volumeIdLimit;
}

export function randomVolumeId(): number {
  return randomInt(1, volumeIdLimit);
}

export function newSnapshotName(): string {
  return `${snapshotNamePrefix}${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export function snapshotId(volumeId: number, rbdSnapId: number): number {
  if (!Number.isSafeInteger(rbdSnapId) || rbdSnapId < 0 || rbdSnapId >= snapIdScale) {
    throw new StrataError('LIMIT_EXCEEDED', `RBD snapshot id ${rbdSnapId} does not fit in ${limits.rbd.snapIdBits} bits`);
  }
  return volumeId * snapIdScale + rbdSnapId;
}

/** The volume and RBD snapshot ids of a snapshot id; NOT_FOUND for a number no snapshot can have. */
export function splitSnapshotId(id: number): { volumeId: number; rbdSnapId: number } {
  const volumeId = Math.floor(id / snapIdScale);
  if (!Number.isSafeInteger(id) || id < 0 || !isVolumeId(volumeId)) throw new StrataError('NOT_FOUND', `snapshot ${id} does not exist`);
  return { volumeId, rbdSnapId: id - volumeId * snapIdScale };
}

/**
 * The pool id the control plane records for `rbd:POOL`: the same on every instance using this
 * cluster, pool and namespace (a UUID-shaped hash of the three), so that they share one pool row.
 */
export function rbdPoolId(fsid: string, pool: string, namespace: string): string {
  const hex = createHash('sha256').update(`ceph-rbd\0${fsid}\0${pool}\0${namespace}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
