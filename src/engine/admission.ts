/**
 * Admission and fences: which writes may run now. A write enters through `admit` and leaves
 * through `leave`; a commit holds the whole pool (`holdPool`) and a group snapshot, revert or
 * delete holds some volumes (`fence`) while their in-flight writes drain; writes to one chunk
 * run one at a time (`lockChunk`). This class owns the gates and the in-flight counts.
 */
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import { Gate, type Volume } from './state.js';

export class Admission {
  private poolGate: Gate | null = null;
  private inflight = 0;
  private drained: Gate | null = null;

  /**
   * Waits while the pool or the volume is held, then counts the write in. `current` re-reads
   * the volume (and checks the engine is usable) after every wait.
   */
  async admit(current: () => Volume): Promise<Volume> {
    let volume = current();
    while (this.poolGate !== null || volume.gate !== null) {
      await (this.poolGate ?? volume.gate)!.promise;
      volume = current();
    }
    this.inflight++;
    volume.inflight++;
    return volume;
  }

  leave(volume: Volume): void {
    assert(this.inflight > 0 && volume.inflight > 0, 'a write left that never entered');
    this.inflight--;
    volume.inflight--;
    if (this.inflight === 0 && this.drained !== null) this.drained.open();
    if (volume.inflight === 0 && volume.drained !== null) volume.drained.open();
  }

  /** Holds every new write, waits for in-flight ones, runs `body` (synchronously), lets writes go on. */
  async holdPool<T>(body: () => T): Promise<T> {
    const gate = new Gate();
    this.poolGate = gate;
    try {
      while (this.inflight > 0) {
        this.drained = new Gate();
        await this.drained.promise;
        this.drained = null;
      }
      return body();
    } finally {
      this.poolGate = null;
      gate.open();
    }
  }

  /**
   * Holds new writes to `volumes`, waits for their in-flight writes, runs `body` (in one
   * event-loop turn, so its changes land in one commit: G1), then releases them.
   */
  async fence(volumes: Volume[], check: () => void, body: () => void): Promise<void> {
    const gates = volumes.map(() => new Gate());
    // Wait for any fence already held on these volumes, then hold our own.
    for (;;) {
      const held = volumes.find((volume) => volume.gate !== null);
      if (held === undefined) break;
      await held.gate!.promise;
    }
    volumes.forEach((volume, i) => (volume.gate = gates[i]));
    try {
      for (const volume of volumes) {
        while (volume.inflight > 0) {
          volume.drained = new Gate();
          await volume.drained.promise;
          volume.drained = null;
        }
      }
      check();
      for (const volume of volumes) {
        if (volume.state !== 'available') throw new StrataError('NOT_FOUND', `volume ${volume.id} was deleted`);
      }
      body();
    } finally {
      volumes.forEach((volume, i) => {
        volume.gate = null;
        gates[i].open();
      });
    }
  }

  /** Serializes writes to one chunk; returns the release. */
  async lockChunk(volume: Volume, chunk: number): Promise<() => void> {
    for (let held = volume.locks.get(chunk); held !== undefined; held = volume.locks.get(chunk)) await held;
    const gate = new Gate();
    volume.locks.set(chunk, gate.promise);
    return () => {
      volume.locks.delete(chunk);
      gate.open();
    };
  }
}
