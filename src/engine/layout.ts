/**
 * On-disk layout of a pool: file names and the byte formats of the superblock, journal frames,
 * map records and checkpoints. Pure encode/decode; no I/O.
 *
 * Files (all created, synced and directory-synced at pool creation, never renamed):
 *   superblock      two 4 KiB slots; the valid slot with the highest sequence wins
 *   checkpoint-0/1  a full image of the metadata at one commit (alternating)
 *   journal-0/1     frames appended after that checkpoint (alternating with it)
 *   data            chunk slots: slot n lives at byte n * chunkSizeBytes
 *   map-pages       the paged map (page-store.ts): pages 0 and 1 are root records (the valid
 *                   one with the highest sequence wins), every other page is a tree node or a
 *                   free-list page carrying its own number and a CRC-32
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { StrataError } from '../lib/errors.js';

/** CRC-32 of `data`, continuing from `value`. (Node 20's zlib.crc32 returns 0 for empty data whatever `value` is.) */
export function crc32(data: Uint8Array, value = 0): number {
  return data.length === 0 ? value : zlibCrc32(data, value);
}

export const fileNames = {
  superblock: 'superblock',
  data: 'data',
  checkpoint: (index: number) => `checkpoint-${index}`,
  journal: (index: number) => `journal-${index}`,
  /** The paged map: fixed-size pages, two root records then tree and free-list pages. */
  mapPages: 'map-pages',
} as const;

export const superblockSlotBytes = 4096;
const superblockMagic = 'STRATA-POOL-1';
const frameMagic = 0x5354_4a31; // "STJ1"
const checkpointMagic = 0x5354_4331; // "STC1"
export const frameHeaderBytes = 24;
const checkpointHeaderBytes = 24;

/** Slot value meaning "this entry reads as zeroes and stops fall-through to an origin". */
export const tombstoneSlot = 2 ** 48 - 1;

export interface Superblock {
  sequence: number;
  chunkSizeBytes: number;
  /** Index of the checkpoint file to load, or -1 before the first checkpoint. */
  checkpointIndex: number;
  journalIndex: number;
  /** Sequence number of the first frame expected in the journal. */
  journalFirstSequence: number;
  createdAtMs: number;
}

export function encodeSuperblock(superblock: Superblock): Buffer {
  const body = Buffer.from(JSON.stringify({ magic: superblockMagic, ...superblock }), 'utf8');
  const slot = Buffer.alloc(superblockSlotBytes);
  slot.writeUInt32LE(body.length, 0);
  slot.writeUInt32LE(crc32(body), 4);
  body.copy(slot, 8);
  return slot;
}

export function decodeSuperblock(slot: Buffer): Superblock | null {
  const length = slot.readUInt32LE(0);
  if (length === 0 || length > superblockSlotBytes - 8) return null;
  const body = slot.subarray(8, 8 + length);
  if (crc32(body) !== slot.readUInt32LE(4)) return null;
  const parsed = JSON.parse(body.toString('utf8')) as Superblock & { magic: string };
  if (parsed.magic !== superblockMagic) return null;
  const { magic: _magic, ...superblock } = parsed;
  return superblock;
}

// ---- map records -------------------------------------------------------------------------

export const recordType = { put: 1, remove: 2, structural: 3, overwrite: 4 } as const;

export interface PutRecord {
  type: typeof recordType.put;
  volumeId: number;
  chunk: number;
  generation: number;
  slot: number;
  checksums: Uint32Array | null;
}
export interface RemoveRecord {
  type: typeof recordType.remove;
  volumeId: number;
  chunk: number;
  generation: number;
}
export interface StructuralRecord {
  type: typeof recordType.structural;
  change: StructuralChange;
}
/** One 4 KiB sector of a sub-chunk overwrite, logged in `logSlot` until applied to `targetSlot` (D8). */
export interface OverwriteRecord {
  targetSlot: number;
  targetSector: number;
  logSlot: number;
  logSector: number;
  /** CRC-32 of the logged sector. */
  checksum: number;
}
export interface OverwriteMapRecord extends OverwriteRecord {
  type: typeof recordType.overwrite;
}
export type MapRecord = PutRecord | RemoveRecord | StructuralRecord | OverwriteMapRecord;

