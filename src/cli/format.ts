/** Terminal output of the CLI: tables, key/value blocks, the snapshot tree, sizes. */
import type { Snapshot } from '../client/index.js';

const units: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** `10GiB`, `512M`, `4096` → bytes (binary units); null when it is not a size. */
export function parseSize(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match === null ? undefined : units[match[2].toLowerCase()];
  if (match === null || unit === undefined) return null;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

export function formatSize(bytes: number): string {
  for (const [suffix, unit] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= unit && bytes % (unit / 1024) === 0) return `${+(bytes / unit).toFixed(2)}${suffix}`;
  }
  return `${bytes}B`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cell).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Rows as aligned columns under a header. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cells = rows.map((row) => columns.map((c) => (c.endsWith('size_bytes') && typeof row[c] === 'number' ? formatSize(row[c] as number) : cell(row[c]))));
  const header = columns.map((c) => c.toUpperCase());
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]))).join('  ');
  return [line(header), ...cells.map(line)].join('\n');
}

/** One object as `key: value` lines. */
export function block(object: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(object).map((k) => k.length));
  return Object.entries(object)
    .map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${key.endsWith('size_bytes') && typeof value === 'number' ? formatSize(value) : cell(value)}`)
    .join('\n');
}

/** The snapshot tree of a volume, drawn with box characters, roots first. */
export function drawTree(tree: { root_ids: string[]; snapshots: Snapshot[] }): string {
  const byId = new Map(tree.snapshots.map((s) => [s.id, s]));
  const lines: string[] = [];
  const walk = (id: string, prefix: string, last: boolean, root: boolean) => {
    const s = byId.get(id);
    if (s === undefined) return;
    const label = `${s.name} (${s.id}) ${s.status}${s.policy_id === null ? '' : ' [policy]'}`;
    lines.push(root ? label : `${prefix}${last ? '└── ' : '├── '}${label}`);
    const children = s.children_ids ?? [];
    const next = root ? '' : `${prefix}${last ? '    ' : '│   '}`;
    children.forEach((child, i) => walk(child, next, i === children.length - 1, false));
  };
  tree.root_ids.forEach((id) => walk(id, '', true, true));
  return lines.length === 0 ? '(no snapshots)' : lines.join('\n');
}
