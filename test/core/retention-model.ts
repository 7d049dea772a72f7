/**
 * The retention rules' model, written from their definition: for each rule, group the snapshots
 * by period (computed by shifting a fixed UTC offset, not through Intl), take the n most recent
 * periods and the newest snapshot of each; keep_last takes the n newest; the result is the union.
 */
import type { Dated, PeriodRule, RetentionRules } from '../../src/core/retention.js';

const HOUR = 3_600_000;
/** Zones with a fixed offset, so the model can compute local fields by shifting. */
export const zones: Array<[name: string, offsetHours: number]> = [
  ['UTC', 0],
  ['Etc/GMT-5', 5],
  ['Etc/GMT+9', -9],
];

function modelKey(rule: PeriodRule, atMs: number, offsetHours: number): string {
  const local = new Date(atMs + offsetHours * HOUR);
  const [y, m, d, h] = [local.getUTCFullYear(), local.getUTCMonth() + 1, local.getUTCDate(), local.getUTCHours()];
  if (rule === 'hourly') return `${y}-${m}-${d}T${h}`;
  if (rule === 'daily') return `${y}-${m}-${d}`;
  if (rule === 'monthly') return `${y}-${m}`;
  if (rule === 'yearly') return `${y}`;
  // ISO week by counting Mondays: the week's Monday, then which year's week 1 it falls in.
  const monday = Date.UTC(y, m - 1, d) - ((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7) * 24 * HOUR;
  const thursday = new Date(monday + 3 * 24 * HOUR);
  const weekYear = thursday.getUTCFullYear();
  const jan4 = Date.UTC(weekYear, 0, 4);
  const week1Monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * 24 * HOUR;
  return `${weekYear}-W${Math.round((monday - week1Monday) / (7 * 24 * HOUR)) + 1}`;
}

export function model(items: Dated[], rules: RetentionRules, offsetHours: number): Set<string> {
  const byTime = [...items].sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || (a.id < b.id ? 1 : -1));
  const keep = new Set(byTime.slice(0, rules.keep_last ?? 0).map((i) => i.id));
  for (const rule of ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const periods = new Map<string, Dated[]>();
    for (const item of byTime) {
      const key = modelKey(rule, Date.parse(item.at), offsetHours);
      periods.set(key, [...(periods.get(key) ?? []), item]);
    }
    const recent = [...periods.values()].sort((a, b) => Date.parse(b[0].at) - Date.parse(a[0].at)).slice(0, rules[rule] ?? 0);
    for (const members of recent) keep.add(members[0].id);
  }
  return keep;
}

