/**
 * Durable metadata: the superblock, the journal of commit frames and the checkpoints.
 *
 * Durability rules this file keeps (numbers refer to ARCHITECTURE.md):
 * D2  A frame is appended, then the journal is synced; a commit is durable when that sync
 *     resolves. A torn or partly written frame fails its checksum, and replay stops before it.
 * D6  A checkpoint is written to the checkpoint file the superblock does NOT name, and to an
 *     emptied journal the superblock does not name; both are synced before the superblock slot
 *     that names them is written and synced. A crash at any point leaves the previous
 *     superblock, checkpoint and journal intact.
 * D7  Replay accepts frames only in unbroken sequence order from the superblock's first
 *     expected sequence; anything after the first bad frame is ignored and overwritten.
 */
import { StrataError } from '../lib/errors.js';
import type { Storage, StorageFile } from '../storage/types.js';
import {
  checkpointChecksumMatches,
  checkpointHeaderLength,
  decodeCheckpointHeader,
  decodeFrameHeader,
  decodeSuperblock,
  encodeCheckpointHeader,
  encodeFrameHeader,
  encodeSuperblock,
  fileNames,
  frameChecksumMatches,
  frameHeaderBytes,
  superblockSlotBytes,
  type Superblock,
} from './layout.js';

export interface LoadedMetadata {
  superblock: Superblock;
  /** The checkpoint body, or null before the first checkpoint. */
  checkpoint: Buffer | null;
  /** Payloads of the valid journal frames, in order. */
  frames: Buffer[];
  /** Bytes of the journal after the last valid frame (a torn tail), for reporting. */
  tornTailBytes: number;
}

export class MetadataLog {
  private superblock: Superblock;
  private journal: StorageFile;
  private journalEndBytes: number;
  private lastSequence: number;
  private lastCheckpointBytes: number;

  private constructor(
    private readonly storage: Storage,
    private readonly superblockFile: StorageFile,
    superblock: Superblock,
    journal: StorageFile,
    journalEndBytes: number,
    lastSequence: number,
    lastCheckpointBytes: number,
  ) {
    this.superblock = superblock;
    this.journal = journal;
    this.journalEndBytes = journalEndBytes;
    this.lastSequence = lastSequence;
    this.lastCheckpointBytes = lastCheckpointBytes;
  }

  get chunkSizeBytes(): number {
    return this.superblock.chunkSizeBytes;
  }

  get journalBytes(): number {
    return this.journalEndBytes;
  }

  get checkpointBytes(): number {
    return this.lastCheckpointBytes;
  }

  static async create(storage: Storage, chunkSizeBytes: number, nowMs: number): Promise<void> {
    if (await storage.exists(fileNames.superblock)) {
      throw new StrataError('POOL_EXISTS', `a pool already exists at ${storage.location}`);
    }
    const names = [fileNames.data, fileNames.journal(0), fileNames.journal(1), fileNames.checkpoint(0), fileNames.checkpoint(1)];
    for (const name of names) {
      const file = await storage.open(name, { create: true });
      await file.truncate(0);
      await file.sync();
      await file.close();
    }
    const superblock: Superblock = {
      sequence: 1,
      chunkSizeBytes,
      checkpointIndex: -1,
      journalIndex: 0,
      journalFirstSequence: 1,
      createdAtMs: nowMs,
    };
    const file = await storage.open(fileNames.superblock, { create: true });
    await file.write(encodeSuperblock(superblock), superblockSlotBytes * (superblock.sequence % 2));
    await file.sync();
    await file.close();
    await storage.syncDirectory();
  }

  /** Reads the newest valid superblock, its checkpoint and the journal frames after it. */
  static async load(storage: Storage, options: { readOnly: boolean }): Promise<{ log: MetadataLog; loaded: LoadedMetadata }> {
    if (!(await storage.exists(fileNames.superblock))) {
      throw new StrataError('NOT_FOUND', `no pool at ${storage.location}`);
    }
    const superblockFile = await storage.open(fileNames.superblock, { create: false });
    const superblock = await readSuperblock(superblockFile);
    let checkpoint: Buffer | null = null;
    let lastSequence = superblock.journalFirstSequence - 1;
    let checkpointBytes = 0;
    if (superblock.checkpointIndex >= 0) {
      const file = await storage.open(fileNames.checkpoint(superblock.checkpointIndex), { create: false });
      const read = await readCheckpoint(file);
      await file.close();
      checkpoint = read.body;
      checkpointBytes = read.body.length;
      if (read.lastSequence !== lastSequence) {
        throw new StrataError('CORRUPT_METADATA', 'checkpoint does not match the superblock');
      }
    }
    const journal = await storage.open(fileNames.journal(superblock.journalIndex), { create: false });
    const { frames, endBytes, fileBytes } = await readFrames(journal, superblock.journalFirstSequence);
    lastSequence += frames.length;
    if (!options.readOnly && fileBytes > endBytes) {
      await journal.truncate(endBytes);
      await journal.sync();
    }
    const log = new MetadataLog(storage, superblockFile, superblock, journal, endBytes, lastSequence, checkpointBytes);
    return { log, loaded: { superblock, checkpoint, frames, tornTailBytes: fileBytes - endBytes } };
  }

