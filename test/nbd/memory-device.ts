/**
 * A test-only BlockDevice: a sparse map of 4 KiB pages, so block status reports holes. It keeps
 * a second map, `durable`, that holds what a flush (or FUA) has made durable, so tests can tell
 * durable data from data that is only visible. Gates let a test hold a device call until it
 * says so, to force completions out of order without timing; faults make a call fail.
 */
import type { BlockDevice, Extent } from '../../src/nbd/index.js';

export const PAGE_BYTES = 4096;

export type DeviceOp = 'read' | 'write' | 'flush' | 'trim' | 'writeZeroes' | 'blockStatus';

export interface DeviceCall {
  op: DeviceOp;
  offsetBytes: number;
  lengthBytes: number;
  fua?: boolean;
  noHole?: boolean;
}

interface Gate {
  matches: (call: DeviceCall) => boolean;
  opened: Promise<void>;
  noteReached: () => void;
}

export class MemoryDevice implements BlockDevice {
  sizeBytes: number;
  readOnly: boolean;
  /** Set false to act like a device whose block status costs I/O. */
  blockStatusIsCheap = true;
  readonly pages = new Map<number, Buffer>();
  readonly durable = new Map<number, Buffer>();
  /** Every call, in arrival order (off when `recordCalls` is false). */
  readonly calls: DeviceCall[] = [];
  /** Returns an error to throw for a call, or undefined to serve it. */
  fault: ((call: DeviceCall) => Error | undefined) | null = null;
  readonly #recordCalls: boolean;
  readonly #gates: Gate[] = [];

  constructor(options: { sizeBytes: number; readOnly?: boolean; recordCalls?: boolean }) {
    this.sizeBytes = options.sizeBytes;
    this.readOnly = options.readOnly ?? false;
    this.#recordCalls = options.recordCalls ?? true;
  }

  /** Holds every matching call until `release()`; `reached` resolves when the first one arrives. */
  hold(matches: (call: DeviceCall) => boolean): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let noteReached!: () => void;
    const opened = new Promise<void>((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (noteReached = resolve));
    const gate: Gate = { matches, opened, noteReached };
    this.#gates.push(gate);
    return {
      reached,
      release: () => {
        this.#gates.splice(this.#gates.indexOf(gate), 1);
        release();
      },
    };
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    await this.#enter({ op: 'read', offsetBytes, lengthBytes });
    return this.peek(offsetBytes, lengthBytes);
  }

  async write(offsetBytes: number, data: Buffer, options: { fua: boolean }): Promise<void> {
    await this.#enter({ op: 'write', offsetBytes, lengthBytes: data.length, fua: options.fua });
    this.poke(offsetBytes, data);
    if (options.fua) this.#persist(offsetBytes, data.length);
  }

  async flush(): Promise<void> {
    await this.#enter({ op: 'flush', offsetBytes: 0, lengthBytes: 0 });
    this.durable.clear();
    for (const [index, page] of this.pages) this.durable.set(index, Buffer.from(page));
  }

  async trim(offsetBytes: number, lengthBytes: number, options: { fua: boolean }): Promise<void> {
    await this.#enter({ op: 'trim', offsetBytes, lengthBytes, fua: options.fua });
    this.#zero(offsetBytes, lengthBytes, false);
    if (options.fua) this.#persist(offsetBytes, lengthBytes);
  }

  async writeZeroes(offsetBytes: number, lengthBytes: number, options: { fua: boolean; noHole: boolean }): Promise<void> {
    await this.#enter({ op: 'writeZeroes', offsetBytes, lengthBytes, fua: options.fua, noHole: options.noHole });
    this.#zero(offsetBytes, lengthBytes, options.noHole);
    if (options.fua) this.#persist(offsetBytes, lengthBytes);
  }

  async blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    await this.#enter({ op: 'blockStatus', offsetBytes, lengthBytes });
    const extents: Extent[] = [];
    let at = offsetBytes;
    const end = offsetBytes + lengthBytes;
    while (at < end) {
      const index = Math.floor(at / PAGE_BYTES);
      const pageEnd = Math.min((index + 1) * PAGE_BYTES, end);
      const allocated = this.pages.has(index);
      const last = extents[extents.length - 1];
      if (last !== undefined && last.hole === !allocated) last.lengthBytes += pageEnd - at;
      else extents.push({ offsetBytes: at, lengthBytes: pageEnd - at, hole: !allocated, zero: !allocated });
      at = pageEnd;
    }
    return extents;
  }

  /** The current content of a range, without going through gates or faults. */
  peek(offsetBytes: number, lengthBytes: number, pages: Map<number, Buffer> = this.pages): Buffer {
    const data = Buffer.alloc(lengthBytes);
    this.#eachPage(offsetBytes, lengthBytes, (index, pageOffset, dataOffset, bytes) => {
      pages.get(index)?.copy(data, dataOffset, pageOffset, pageOffset + bytes);
    });
    return data;
  }

  /** Writes directly, without going through gates or faults. */
  poke(offsetBytes: number, data: Buffer): void {
    this.#eachPage(offsetBytes, data.length, (index, pageOffset, dataOffset, bytes) => {
      let page = this.pages.get(index);
      if (page === undefined) {
        page = Buffer.alloc(PAGE_BYTES);
        this.pages.set(index, page);
      }
      data.copy(page, pageOffset, dataOffset, dataOffset + bytes);
    });
  }

  async #enter(call: DeviceCall): Promise<void> {
    if (this.#recordCalls) this.calls.push(call);
    for (const gate of [...this.#gates]) {
      if (!gate.matches(call)) continue;
      gate.noteReached();
      await gate.opened;
    }
    const error = this.fault?.(call);
    if (error !== undefined) throw error;
  }

  #zero(offsetBytes: number, lengthBytes: number, keepAllocated: boolean): void {
    this.#eachPage(offsetBytes, lengthBytes, (index, pageOffset, _dataOffset, bytes) => {
      const page = this.pages.get(index);
      if (bytes === PAGE_BYTES && !keepAllocated) this.pages.delete(index);
      else if (page !== undefined) page.fill(0, pageOffset, pageOffset + bytes);
      else if (keepAllocated) this.pages.set(index, Buffer.alloc(PAGE_BYTES));
    });
  }

  #persist(offsetBytes: number, lengthBytes: number): void {
    this.#eachPage(offsetBytes, lengthBytes, (index) => {
      const page = this.pages.get(index);
      if (page === undefined) this.durable.delete(index);
      else this.durable.set(index, Buffer.from(page));
    });
  }

  #eachPage(
    offsetBytes: number,
    lengthBytes: number,
    visit: (index: number, pageOffset: number, dataOffset: number, bytes: number) => void,
  ): void {
    let at = offsetBytes;
    const end = offsetBytes + lengthBytes;
    while (at < end) {
      const index = Math.floor(at / PAGE_BYTES);
      const pageOffset = at - index * PAGE_BYTES;
      const bytes = Math.min(PAGE_BYTES - pageOffset, end - at);
      visit(index, pageOffset, at - offsetBytes, bytes);
      at += bytes;
    }
  }
}
