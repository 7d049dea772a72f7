/**
 * Core records → EVS cloudsnapshots shapes (SDK SnapshotDetails and SnapshotList; reference §1.3).
 * EVS snapshots are Cinder's with the extended attributes always present; list items add
 * `service_type`. Sizes are GiB and times Cinder's microsecond form.
 */
import type { Snapshot } from '../../../core/records.js';
import { snapshotProgress, snapshotSummary } from '../cinder/render.js';

/** Strata has no dedicated (DSS/DESS) storage: every snapshot is on plain EVS. */
export const serviceType = 'EVS';

export function evsSnapshot(s: Snapshot) {
  return {
    ...snapshotSummary(s),
    'os-extended-snapshot-attributes:project_id': s.projectId,
    'os-extended-snapshot-attributes:progress': snapshotProgress(s),
  };
}

export function evsSnapshotListItem(s: Snapshot) {
  return { ...evsSnapshot(s), service_type: serviceType };
}
