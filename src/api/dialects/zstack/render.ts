/**
 * ZStack inventories of Strata records, and the wire conventions they follow:
 * - uuids are 32 lowercase hex characters (Strata's UUIDs without dashes);
 * - dates are Gson's default Date text, `MMM d, yyyy h:mm:ss AM|PM` in the server's local time
 *   zone (what a ZStack management node prints, and what the Java SDK parses back);
 * - null fields are omitted (Gson without serializeNulls);
 * - every inventory carries its ZStack class name (a symbol key, invisible in JSON) so replies
 *   can carry the `schema` map the Java SDK uses to pick result classes.
 *
 * Status and type mappings (see docs/dialects/zstack.md):
 * - snapshot status: creating → Creating, available → Ready, deleting → Deleting,
 *   error → Deleted (state Disabled), error_deleting → Ready (state Disabled);
 * - volume status: creating → Creating, available / in-use / restoring → Ready,
 *   deleting → Expunging, error → NotInstantiated (state Disabled).
 */
import type { GroupSnapshot, Snapshot, Volume } from '../../../core/records.js';
import type { QueryRow, QuerySpec } from './query.js';
import type { World } from './world.js';

// ---- identifiers ---------------------------------------------------------------------------

/** A Strata id as a ZStack uuid. */
export function zuuid(id: string): string {
  return id.replace(/-/g, '').toLowerCase();
}

const hexUuid = /^[0-9a-f]{32}$/i;
const dashedUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A ZStack uuid (or a dashed UUID) as a Strata id; null when it is neither. */
export function strataId(uuid: string): string | null {
  if (dashedUuid.test(uuid)) return uuid.toLowerCase();
  if (!hexUuid.test(uuid)) return null;
  const h = uuid.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function isZStackUuid(text: string): boolean {
  return hexUuid.test(text);
}

// ---- dates ---------------------------------------------------------------------------------

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** Gson's default Date text, e.g. `Nov 14, 2017 10:20:57 PM`. */
export function zstackDate(iso: string): string {
  const d = new Date(iso);
  const hour12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  return `${months[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()} ${hour12}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getHours() < 12 ? 'AM' : 'PM'}`;
}

// ---- class names and the schema map --------------------------------------------------------

export const classNames = {
  snapshot: 'org.zstack.header.storage.snapshot.VolumeSnapshotInventory',
  tree: 'org.zstack.header.storage.snapshot.VolumeSnapshotTreeInventory',
  leaf: 'org.zstack.header.storage.snapshot.VolumeSnapshotTree$SnapshotLeafInventory',
  volume: 'org.zstack.header.volume.VolumeInventory',
  group: 'org.zstack.header.storage.snapshot.group.VolumeSnapshotGroupInventory',
  groupRef: 'org.zstack.header.storage.snapshot.group.VolumeSnapshotGroupRefInventory',
  session: 'org.zstack.header.identity.SessionInventory',
  batchDeleteResult: 'org.zstack.header.storage.snapshot.BatchDeleteVolumeSnapshotStruct',
  revertGroupResult: 'org.zstack.header.storage.snapshot.group.RevertSnapshotGroupResult',
  deleteGroupResult: 'org.zstack.header.storage.snapshot.group.DeleteSnapshotGroupResult',
  groupAvailability: 'org.zstack.header.storage.snapshot.group.VolumeSnapshotGroupAvailability',
  errorCode: 'org.zstack.header.errorcode.ErrorCode',
} as const;

const classKey = Symbol('zstack class');

/** Marks an object with its ZStack class name (not serialised). */
export function typed<T extends object>(value: T, className: string): T {
  Object.defineProperty(value, classKey, { value: className, enumerable: false });
  return value;
}

function classOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? ((value as Record<symbol, unknown>)[classKey] as string | undefined) : undefined;
}

/**
 * The `schema` map of a reply, as ZStack's JsonSchemaBuilder builds it: the JSON path of every
 * typed object (`inventories[0]`, `inventories[0].tree.children[1]`) → its class name,
 * children before their parent.
 */
