/**
 * XSKY's int64 ids → Strata ids (`plane.idOfSeq`, scoped to the caller's project, so another
 * project's id is simply not found). A reference found in the URL is the request's resource
 * (404 when missing); one inside a body or a query filter carries `field` (400 when missing,
 * see errors.ts).
 */
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import type { GroupSnapshot } from '../../../core/records.js';
import { isStrataError, StrataError } from '../../../lib/errors.js';

type Table = 'volumes' | 'snapshots' | 'groups' | 'group_snapshots';

const nouns: Record<Table, string> = {
  volumes: 'block volume',
  snapshots: 'block snapshot',
  groups: 'block volume group',
  group_snapshots: 'block volume group snapshot',
};

function missing(noun: string, seq: number, field: string | undefined): StrataError {
  return new StrataError('NOT_FOUND', `${noun} ${seq} does not exist`, field === undefined ? undefined : { field });
}

export async function resolve(plane: ControlPlane, caller: Caller, table: Table, seq: number, field?: string): Promise<string> {
  try {
    return await plane.idOfSeq(caller, table, seq);
  } catch (error) {
    if (isStrataError(error, 'NOT_FOUND')) throw missing(nouns[table], seq, field);
    throw error;
  }
}

/**
 * A group snapshot by its int64 id, of the kind asked for: consistent snapshots are those of
 * an ad-hoc set of volumes (no group), volume group snapshots those of a group.
 */
export async function resolveGroupSnapshot(
  plane: ControlPlane,
  caller: Caller,
  kind: 'consistent' | 'group',
  seq: number,
  field?: string,
): Promise<GroupSnapshot> {
  const noun = kind === 'consistent' ? 'block consistent snapshot' : nouns.group_snapshots;
  let snapshot: GroupSnapshot;
  try {
    snapshot = await plane.groups.getSnapshot(caller, await plane.idOfSeq(caller, 'group_snapshots', seq));
  } catch (error) {
    if (isStrataError(error, 'NOT_FOUND')) throw missing(noun, seq, field);
    throw error;
  }
  if ((snapshot.groupId === null) !== (kind === 'consistent')) throw missing(noun, seq, field);
  return snapshot;
}

/** A list filter naming a resource that is not there matches nothing (an empty list, not an error). */
export async function orNone<T>(lookup: Promise<T>): Promise<T | null> {
  try {
    return await lookup;
  } catch (error) {
    if (isStrataError(error, 'NOT_FOUND')) return null;
    throw error;
  }
}