/** Changes to volumes and snapshots. Replay applies them with the same code that made them. */
export type StructuralChange =
  | { op: 'volume-create'; volumeId: number; sizeBytes: number; createdAtMs: number; origin: Origin | null }
  | { op: 'volume-grow'; volumeId: number; sizeBytes: number }
  | { op: 'volume-deleting'; volumeId: number }
  | { op: 'volume-delete'; volumeId: number }
  | { op: 'snapshot-create'; snapshotId: number; volumeId: number; createdAtMs: number }
  | { op: 'snapshot-deleting'; snapshotId: number }
  | { op: 'snapshot-delete'; snapshotId: number }
  | { op: 'revert'; volumeId: number; snapshotId: number }
  | { op: 'flatten-done'; volumeId: number };

export interface Origin {
  volumeId: number;
  snapshotId: number;
  generation: number;
  sizeBytes: number;
}

const putFixedBytes = 1 + 4 + 6 + 4 + 6;
const removeBytes = 1 + 4 + 6 + 4;

export function putRecordBytes(sectorsPerChunk: number, tombstone: boolean): number {
  return putFixedBytes + (tombstone ? 0 : 4 * sectorsPerChunk);
}

/** Encodes records into `target` at `offset`; returns the new offset. */
export function encodePut(
  target: Buffer,
  offset: number,
  volumeId: number,
  chunk: number,
  generation: number,
  slot: number,
  checksums: Uint32Array | null,
): number {
  target.writeUInt8(recordType.put, offset);
  target.writeUInt32LE(volumeId, offset + 1);
  target.writeUIntLE(chunk, offset + 5, 6);
  target.writeUInt32LE(generation, offset + 11);
  target.writeUIntLE(slot, offset + 15, 6);
  offset += putFixedBytes;
  if (checksums !== null) {
    for (let i = 0; i < checksums.length; i++) target.writeUInt32LE(checksums[i], offset + 4 * i);
    offset += 4 * checksums.length;
  }
  return offset;
}

export function encodeRemove(target: Buffer, offset: number, volumeId: number, chunk: number, generation: number): number {
  target.writeUInt8(recordType.remove, offset);
  target.writeUInt32LE(volumeId, offset + 1);
  target.writeUIntLE(chunk, offset + 5, 6);
  target.writeUInt32LE(generation, offset + 11);
  return offset + removeBytes;
}

export function encodeStructural(change: StructuralChange): Buffer {
  const body = Buffer.from(JSON.stringify(change), 'utf8');
  const record = Buffer.alloc(5 + body.length);
  record.writeUInt8(recordType.structural, 0);
  record.writeUInt32LE(body.length, 1);
  body.copy(record, 5);
  return record;
}

export const removeRecordBytes = removeBytes;
export const overwriteRecordBytes = 1 + 6 + 2 + 6 + 2 + 4;

export function encodeOverwrite(target: Buffer, offset: number, record: OverwriteRecord): number {
  target.writeUInt8(recordType.overwrite, offset);
  target.writeUIntLE(record.targetSlot, offset + 1, 6);
  target.writeUInt16LE(record.targetSector, offset + 7);
  target.writeUIntLE(record.logSlot, offset + 9, 6);
  target.writeUInt16LE(record.logSector, offset + 15);
  target.writeUInt32LE(record.checksum, offset + 17);
  return offset + overwriteRecordBytes;
}