export function schemaOf(body: Record<string, unknown>): Record<string, string> {
  const schema: Record<string, string> = {};
  const visit = (value: unknown, path: string) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${path}[${i}]`));
      return;
    }
    const className = classOf(value);
    if (className === undefined) return;
    for (const [key, field] of Object.entries(value as Record<string, unknown>)) visit(field, `${path}.${key}`);
    schema[path] = className;
  };
  for (const [key, value] of Object.entries(body)) visit(value, key);
  return schema;
}

// ---- inventories ---------------------------------------------------------------------------

type Fields = Record<string, unknown>;
const dateFields = ['createDate', 'lastOpDate', 'expiredDate'];

/** The wire inventory of raw fields: dates in Gson's text, nulls left out. */
function inventoryOf(raw: Fields, className: string): Fields {
  const out: Fields = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === null || value === undefined) continue;
    out[key] = dateFields.includes(key) && typeof value === 'string' ? zstackDate(value) : value;
  }
  return typed(out, className);
}

/** The query view of raw fields: dates as epoch milliseconds, so they compare as times. */
function rowSelfOf(raw: Fields): Fields {
  const out: Fields = { ...raw };
  for (const key of dateFields) if (typeof out[key] === 'string') out[key] = Date.parse(out[key] as string);
  return out;
}

const snapshotStatus = { creating: 'Creating', available: 'Ready', deleting: 'Deleting', error: 'Deleted', error_deleting: 'Ready' } as const;
const volumeStatus = { creating: 'Creating', available: 'Ready', 'in-use': 'Ready', restoring: 'Ready', deleting: 'Expunging', error: 'NotInstantiated' } as const;

/** A snapshot in error (or whose delete failed) cannot be used: ZStack's Disabled state. */
export function snapshotState(snapshot: Snapshot): 'Enabled' | 'Disabled' {
  return snapshot.status === 'error' || snapshot.status === 'error_deleting' ? 'Disabled' : 'Enabled';
}

export function snapshotStatusOf(snapshot: Snapshot): string {
  return snapshotStatus[snapshot.status];
}

/** A volume's place in its VM: Root (device 0) is the group's oldest member. */
function placeOf(volume: Volume | undefined, world: World): { type: 'Root' | 'Data'; deviceId: number | null; vmInstanceUuid: string | null } {
  if (volume === undefined || volume.groupId === null) return { type: 'Data', deviceId: null, vmInstanceUuid: null };
  const deviceId = (world.groupMembers.get(volume.groupId) ?? [volume.id]).indexOf(volume.id);
  return { type: deviceId === 0 ? 'Root' : 'Data', deviceId: Math.max(deviceId, 0), vmInstanceUuid: zuuid(volume.groupId) };
}

const volumePath = (volume: Volume) => `strata://${zuuid(volume.poolId)}/volumes/${zuuid(volume.id)}`;

function volumeFields(volume: Volume, world: World): Fields {
  const place = placeOf(volume, world);
  return {
    uuid: zuuid(volume.id),
    name: volume.name,
    description: volume.description,
    primaryStorageUuid: zuuid(volume.poolId),
    vmInstanceUuid: place.vmInstanceUuid,
    installPath: volumePath(volume),
    type: place.type,
    format: 'raw',
    size: volume.sizeBytes,
    deviceId: place.deviceId,
    state: volume.status === 'error' ? 'Disabled' : 'Enabled',
    status: volumeStatus[volume.status],
    createDate: volume.createdAt,
    lastOpDate: volume.updatedAt,
    isShareable: false,
  };
}

export function volumeInventory(volume: Volume, world: World): Fields {
  return inventoryOf(volumeFields(volume, world), classNames.volume);
}

export function volumeRow(volume: Volume, world: World): QueryRow {
  return { self: rowSelfOf(volumeFields(volume, world)) };
}

function snapshotPath(snapshot: Snapshot, volume: Volume | undefined): string | null {
  return volume === undefined ? null : `${volumePath(volume)}/snapshots/${zuuid(snapshot.id)}`;
}

function snapshotFields(snapshot: Snapshot, world: World): Fields {
  const volume = world.volumes.get(snapshot.volumeId);
  return {
    uuid: zuuid(snapshot.id),
    name: snapshot.name,
    description: snapshot.description,
    type: 'Storage',
    volumeUuid: zuuid(snapshot.volumeId),
    treeUuid: zuuid(world.rootOf.get(snapshot.id) ?? snapshot.id),
    parentUuid: snapshot.parentId === null ? null : zuuid(snapshot.parentId),
    primaryStorageUuid: volume === undefined ? null : zuuid(volume.poolId),
    primaryStorageInstallPath: snapshotPath(snapshot, volume),
    volumeType: placeOf(volume, world).type,
    format: 'raw',
    latest: world.newestOf.get(snapshot.volumeId) === snapshot.id,
    size: snapshot.sizeBytes,
    state: snapshotState(snapshot),
    status: snapshotStatusOf(snapshot),
    createDate: snapshot.createdAt,
    lastOpDate: snapshot.updatedAt,
    backupStorageRefs: [],
    distance: world.depthOf.get(snapshot.id) ?? 0,
    groupUuid: snapshot.groupSnapshotId === null ? null : zuuid(snapshot.groupSnapshotId),
  };
}

export function snapshotInventory(snapshot: Snapshot, world: World): Fields {
  return inventoryOf(snapshotFields(snapshot, world), classNames.snapshot);
}

function treeFields(rootId: string, world: World): Fields {
  const root = world.snapshots.get(rootId)!;
  const newest = world.newestOf.get(root.volumeId);
  return {
    uuid: zuuid(root.id),
    volumeUuid: zuuid(root.volumeId),
    current: newest !== undefined && world.rootOf.get(newest) === root.id,
    status: 'Completed',
    createDate: root.createdAt,
    lastOpDate: root.updatedAt,
  };
}

export function snapshotRow(snapshot: Snapshot, world: World): QueryRow {
  const volume = world.volumes.get(snapshot.volumeId);
  const rootId = world.rootOf.get(snapshot.id);
  return {
    self: rowSelfOf(snapshotFields(snapshot, world)),
    joins: {
      volume: volume === undefined ? [] : [rowSelfOf(volumeFields(volume, world))],
      tree: rootId === undefined ? [] : [rowSelfOf(treeFields(rootId, world))],
      backupStorageRef: [],
    },
  };
}

/** A snapshot and its descendants as SnapshotLeafInventory (iterative: trees may be deep). */
function leafOf(rootId: string, world: World): Fields {
  const make = (snapshot: Snapshot): Fields =>
    typed({ inventory: snapshotInventory(snapshot, world), ...(snapshot.parentId === null ? {} : { parentUuid: zuuid(snapshot.parentId) }), children: [] as Fields[] }, classNames.leaf);
  const root = make(world.snapshots.get(rootId)!);
  const queue: Array<[string, Fields]> = [[rootId, root]];
  for (let i = 0; i < queue.length; i++) {
    const [id, leaf] = queue[i];
    for (const child of world.children.get(id) ?? []) {
      const childLeaf = make(child);
      (leaf.children as Fields[]).push(childLeaf);
      queue.push([child.id, childLeaf]);
    }
  }
  return root;
}

/** The roots of the world's snapshot trees, in creation order. */
export function treeRoots(world: World): string[] {
  return [...world.snapshots.values()].filter((s) => world.rootOf.get(s.id) === s.id).map((s) => s.id);
}

export function treeInventory(rootId: string, world: World): Fields {
  const inventory = inventoryOf(treeFields(rootId, world), classNames.tree);
  // `tree` goes after the scalar fields, before the dates, as in ZStack's samples; order is cosmetic.
  inventory.tree = leafOf(rootId, world);
  return inventory;
}

export function treeRow(rootId: string, world: World): QueryRow {
  const root = world.snapshots.get(rootId)!;
  const volume = world.volumes.get(root.volumeId);
  return { self: rowSelfOf(treeFields(rootId, world)), joins: { volume: volume === undefined ? [] : [rowSelfOf(volumeFields(volume, world))] } };
}

function groupRefFields(group: GroupSnapshot, member: Snapshot, world: World): Fields {
  const volume = world.volumes.get(member.volumeId);
  const place = placeOf(volume, world);
  return {
    volumeSnapshotUuid: zuuid(member.id),
    volumeSnapshotGroupUuid: zuuid(group.id),
    deviceId: place.deviceId ?? 0,
    snapshotDeleted: false,
    volumeUuid: zuuid(member.volumeId),
    volumeName: volume?.name ?? null,
    volumeType: place.type,
    volumeSnapshotInstallPath: snapshotPath(member, volume),
    volumeSnapshotName: member.name,
    createDate: member.createdAt,
    lastOpDate: member.updatedAt,
  };
}

function groupFields(group: GroupSnapshot): Fields {
  return {
    uuid: zuuid(group.id),
    snapshotCount: group.snapshots.length,
    name: group.name,
    description: group.description,
    vmInstanceUuid: group.groupId === null ? null : zuuid(group.groupId),
    createDate: group.createdAt,
    lastOpDate: group.updatedAt,
  };
}

export function groupInventory(group: GroupSnapshot, world: World): Fields {
  const inventory = inventoryOf(groupFields(group), classNames.group);
  inventory.volumeSnapshotRefs = group.snapshots.map((member) => inventoryOf(groupRefFields(group, member, world), classNames.groupRef));
  return inventory;
}

export function groupRow(group: GroupSnapshot, world: World): QueryRow {
  return { self: rowSelfOf(groupFields(group)), joins: { volumeSnapshotRefs: group.snapshots.map((member) => rowSelfOf(groupRefFields(group, member, world))) } };
}

export interface SessionFields {
  uuid: string;
  accountUuid: string;
  userUuid: string;
  expiredDate: string;
  createDate: string;
}

export function sessionInventory(session: SessionFields): Fields {
  return inventoryOf({ ...session, userType: 'AccountVO', noSessionEvaluation: false }, classNames.session);
}

// ---- what each resource can be queried by --------------------------------------------------

const volumeQueryFields = {
  uuid: 'string',
  name: 'string',
  description: 'string',
  primaryStorageUuid: 'string',
  vmInstanceUuid: 'string',
  diskOfferingUuid: 'string',
  rootImageUuid: 'string',
  installPath: 'string',
  type: 'string',
  format: 'string',
  size: 'number',
  actualSize: 'number',
  deviceId: 'number',
  state: 'string',
  status: 'string',
  createDate: 'date',
  lastOpDate: 'date',
  isShareable: 'boolean',
} as const satisfies QuerySpec['fields'];

const treeQueryFields = { uuid: 'string', volumeUuid: 'string', current: 'boolean', status: 'string', createDate: 'date', lastOpDate: 'date' } as const satisfies QuerySpec['fields'];

const prefixed = (prefix: string, fields: QuerySpec['fields']) => Object.fromEntries(Object.entries(fields).map(([k, v]) => [`${prefix}.${k}`, v]));

export const volumeQuery: QuerySpec = { inventory: 'VolumeInventory', fields: volumeQueryFields };

export const snapshotQuery: QuerySpec = {
  inventory: 'VolumeSnapshotInventory',
  fields: {
    uuid: 'string',
    name: 'string',
    description: 'string',
    type: 'string',
    volumeUuid: 'string',
    treeUuid: 'string',
    parentUuid: 'string',
    primaryStorageUuid: 'string',
    primaryStorageInstallPath: 'string',
    volumeType: 'string',
    format: 'string',
    latest: 'boolean',
    size: 'number',
    state: 'string',
    status: 'string',
    createDate: 'date',
    lastOpDate: 'date',
    distance: 'number',
    groupUuid: 'string',
    ...prefixed('volume', volumeQueryFields),
    ...prefixed('tree', treeQueryFields),
    ...prefixed('backupStorageRef', { volumeSnapshotUuid: 'string', backupStorageUuid: 'string', installPath: 'string' }),
  },
};

export const treeQuery: QuerySpec = { inventory: 'VolumeSnapshotTreeInventory', fields: { ...treeQueryFields, ...prefixed('volume', volumeQueryFields) } };

export const groupQuery: QuerySpec = {
  inventory: 'VolumeSnapshotGroupInventory',
  fields: {
    uuid: 'string',
    snapshotCount: 'number',
    name: 'string',
    description: 'string',
    vmInstanceUuid: 'string',
    createDate: 'date',
    lastOpDate: 'date',
    ...prefixed('volumeSnapshotRefs', {
      volumeSnapshotUuid: 'string',
      volumeSnapshotGroupUuid: 'string',
      deviceId: 'number',
      snapshotDeleted: 'boolean',
      volumeUuid: 'string',
      volumeName: 'string',
      volumeType: 'string',
      volumeSnapshotInstallPath: 'string',
      volumeSnapshotName: 'string',
      createDate: 'date',
      lastOpDate: 'date',
    }),
  },
};
