/**
 * This instance's write fence per volume: writes enter and leave; a fence waits for the writes
 * in flight to drain, holds new ones back while its body runs, then lets them go. Writes at
 * other instances are held back by the image's exclusive lock instead (backend.ts).
 */
import { assert } from '../../lib/assert.js';

interface Gate {
  inFlight: number;
  drained: (() => void)[];
  fence: Promise<void> | null;
}

export class WriteGates {
  private readonly gates = new Map<number, Gate>();

  private gate(volumeId: number): Gate {
    let gate = this.gates.get(volumeId);
    if (gate === undefined) {
      gate = { inFlight: 0, drained: [], fence: null };
      this.gates.set(volumeId, gate);
    }
    return gate;
  }

  async enter(volumeId: number): Promise<void> {
    // The gate is looked up again after each wait: a fence that ends with nothing in flight
    // drops its gate from the map, and counting on that stale object would leave the next
    // fence waiting for writes it cannot see drain.
    for (;;) {
      const gate = this.gate(volumeId);
      if (gate.fence === null) {
        gate.inFlight++;
        return;
      }
      await gate.fence;
    }
  }

  leave(volumeId: number): void {
    const gate = this.gates.get(volumeId);
    assert(gate !== undefined && gate.inFlight > 0, `write gate of volume ${volumeId} left more often than entered`);
    gate.inFlight--;
    if (gate.inFlight === 0) {
      for (const resolve of gate.drained.splice(0)) resolve();
      if (gate.fence === null) this.gates.delete(volumeId);
    }
  }

  /** Runs `body` with no write of this instance in flight on any of `volumeIds` (one fence at a time per volume). */
  async fence<T>(volumeIds: number[], body: () => Promise<T>): Promise<T> {
    // Looked up again after each wait, for the same reason as in `enter`: a fence set on a
    // dropped gate would not hold back the writes that find the new one.
    let gates: Gate[];
    for (;;) {
      gates = volumeIds.map((id) => this.gate(id));
      const held = gates.find((gate) => gate.fence !== null);
      if (held === undefined) break;
      await held.fence;
    }
    let release!: () => void;
    const fence = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (const gate of gates) gate.fence = fence;
    try {
      await Promise.all(gates.map((gate) => (gate.inFlight === 0 ? undefined : new Promise<void>((resolve) => gate.drained.push(resolve)))));
      return await body();
    } finally {
      for (const gate of gates) gate.fence = null;
      volumeIds.forEach((id, index) => {
        if (gates[index].inFlight === 0) this.gates.delete(id);
      });
      release();
    }
  }
}