/** Decodes a run of records; throws CORRUPT_METADATA on anything malformed. */
export function* decodeRecords(payload: Buffer, sectorsPerChunk: number): Generator<MapRecord> {
  let offset = 0;
  while (offset < payload.length) {
    const type = payload.readUInt8(offset);
    if (type === recordType.put) {
      need(payload, offset, putFixedBytes);
      const volumeId = payload.readUInt32LE(offset + 1);
      const chunk = payload.readUIntLE(offset + 5, 6);
      const generation = payload.readUInt32LE(offset + 11);
      const slot = payload.readUIntLE(offset + 15, 6);
      offset += putFixedBytes;
      let checksums: Uint32Array | null = null;
      if (slot !== tombstoneSlot) {
        need(payload, offset, 4 * sectorsPerChunk);
        checksums = new Uint32Array(sectorsPerChunk);
        for (let i = 0; i < sectorsPerChunk; i++) checksums[i] = payload.readUInt32LE(offset + 4 * i);
        offset += 4 * sectorsPerChunk;
      }
      yield { type, volumeId, chunk, generation, slot, checksums };
    } else if (type === recordType.remove) {
      need(payload, offset, removeBytes);
      yield {
        type,
        volumeId: payload.readUInt32LE(offset + 1),
        chunk: payload.readUIntLE(offset + 5, 6),
        generation: payload.readUInt32LE(offset + 11),
      };
      offset += removeBytes;
    } else if (type === recordType.structural) {
      need(payload, offset, 5);
      const length = payload.readUInt32LE(offset + 1);
      need(payload, offset + 5, length);
      const change = JSON.parse(payload.toString('utf8', offset + 5, offset + 5 + length)) as StructuralChange;
      yield { type, change };
      offset += 5 + length;
    } else if (type === recordType.overwrite) {
      need(payload, offset, overwriteRecordBytes);
      yield {
        type,
        targetSlot: payload.readUIntLE(offset + 1, 6),
        targetSector: payload.readUInt16LE(offset + 7),
        logSlot: payload.readUIntLE(offset + 9, 6),
        logSector: payload.readUInt16LE(offset + 15),
        checksum: payload.readUInt32LE(offset + 17),
      };
      offset += overwriteRecordBytes;
    } else {
      throw new StrataError('CORRUPT_METADATA', `unknown record type ${type} at offset ${offset}`);
    }
  }
}

function need(payload: Buffer, offset: number, length: number): void {
  if (offset + length > payload.length) throw new StrataError('CORRUPT_METADATA', 'record runs past the end of its frame');
}

// ---- journal frames ----------------------------------------------------------------------

export function encodeFrameHeader(sequence: number, payload: Buffer[], payloadBytes: number): Buffer {
  const header = Buffer.alloc(frameHeaderBytes);
  header.writeUInt32LE(frameMagic, 0);
  header.writeUInt32LE(payloadBytes, 4);
  header.writeDoubleLE(sequence, 8);
  let crc = crc32(header.subarray(8, 16));
  for (const part of payload) crc = crc32(part, crc);
  header.writeUInt32LE(crc, 16);
  return header;
}

export interface FrameHeader {
  payloadBytes: number;
  sequence: number;
  checksum: number;
}

export function decodeFrameHeader(header: Buffer): FrameHeader | null {
  if (header.length < frameHeaderBytes || header.readUInt32LE(0) !== frameMagic) return null;
  return { payloadBytes: header.readUInt32LE(4), sequence: header.readDoubleLE(8), checksum: header.readUInt32LE(16) };
}

export function frameChecksumMatches(header: Buffer, frame: FrameHeader, payload: Buffer): boolean {
  return crc32(payload, crc32(header.subarray(8, 16))) === frame.checksum;
}

// ---- checkpoints -------------------------------------------------------------------------

export function encodeCheckpointHeader(lastSequence: number, parts: Buffer[], bodyBytes: number): Buffer {
  const header = Buffer.alloc(checkpointHeaderBytes);
  header.writeUInt32LE(checkpointMagic, 0);
  header.writeDoubleLE(bodyBytes, 4);
  header.writeDoubleLE(lastSequence, 12);
  let crc = crc32(header.subarray(4, 20));
  for (const part of parts) crc = crc32(part, crc);
  header.writeUInt32LE(crc, 20);
  return header;
}

export interface CheckpointHeader {
  bodyBytes: number;
  lastSequence: number;
  checksum: number;
}

export function decodeCheckpointHeader(header: Buffer): CheckpointHeader {
  if (header.length < checkpointHeaderBytes || header.readUInt32LE(0) !== checkpointMagic) {
    throw new StrataError('CORRUPT_METADATA', 'checkpoint header is damaged');
  }
  return { bodyBytes: header.readDoubleLE(4), lastSequence: header.readDoubleLE(12), checksum: header.readUInt32LE(20) };
}

export function checkpointChecksumMatches(header: Buffer, parsed: CheckpointHeader, body: Buffer): boolean {
  return crc32(body, crc32(header.subarray(4, 20))) === parsed.checksum;
}

export const checkpointHeaderLength = checkpointHeaderBytes;

// ---- map pages (page-store.ts, page-tree.ts) -----------------------------------------------

