/**
 * What each block of a client's region may hold, for the soak and the torture.
 *
 * Every 4 KiB block keeps the versions written to it, each with the logical time its write was
 * sent and the time it was acknowledged. A client never has two writes to one block in flight,
 * so a block's versions are totally ordered. From that history the model answers:
 *
 * - live: a block with no write in flight holds exactly its last acknowledged version;
 * - after a crash: the version last acknowledged before the client's last completed flush was
 *   sent, or any version sent after it (acknowledged or not);
 * - in a snapshot taken between `start` and `end`: the last version acknowledged before
 *   `start`, or any version sent before `end` and acknowledged after `start` (or never).
 *
 * A block's content names its place and its version: bytes 0-3 the block's global number,
 * bytes 4-7 the version's tag, then the tag repeated (or, for qemu-io's patterns, one byte
 * repeated), so a misplaced or stale block says which write it came from.
 */
export const blockBytes = 4096;

/** A logical clock shared by every client: each event takes the next tick. */
let clock = 0;
export const tick = (): number => ++clock;

export type Content = { kind: 'tag'; tag: number } | { kind: 'byte'; byte: number } | { kind: 'zero' };

interface Version {
  content: Content;
  sentAt: number;
  /** Infinity until acknowledged (and for ever if the server died first). */
  ackedAt: number;
}

let nextTag = 1;
export const newTag = (): number => nextTag++ >>> 0;

export function render(globalBlock: number, content: Content): Buffer {
  const out = Buffer.allocUnsafe(blockBytes);
  if (content.kind === 'zero') return out.fill(0);
  if (content.kind === 'byte') return out.fill(content.byte);
  const word = Buffer.allocUnsafe(4);
  word.writeUInt32BE(content.tag);
  out.fill(word);
  out.writeUInt32BE(globalBlock >>> 0, 0);
  return out;
}

export function describe(content: Content): string {
  return content.kind === 'tag' ? `tag ${content.tag}` : content.kind === 'byte' ? `byte 0x${content.byte.toString(16)}` : 'zeroes';
}

/** What a block actually holds, for failure messages. */
export function describeActual(data: Buffer): string {
  if (data.every((b) => b === 0)) return 'zeroes';
  if (data.every((b) => b === data[0])) return `byte 0x${data[0].toString(16)}`;
  return `block header ${data.readUInt32BE(0)}, tag ${data.readUInt32BE(4)}`;
}

/** One client's region: `blocks` consecutive 4 KiB blocks from `offsetBytes` of one export. */
export class Region {
  readonly #versions: Version[][];
  /** Blocks with a write in flight. */
  readonly #busy = new Set<number>();
  /** Versions acknowledged at or before this tick are durable (the last completed flush's send time). */
  #durableAt = 0;

  constructor(
    readonly name: string,
    readonly offsetBytes: number,
    readonly blocks: number,
    /** Number of the region's first block across all regions (what block headers record). */
    readonly firstGlobalBlock: number,
  ) {
    this.#versions = Array.from({ length: blocks }, () => [{ content: { kind: 'zero' } as Content, sentAt: 0, ackedAt: 0 }]);
  }

  isBusy(block: number): boolean {
    return this.#busy.has(block);
  }

