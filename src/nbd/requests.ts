/**
 * One NBD request, as pure steps: validate (`validateRequest`) → dispatch (one switch over the
 * command, `dispatch`) → reply (pure encoding, `encodeReply`). Device failures are thrown to the
 * caller, which maps them with `nbdErrnoFor` (errors.ts). transmission.ts runs these steps for
 * each request of a connection.
 */
import { assert } from '../lib/assert.js';
import {
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetDataHeader,
  encodeOffsetHoleChunk,
  encodeSimpleReply,
  type BlockDescriptor,
  type Request,
} from './codec.js';
import type { BlockDevice, Extent } from './device.js';
import type { NegotiatedExport } from './handshake.js';
import type { NbdLimits } from './limits.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_EOVERFLOW,
  NBD_EPERM,
  NBD_REPLY_FLAG_DONE,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  commandName,
} from './protocol.js';

// ---------------------------------------------------------------------------------------------
// Validate.

/** Why a request is refused without reaching the device. */
export interface Refusal {
  errno: number;
  message: string;
}

/** Command flags each command accepts. FUA is accepted everywhere, as the spec requires. */
const allowedFlags = new Map<number, number>([
  [NBD_CMD_READ, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE, NBD_CMD_FLAG_FUA],
  [NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA],
  [NBD_CMD_TRIM, NBD_CMD_FLAG_FUA],
  [NBD_CMD_CACHE, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO],
  [NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE],
]);

const writingCommands = new Set([NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES]);

type SessionFacts = Pick<NegotiatedExport, 'sizeBytes' | 'readOnly' | 'structuredReplies' | 'allocationContextId'>;

/**
 * Checks a request against the negotiated export; null when the device may serve it.
 * (NBD_CMD_DISC never gets here, and oversized WRITE payloads are a disconnect, not a refusal.)
 */
