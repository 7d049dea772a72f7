/**
 * Every status change of the control plane, in one table. A service never writes a status
 * directly: it names an action, and `transition` (src/core/store.ts) applies it as one
 * compare-and-swap `UPDATE … SET status = to WHERE id = ? AND status IN (from)`, so of two
 * concurrent requests on one resource at most one wins; the loser gets INVALID_STATE.
 *
 * Statuses are those of product.md. `in-use` means "has a read-write attachment".
 */

export type VolumeStatus = 'creating' | 'available' | 'in-use' | 'restoring' | 'deleting' | 'error';
export type SnapshotStatus = 'creating' | 'available' | 'deleting' | 'error' | 'error_deleting';
export type GroupStatus = 'available' | 'deleting' | 'error';
export type GroupSnapshotStatus = 'creating' | 'available' | 'restoring' | 'deleting' | 'error' | 'error_deleting';

export interface Transition<S extends string> {
  from: readonly S[];
  to: S;
}

export const volumeTransitions = {
  created: { from: ['creating'], to: 'available' },
  createFailed: { from: ['creating'], to: 'error' },
  attachReadWrite: { from: ['available', 'in-use'], to: 'in-use' },
  detachLastReadWrite: { from: ['in-use'], to: 'available' },
  revert: { from: ['available'], to: 'restoring' },
  revertForced: { from: ['available', 'in-use'], to: 'restoring' },
  revertedDetached: { from: ['restoring'], to: 'available' },
  revertedAttached: { from: ['restoring'], to: 'in-use' },
  delete: { from: ['available', 'error'], to: 'deleting' },
  deleteFailed: { from: ['deleting'], to: 'error' },
  /** A restart found the volume mid-creation with nothing in the engine. */
  recoverCreating: { from: ['creating'], to: 'error' },
} as const satisfies Record<string, Transition<VolumeStatus>>;

export const snapshotTransitions = {
  created: { from: ['creating'], to: 'available' },
  delete: { from: ['available', 'error', 'error_deleting'], to: 'deleting' },
  /** Admin only: delete whatever the status, except while a delete already runs. */
  forceDelete: { from: ['creating', 'available', 'error', 'error_deleting'], to: 'deleting' },
  deleteFailed: { from: ['deleting'], to: 'error_deleting' },
  recoverCreating: { from: ['creating'], to: 'error' },
} as const satisfies Record<string, Transition<SnapshotStatus>>;

export const groupTransitions = {
  delete: { from: ['available', 'error'], to: 'deleting' },
} as const satisfies Record<string, Transition<GroupStatus>>;

export const groupSnapshotTransitions = {
  created: { from: ['creating'], to: 'available' },
  revert: { from: ['available'], to: 'restoring' },
  reverted: { from: ['restoring'], to: 'available' },
  revertFailed: { from: ['restoring'], to: 'available' },
  delete: { from: ['available', 'error', 'error_deleting'], to: 'deleting' },
  forceDelete: { from: ['creating', 'available', 'error', 'error_deleting'], to: 'deleting' },
  deleteFailed: { from: ['deleting'], to: 'error_deleting' },
  recoverCreating: { from: ['creating'], to: 'error' },
} as const satisfies Record<string, Transition<GroupSnapshotStatus>>;

export type VolumeAction = keyof typeof volumeTransitions;
export type SnapshotAction = keyof typeof snapshotTransitions;
export type GroupAction = keyof typeof groupTransitions;
export type GroupSnapshotAction = keyof typeof groupSnapshotTransitions;

export const transitionTables = {
  volumes: volumeTransitions,
  snapshots: snapshotTransitions,
  groups: groupTransitions,
  group_snapshots: groupSnapshotTransitions,
} as const;

export type StatefulTable = keyof typeof transitionTables;
export type ActionOf<T extends StatefulTable> = keyof (typeof transitionTables)[T] & string;

/**
 * The one status change outside the table: an admin's reset (Cinder os-reset_status, Manila
 * reset_state), which sets any status from any status except while a job owns the resource.
 * `store.resetStatus` applies it, refusing while the status is one a running job will change.
 */
export const resettableFrom = {
  snapshots: ['creating', 'available', 'error', 'error_deleting'],
  group_snapshots: ['creating', 'available', 'error', 'error_deleting'],
} as const;

/** Statuses in which work is under way; a restart must move every resource out of them. */
export const transitionalStatuses = {
  volumes: ['creating', 'restoring', 'deleting'],
  snapshots: ['creating', 'deleting'],
  groups: ['deleting'],
  group_snapshots: ['creating', 'restoring', 'deleting'],
} as const satisfies Record<StatefulTable, readonly string[]>;