  /** Records a write of `contents` to consecutive blocks from `first`; returns its data and the acknowledgement hook. */
  begin(first: number, contents: Content[]): { data: Buffer; ack(): void } {
    const sentAt = tick();
    const versions = contents.map((content, i) => {
      const block = first + i;
      if (this.#busy.has(block)) throw new Error(`${this.name}: block ${block} already has a write in flight`);
      this.#busy.add(block);
      const version: Version = { content, sentAt, ackedAt: Infinity };
      this.#versions[block].push(version);
      return version;
    });
    const data = Buffer.concat(contents.map((content, i) => render(this.firstGlobalBlock + first + i, content)));
    return {
      data,
      ack: () => {
        const ackedAt = tick();
        for (const version of versions) version.ackedAt = ackedAt;
        for (let i = 0; i < contents.length; i++) this.#busy.delete(first + i);
      },
    };
  }

  /** Releases blocks whose write failed or never got an answer (their version stays possible). */
  abandon(first: number, count: number): void {
    for (let i = 0; i < count; i++) this.#busy.delete(first + i);
  }

  /** A flush sent at `sentAt` completed: every version acknowledged before then is durable. */
  flushed(sentAt: number): void {
    this.#durableAt = Math.max(this.#durableAt, sentAt);
  }

  /** The one version a block with no write in flight must hold. */
  live(block: number): Content {
    const versions = this.#versions[block];
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i].ackedAt !== Infinity) return versions[i].content;
    throw new Error('unreachable: the initial version is acknowledged');
  }

  /** What a block may hold after the server was killed. */
  afterCrash(block: number): Content[] {
    const versions = this.#versions[block];
    let from = 0;
    for (let i = versions.length - 1; i >= 0; i--) {
      if (versions[i].ackedAt <= this.#durableAt) {
        from = i;
        break;
      }
    }
    return versions.slice(from).map((v) => v.content);
  }

  /** What a block may hold in a snapshot created between ticks `start` and `end`. */
  atInstant(block: number, start: number, end: number): Content[] {
    const versions = this.#versions[block];
    let from = 0;
    for (let i = versions.length - 1; i >= 0; i--) {
      if (versions[i].ackedAt < start) {
        from = i;
        break;
      }
    }
    return versions.slice(from).filter((v) => v.sentAt <= end).map((v) => v.content);
  }

  /** Whether a write to `block` was sent after tick `after` and acknowledged before tick `before`. */
  writtenBetween(block: number, after: number, before: number): boolean {
    return this.#versions[block].some((v) => v.sentAt > after && v.ackedAt < before);
  }

  /** What a block was found to hold after a restart: it is now the block's only version (durable once the scan ends). */
  #settle(block: number, content: Content, at: number): void {
    this.#versions[block] = [{ content, sentAt: at, ackedAt: at }];
  }

  /**
   * After a restart: checks `data` (the region's blocks from `first`) against what may have
   * survived the crash, and makes what each block holds its only version; returns the problems.
   */
  settleAfterCrash(first: number, data: Buffer, what: string): string[] {
    const problems: string[] = [];
    // Settled versions carry this tick; it must not move the durable point before every block is checked.
    const at = this.#durableAt;
    for (let i = 0; i * blockBytes < data.length; i++) {
      const block = first + i;
      const actual = data.subarray(i * blockBytes, (i + 1) * blockBytes);
      const candidates = this.afterCrash(block);
      const found = candidates.find((c) => render(this.firstGlobalBlock + block, c).equals(actual));
      if (found !== undefined) this.#settle(block, found, at);
      else {
        problems.push(
          `${what}: ${this.name} block ${block} (byte ${this.offsetBytes + block * blockBytes}) holds ${describeActual(actual)}; ` +
            `allowed after the crash: ${candidates.map(describe).join(' | ')}`,
        );
      }
    }
    this.#busy.clear();
    return problems;
  }

  /** Forgets versions nobody can ask about: those replaced before `keepFrom` (and before the durable point). */
  prune(keepFrom: number): void {
    const threshold = Math.min(keepFrom, this.#durableAt);
    for (const versions of this.#versions) {
      let cut = 0;
      for (let i = versions.length - 1; i > 0; i--) {
        if (versions[i].ackedAt < threshold) {
          cut = i;
          break;
        }
      }
      if (cut > 0) versions.splice(0, cut);
    }
  }

  /** Checks `data` (the region's blocks from `first`) against the allowed contents; returns one message per wrong block. */
  check(first: number, data: Buffer, allowed: (block: number) => Content[], what: string): string[] {
    const problems: string[] = [];
    for (let i = 0; i * blockBytes < data.length; i++) {
      const block = first + i;
      const actual = data.subarray(i * blockBytes, (i + 1) * blockBytes);
      const candidates = allowed(block);
      if (candidates.some((c) => render(this.firstGlobalBlock + block, c).equals(actual))) continue;
      problems.push(
        `${what}: ${this.name} block ${block} (byte ${this.offsetBytes + block * blockBytes}) holds ${describeActual(actual)}; ` +
          `allowed: ${candidates.map(describe).join(' | ')}`,
      );
    }
    return problems;
  }
}

/** A small seeded generator (mulberry32), so a failing run can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