export function validateRequest(request: Request, session: SessionFacts, limits: NbdLimits): Refusal | null {
  const { type, flags, offsetBytes, lengthBytes } = request;
  const allowed = allowedFlags.get(type);
  if (allowed === undefined) return { errno: NBD_EINVAL, message: `unknown command ${type}` };
  if ((flags & ~allowed) !== 0) return { errno: NBD_EINVAL, message: `flags 0x${flags.toString(16)} not valid for ${commandName(type)}` };
  if (writingCommands.has(type) && session.readOnly) return { errno: NBD_EPERM, message: 'the export is read-only' };
  switch (type) {
    case NBD_CMD_FLUSH:
      if (offsetBytes !== 0 || lengthBytes !== 0) return { errno: NBD_EINVAL, message: 'NBD_CMD_FLUSH takes no range' };
      break;
    case NBD_CMD_READ:
      if (lengthBytes > limits.requestSizeBytesMax) {
        // The spec allows NBD_EOVERFLOW only where structured replies could have split the read.
        return { errno: session.structuredReplies ? NBD_EOVERFLOW : NBD_EINVAL, message: 'read larger than the maximum payload' };
      }
      break;
    case NBD_CMD_BLOCK_STATUS:
      if (session.allocationContextId === null) return { errno: NBD_EINVAL, message: 'no metadata context was negotiated' };
      if (lengthBytes === 0) return { errno: NBD_EINVAL, message: 'block status of an empty range' };
      break;
  }
  if (offsetBytes + lengthBytes > session.sizeBytes) {
    // The spec asks for NBD_ENOSPC on writes past the end and NBD_EINVAL on everything else.
    const errno = type === NBD_CMD_WRITE || type === NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL;
    return { errno, message: 'range beyond the end of the export' };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

export type ReadSegment =
  | { kind: 'data'; offsetBytes: number; data: Buffer }
  | { kind: 'hole'; offsetBytes: number; lengthBytes: number };

export type Reply =
  | { kind: 'done' }
  | { kind: 'read'; segments: ReadSegment[] }
  | { kind: 'blockStatus'; contextId: number; descriptors: BlockDescriptor[] }
  | { kind: 'error'; errno: number; message: string };

const done: Reply = { kind: 'done' };

/** Serves one validated request. Device failures are thrown to the caller. */
export async function dispatch(
  request: Request,
  payload: Buffer | null,
  session: NegotiatedExport,
  limits: NbdLimits,
): Promise<Reply> {
  const { device } = session;
  const { offsetBytes, lengthBytes, flags } = request;
  const fua = (flags & NBD_CMD_FLAG_FUA) !== 0;
  switch (request.type) {
    case NBD_CMD_READ:
      return { kind: 'read', segments: await readSegments(device, offsetBytes, lengthBytes, session.structuredReplies, limits) };
    case NBD_CMD_WRITE:
      assert(payload !== null && payload.length === lengthBytes, 'WRITE payload matches its length');
      if (lengthBytes > 0) await device.write(offsetBytes, payload, { fua });
      return done;
    case NBD_CMD_FLUSH:
      await device.flush();
      return done;
    case NBD_CMD_TRIM:
      if (lengthBytes > 0) await device.trim(offsetBytes, lengthBytes, { fua });
      return done;
    case NBD_CMD_WRITE_ZEROES:
      // NBD_CMD_FLAG_FAST_ZERO: zeroing is metadata-only for our devices, so it is always fast.
      if (lengthBytes > 0) await device.writeZeroes(offsetBytes, lengthBytes, { fua, noHole: (flags & NBD_CMD_FLAG_NO_HOLE) !== 0 });
      return done;
    case NBD_CMD_BLOCK_STATUS: {
      assert(session.allocationContextId !== null, 'block status needs a metadata context');
      const extents = await device.blockStatus(offsetBytes, lengthBytes);
      const descriptors = blockDescriptors(extents, request, limits);
      return { kind: 'blockStatus', contextId: session.allocationContextId, descriptors };
    }
    case NBD_CMD_CACHE:
      // A hint with no semantic effect; the devices have no cache to warm.
      return done;
    default:
      assert(false, `validated request has a known command, got ${request.type}`);
  }
}

/** A READ as data and hole segments. Holes are used only with structured replies, where the device reports zeroes. */
async function readSegments(
  device: BlockDevice,
  offsetBytes: number,
  lengthBytes: number,
  structured: boolean,
  limits: NbdLimits,
): Promise<ReadSegment[]> {
  if (lengthBytes === 0) return [];
  const whole = async (): Promise<ReadSegment[]> => [
    { kind: 'data', offsetBytes, data: await readExactly(device, offsetBytes, lengthBytes) },
  ];
  // A read no longer than the shortest hole worth sending can only be one run: skip the
  // allocation lookup (most random reads are this size) and send it as data. So does every
  // read of a device whose block status costs I/O (Ceph RBD: a diff-iterate per READ).
  if (!structured || lengthBytes <= limits.readHoleBytesMin || device.blockStatusIsCheap === false) return whole();
  const runs = zeroRuns(await device.blockStatus(offsetBytes, lengthBytes), offsetBytes, lengthBytes, limits.readHoleBytesMin);
  if (!runs.some((run) => run.zero) || runs.length > limits.readSegmentCountMax) return whole();
  // Every write completed before this READ arrived is reflected in the block status just taken,
  // so a range reported as zero reads as zero; writes still in flight are unordered by the spec.
  return Promise.all(
    runs.map(async (run): Promise<ReadSegment> => {
      if (run.zero) return { kind: 'hole', offsetBytes: run.offsetBytes, lengthBytes: run.lengthBytes };
      return { kind: 'data', offsetBytes: run.offsetBytes, data: await readExactly(device, run.offsetBytes, run.lengthBytes) };
    }),
  );
}

async function readExactly(device: BlockDevice, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
  const data = await device.read(offsetBytes, lengthBytes);
  assert(data.length === lengthBytes, `device read returned ${data.length} bytes for ${lengthBytes}`);
  return data;
}

export interface Run {
  offsetBytes: number;
  lengthBytes: number;
  zero: boolean;
}

/**
 * Splits a range into alternating zero and data runs from the device's extents. Zero runs
 * shorter than `holeBytesMin` are counted as data, so a reply is not shredded into tiny chunks.
 */
export function zeroRuns(extents: readonly Extent[], offsetBytes: number, lengthBytes: number, holeBytesMin: number): Run[] {
  checkExtents(extents, offsetBytes, lengthBytes);
  const byZero = mergeRuns(extents.map((extent) => ({ offsetBytes: extent.offsetBytes, lengthBytes: extent.lengthBytes, zero: extent.zero })));
  return mergeRuns(byZero.map((run) => ({ ...run, zero: run.zero && run.lengthBytes >= holeBytesMin })));
}

function mergeRuns(runs: readonly Run[]): Run[] {
  const merged: Run[] = [];
  for (const run of runs) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.zero === run.zero) last.lengthBytes += run.lengthBytes;
    else merged.push({ ...run });
  }
  return merged;
}