  /** Appends one frame and syncs the journal (D2). */
  async append(parts: Buffer[], payloadBytes: number): Promise<void> {
    const sequence = this.lastSequence + 1;
    const header = encodeFrameHeader(sequence, parts, payloadBytes);
    const frame = Buffer.concat([header, ...parts], frameHeaderBytes + payloadBytes);
    await this.journal.write(frame, this.journalEndBytes);
    await this.journal.sync();
    this.journalEndBytes += frame.length;
    this.lastSequence = sequence;
  }

  /** Replaces checkpoint + journal with a new checkpoint holding `parts` (D6). */
  async checkpoint(parts: Buffer[], bodyBytes: number): Promise<void> {
    const checkpointIndex = this.superblock.checkpointIndex === 0 ? 1 : 0;
    const journalIndex = this.superblock.journalIndex === 0 ? 1 : 0;
    const lastSequence = this.lastSequence;

    const checkpointFile = await this.storage.open(fileNames.checkpoint(checkpointIndex), { create: false });
    const header = encodeCheckpointHeader(lastSequence, parts, bodyBytes);
    await checkpointFile.truncate(0);
    await checkpointFile.write(Buffer.concat([header, ...parts], checkpointHeaderLength + bodyBytes), 0);
    await checkpointFile.sync();
    await checkpointFile.close();

    const journal = await this.storage.open(fileNames.journal(journalIndex), { create: false });
    await journal.truncate(0);
    await journal.sync();

    const superblock: Superblock = {
      ...this.superblock,
      sequence: this.superblock.sequence + 1,
      checkpointIndex,
      journalIndex,
      journalFirstSequence: lastSequence + 1,
    };
    await this.superblockFile.write(encodeSuperblock(superblock), superblockSlotBytes * (superblock.sequence % 2));
    await this.superblockFile.sync();

    await this.journal.close();
    this.journal = journal;
    this.journalEndBytes = 0;
    this.superblock = superblock;
    this.lastCheckpointBytes = bodyBytes;
  }

  /** True when the journal has grown enough that folding it into a checkpoint pays. */
  wantsCheckpoint(thresholdBytes: number): boolean {
    return this.journalEndBytes > Math.max(thresholdBytes, 2 * this.lastCheckpointBytes);
  }

  async close(): Promise<void> {
    await this.journal.close();
    await this.superblockFile.close();
  }
}

async function readSuperblock(file: StorageFile): Promise<Superblock> {
  const both = Buffer.alloc(2 * superblockSlotBytes);
  await file.read(both, 0, both.length, 0);
  const candidates = [decodeSuperblockSafe(both.subarray(0, superblockSlotBytes)), decodeSuperblockSafe(both.subarray(superblockSlotBytes))];
  let best: Superblock | null = null;
  for (const candidate of candidates) {
    if (candidate !== null && (best === null || candidate.sequence > best.sequence)) best = candidate;
  }
  if (best === null) throw new StrataError('CORRUPT_METADATA', 'no valid superblock');
  return best;
}

function decodeSuperblockSafe(slot: Buffer): Superblock | null {
  try {
    return decodeSuperblock(slot);
  } catch {
    return null;
  }
}

async function readCheckpoint(file: StorageFile): Promise<{ body: Buffer; lastSequence: number }> {
  const header = Buffer.alloc(checkpointHeaderLength);
  const got = await file.read(header, 0, header.length, 0);
  if (got < header.length) throw new StrataError('CORRUPT_METADATA', 'checkpoint is truncated');
  const parsed = decodeCheckpointHeader(header);
  const body = Buffer.alloc(parsed.bodyBytes);
  const bodyGot = await file.read(body, 0, body.length, checkpointHeaderLength);
  if (bodyGot < body.length || !checkpointChecksumMatches(header, parsed, body)) {
    throw new StrataError('CORRUPT_METADATA', 'checkpoint fails its checksum');
  }
  return { body, lastSequence: parsed.lastSequence };
}

async function readFrames(journal: StorageFile, firstSequence: number): Promise<{ frames: Buffer[]; endBytes: number; fileBytes: number }> {
  const fileBytes = await journal.sizeBytes();
  const contents = Buffer.alloc(fileBytes);
  if (fileBytes > 0) await journal.read(contents, 0, fileBytes, 0);
  const frames: Buffer[] = [];
  let offset = 0;
  let expected = firstSequence;
  while (offset + frameHeaderBytes <= fileBytes) {
    const header = contents.subarray(offset, offset + frameHeaderBytes);
    const frame = decodeFrameHeader(header);
    if (frame === null || frame.sequence !== expected) break;
    const end = offset + frameHeaderBytes + frame.payloadBytes;
    if (end > fileBytes) break;
    const payload = contents.subarray(offset + frameHeaderBytes, end);
    if (!frameChecksumMatches(header, frame, payload)) break;
    frames.push(payload);
    offset = end;
    expected++;
  }
  return { frames, endBytes: offset, fileBytes };
}
