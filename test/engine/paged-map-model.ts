/** The paged map's model (a plain map of its entries) and checks shared by its tests. */
import assert from 'node:assert/strict';
import { tombstoneSlot } from '../../src/engine/layout.js';
import type { MapEntry, PagedMap } from '../../src/engine/paged-map.js';

export const sectorsPerChunk = 2;

export class MapModel {
  readonly entries = new Map<string, MapEntry & { volumeId: number; chunk: number }>();
  /** `${volumeId}/${chunk}` → the generations it has entries at. */
  private readonly byChunk = new Map<string, Set<number>>();

  static key(volumeId: number, chunk: number, generation: number): string {
    return `${volumeId}/${chunk}/${generation}`;
  }

  put(volumeId: number, chunk: number, entry: MapEntry): void {
    this.entries.set(MapModel.key(volumeId, chunk, entry.generation), { ...entry, volumeId, chunk });
    const generations = this.byChunk.get(`${volumeId}/${chunk}`) ?? new Set<number>();
    generations.add(entry.generation);
    this.byChunk.set(`${volumeId}/${chunk}`, generations);
  }

  remove(volumeId: number, chunk: number, generation: number): void {
    this.entries.delete(MapModel.key(volumeId, chunk, generation));
    this.byChunk.get(`${volumeId}/${chunk}`)?.delete(generation);
  }

  visible(volumeId: number, chunk: number, generation: number): MapEntry | undefined {
    let best = -1;
    for (const candidate of this.byChunk.get(`${volumeId}/${chunk}`) ?? []) {
      if (candidate <= generation && candidate > best) best = candidate;
    }
    return best < 0 ? undefined : this.entries.get(MapModel.key(volumeId, chunk, best));
  }

  clone(): MapModel {
    const copy = new MapModel();
    for (const entry of this.entries.values()) copy.put(entry.volumeId, entry.chunk, { generation: entry.generation, slot: entry.slot, checksums: entry.checksums });
    return copy;
  }

  inGenerations(volumeId: number, low: number, high: number): Array<[number, number]> {
    return [...this.entries.values()]
      .filter((entry) => entry.volumeId === volumeId && entry.generation > low && entry.generation <= high)
      .map((entry): [number, number] => [entry.chunk, entry.generation])
      .sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  }
}

export function entryFor(seed: number, generation: number): MapEntry {
  if (seed % 7 === 0) return { generation, slot: tombstoneSlot, checksums: null };
  return { generation, slot: seed, checksums: Uint32Array.from({ length: sectorsPerChunk }, (_, i) => (seed * 31 + i) >>> 0) };
}

/** Every entry of the map equals the model's, through `entries` and `visible`. */
export async function assertSameContent(map: PagedMap, model: MapModel, volumes: number[], label: string): Promise<void> {
  for (const volumeId of volumes) {
    const got = (await map.entries(volumeId)).map(([chunk, entry]) => `${chunk}/${entry.generation}=${entry.slot}:${entry.checksums?.join(',') ?? '-'}`);
    const want = [...model.entries.values()]
      .filter((entry) => entry.volumeId === volumeId)
      .sort((a, b) => a.chunk - b.chunk || a.generation - b.generation)
      .map((entry) => `${entry.chunk}/${entry.generation}=${entry.slot}:${entry.checksums?.join(',') ?? '-'}`);
    assert.deepEqual(got, want, `${label}: entries of volume ${volumeId}`);
  }
  // The lookup path too: every model key, and one generation above it.
  for (const entry of model.entries.values()) {
    for (const generation of [entry.generation, entry.generation + 1]) {
      const want = model.visible(entry.volumeId, entry.chunk, generation);
      const got = await map.visible(entry.volumeId, entry.chunk, generation);
      assert.deepEqual(got, want && { generation: want.generation, slot: want.slot, checksums: want.checksums }, `${label}: visible(${entry.volumeId}, ${entry.chunk}, ${generation})`);
    }
  }
}