/** base:allocation descriptors for a block status request. */
export function blockDescriptors(extents: readonly Extent[], request: Request, limits: NbdLimits): BlockDescriptor[] {
  checkExtents(extents, request.offsetBytes, request.lengthBytes);
  const descriptors: BlockDescriptor[] = [];
  for (const extent of extents) {
    const status = (extent.hole ? NBD_STATE_HOLE : 0) | (extent.zero ? NBD_STATE_ZERO : 0);
    const last = descriptors[descriptors.length - 1];
    if (last !== undefined && last.status === status) last.lengthBytes += extent.lengthBytes;
    else descriptors.push({ lengthBytes: extent.lengthBytes, status });
  }
  const countMax = (request.flags & NBD_CMD_FLAG_REQ_ONE) !== 0 ? 1 : limits.blockStatusExtentCountMax;
  return descriptors.slice(0, countMax);
}

/** The device contract: extents are non-empty, contiguous, and cover exactly the range. */
function checkExtents(extents: readonly Extent[], offsetBytes: number, lengthBytes: number): void {
  let at = offsetBytes;
  for (const extent of extents) {
    assert(extent.offsetBytes === at && extent.lengthBytes > 0, `device extents are contiguous and non-empty at ${at}`);
    at += extent.lengthBytes;
  }
  assert(at === offsetBytes + lengthBytes, `device extents cover [${offsetBytes}, ${offsetBytes + lengthBytes})`);
}

// ---------------------------------------------------------------------------------------------
// Reply.

/** The bytes of one reply, in order; written in one turn. */
export function encodeReply(cookie: bigint, type: number, reply: Reply, structured: boolean): Buffer[] {
  if (!structured) {
    switch (reply.kind) {
      case 'done':
        return [encodeSimpleReply(0, cookie)];
      case 'error':
        return [encodeSimpleReply(reply.errno, cookie)];
      case 'read': {
        const data = reply.segments.flatMap((segment) => (segment.kind === 'data' ? [segment.data] : []));
        assert(data.length === reply.segments.length, 'simple replies carry data only');
        return [encodeSimpleReply(0, cookie), ...data];
      }
      case 'blockStatus':
        assert(false, 'block status needs structured replies');
    }
  }
  switch (reply.kind) {
    case 'done':
      // A READ must be answered with a structured reply; other commands may use a simple one.
      return [type === NBD_CMD_READ ? encodeNoneChunk(cookie) : encodeSimpleReply(0, cookie)];
    case 'error':
      return [encodeErrorChunk(NBD_REPLY_FLAG_DONE, cookie, reply.errno, reply.message)];
    case 'blockStatus':
      return [encodeBlockStatusChunk(NBD_REPLY_FLAG_DONE, cookie, reply.contextId, reply.descriptors)];
    case 'read':
      return encodeReadChunks(cookie, reply.segments);
  }
}

function encodeReadChunks(cookie: bigint, segments: readonly ReadSegment[]): Buffer[] {
  if (segments.length === 0) return [encodeNoneChunk(cookie)];
  const buffers: Buffer[] = [];
  segments.forEach((segment, index) => {
    const flags = index === segments.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
    if (segment.kind === 'hole') {
      buffers.push(encodeOffsetHoleChunk(flags, cookie, segment.offsetBytes, segment.lengthBytes));
    } else {
      buffers.push(encodeOffsetDataHeader(flags, cookie, segment.offsetBytes, segment.data.length), segment.data);
    }
  });
  return buffers;
}