const pageMagic = 0x5354_5031; // "STP1"
const rootRecordMagic = 0x5354_5231; // "STR1"
/** magic u32, CRC-32 u32 (of bytes 8..end), page number u32, kind u8, reserved u8, count u16. */
export const pageHeaderBytes = 16;
export const pageKind = { leaf: 1, internal: 2, freeList: 3 } as const;
export type PageKind = (typeof pageKind)[keyof typeof pageKind];

/** Fills in the header of a page whose body is already in place; returns the page. */
export function sealPage(page: Buffer, pageNumber: number, kind: PageKind, count: number): Buffer {
  page.writeUInt32LE(pageMagic, 0);
  page.writeUInt32LE(pageNumber, 8);
  page.writeUInt8(kind, 12);
  page.writeUInt8(0, 13);
  page.writeUInt16LE(count, 14);
  page.writeUInt32LE(crc32(page.subarray(8)), 4);
  return page;
}

/** What is wrong with a page read back as `pageNumber`, or null if it is sound. */
export function pageProblem(page: Buffer, pageNumber: number): string | null {
  if (page.readUInt32LE(0) !== pageMagic) return `page ${pageNumber}: not a map page`;
  if (crc32(page.subarray(8)) !== page.readUInt32LE(4)) return `page ${pageNumber}: fails its checksum`;
  if (page.readUInt32LE(8) !== pageNumber) return `page ${pageNumber}: carries page number ${page.readUInt32LE(8)}`;
  return null;
}

export function pageKindOf(page: Buffer): number {
  return page.readUInt8(12);
}

export function pageCount(page: Buffer): number {
  return page.readUInt16LE(14);
}

/** A checkpoint of the paged map: its tree roots, its free pages and the caller's own bytes. */
export interface RootRecord {
  sequence: number;
  /** Pages below this exist; pages 0 and 1 are the records themselves. */
  highWater: number;
  /** First free-list page (0: none) and how many free pages the list names. */
  freeListHead: number;
  freeCount: number;
  /** One root page per tree (0: empty tree). */
  roots: number[];
  meta: Buffer;
}

const rootRecordFixedBytes = 8 + 8 + 4 + 4 + 4 + 1 + 4;

/** A record names at most this many tree roots. */
export const rootRecordRootsMax = 8;

export function rootRecordMetaBytesMax(pageSizeBytes: number): number {
  return pageSizeBytes - rootRecordFixedBytes - 4 * rootRecordRootsMax;
}

export function encodeRootRecord(record: RootRecord, pageSizeBytes: number): Buffer {
  const page = Buffer.alloc(pageSizeBytes);
  let offset = 8;
  page.writeDoubleLE(record.sequence, offset);
  page.writeUInt32LE(record.highWater, (offset += 8));
  page.writeUInt32LE(record.freeListHead, (offset += 4));
  page.writeUInt32LE(record.freeCount, (offset += 4));
  page.writeUInt8(record.roots.length, (offset += 4));
  offset += 1;
  for (const root of record.roots) offset = page.writeUInt32LE(root, offset);
  offset = page.writeUInt32LE(record.meta.length, offset);
  record.meta.copy(page, offset);
  page.writeUInt32LE(rootRecordMagic, 0);
  page.writeUInt32LE(crc32(page.subarray(8)), 4);
  return page;
}

/** A root record, or null if the slot holds none (never written, torn, or damaged). */
export function decodeRootRecord(page: Buffer): RootRecord | null {
  if (page.length < rootRecordFixedBytes || page.readUInt32LE(0) !== rootRecordMagic) return null;
  if (crc32(page.subarray(8)) !== page.readUInt32LE(4)) return null;
  let offset = 8;
  const sequence = page.readDoubleLE(offset);
  const highWater = page.readUInt32LE((offset += 8));
  const freeListHead = page.readUInt32LE((offset += 4));
  const freeCount = page.readUInt32LE((offset += 4));
  const rootCount = page.readUInt8((offset += 4));
  offset += 1;
  if (rootCount > rootRecordRootsMax) return null;
  const roots: number[] = [];
  for (let i = 0; i < rootCount; i++, offset += 4) roots.push(page.readUInt32LE(offset));
  const metaBytes = page.readUInt32LE(offset);
  if (offset + 4 + metaBytes > page.length) return null;
  const meta = Buffer.from(page.subarray(offset + 4, offset + 4 + metaBytes));
  return { sequence, highWater, freeListHead, freeCount, roots, meta };
}
