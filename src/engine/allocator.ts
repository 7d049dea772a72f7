/**
 * Chunk slots of the data file: reference counts, a free list and a high-water mark.
 *
 * The allocator's state is never persisted: on open it is rebuilt from the map (a slot is in
 * use iff a committed map entry references it). That is what frees the slots of writes that
 * never committed (invariant D4 in ARCHITECTURE.md). A slot whose last reference is dropped is
 * parked until the commit that dropped it is durable (`release`), so a crash can never find a
 * committed entry pointing at a slot that was reused (D5).
 */
import { assert } from '../lib/assert.js';

export class SlotAllocator {
  private refcounts: Uint32Array;
  private freeSlots: number[] = [];
  private parked: number[] = [];
  /** Parked slots taken by commits still being written; free once each commit is durable. */
  private readonly committing = new Set<number[]>();
  private highWater = 0;

  constructor(initialCapacity = 1024) {
    this.refcounts = new Uint32Array(initialCapacity);
  }

  /** Slots below the high-water mark: the data file holds at least this many chunks. */
  get slotCount(): number {
    return this.highWater;
  }

  get freeCount(): number {
    return this.freeSlots.length;
  }

  get parkedCount(): number {
    let count = this.parked.length;
    for (const batch of this.committing) count += batch.length;
    return count;
  }

  refcount(slot: number): number {
    return slot < this.refcounts.length ? this.refcounts[slot] : 0;
  }

  /** A new slot with one reference. */
  allocate(): number {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.highWater++;
    this.ensureCapacity(slot + 1);
    assert(this.refcounts[slot] === 0, `slot ${slot} allocated while referenced`);
    this.refcounts[slot] = 1;
    return slot;
  }

  reference(slot: number): void {
    assert(slot < this.highWater && this.refcounts[slot] > 0, `reference to unallocated slot ${slot}`);
    this.refcounts[slot]++;
  }

  /** Drops one reference; a slot left with none is parked until the next durable commit. */
  dereference(slot: number): void {
    assert(slot < this.highWater && this.refcounts[slot] > 0, `dereference of unallocated slot ${slot}`);
    if (--this.refcounts[slot] === 0) this.parked.push(slot);
  }

  /** Takes the parked slots; the caller passes them to `release` once its commit is durable. */
  takeParked(): number[] {
    const parked = this.parked;
    this.parked = [];
    this.committing.add(parked);
    return parked;
  }

  release(slots: number[]): void {
    assert(this.committing.delete(slots), 'release of slots that were not taken for a commit');
    for (const slot of slots) {
      if (this.refcounts[slot] === 0) this.freeSlots.push(slot);
    }
  }

  /** Rebuilds from the references of a loaded map: every unreferenced slot below the mark is free. */
  static fromReferences(references: Iterable<number>): SlotAllocator {
    const allocator = new SlotAllocator();
    for (const slot of references) {
      allocator.ensureCapacity(slot + 1);
      allocator.refcounts[slot]++;
      if (slot >= allocator.highWater) allocator.highWater = slot + 1;
    }
    for (let slot = allocator.highWater - 1; slot >= 0; slot--) {
      if (allocator.refcounts[slot] === 0) allocator.freeSlots.push(slot);
    }
    return allocator;
  }

  /** For fsck: every slot below the mark is exactly one of referenced, free or parked. */
  accountingViolations(expected: Map<number, number>): string[] {
    const violations: string[] = [];
    const free = new Set<number>();
    for (const slot of this.freeSlots) {
      if (free.has(slot)) violations.push(`slot ${slot} is on the free list twice`);
      free.add(slot);
    }
    const parked = new Set(this.parked);
    for (const batch of this.committing) for (const slot of batch) parked.add(slot);
    for (let slot = 0; slot < this.highWater; slot++) {
      const want = expected.get(slot) ?? 0;
      const have = this.refcounts[slot];
      if (want !== have) violations.push(`slot ${slot} has refcount ${have} but ${want} map references`);
      if (want > 0 && (free.has(slot) || parked.has(slot))) violations.push(`slot ${slot} is referenced and also free`);
      if (want === 0 && !free.has(slot) && !parked.has(slot)) violations.push(`slot ${slot} is leaked: unreferenced and not free`);
    }
    for (const slot of expected.keys()) {
      if (slot >= this.highWater) violations.push(`slot ${slot} is referenced beyond the high-water mark ${this.highWater}`);
    }
    return violations;
  }

  private ensureCapacity(size: number): void {
    if (size <= this.refcounts.length) return;
    let capacity = this.refcounts.length;
    while (capacity < size) capacity *= 2;
    const grown = new Uint32Array(capacity);
    grown.set(this.refcounts);
    this.refcounts = grown;
  }
}
