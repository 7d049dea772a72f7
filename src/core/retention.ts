/**
 * Which snapshots a policy keeps: the grandfather-father-son rules of sanoid and
 * zfs-auto-snapshot, stated as a pure function of the snapshots' times (no clock, no database).
 *
 * - `keep_last: n` keeps the n newest.
 * - `hourly: n` (and daily, weekly, monthly, yearly) keeps, for each of the n most recent
 *   hours (days, ISO weeks, months, years) that hold at least one snapshot, the newest
 *   snapshot of that period. Periods are read in the policy's time zone.
 *
 * A snapshot is kept when any rule keeps it. Applying the rules to what they kept keeps it
 * all (the most recent periods of the kept set are the same periods), so pruning after each
 * run converges instead of eating into older periods.
 */

export interface RetentionRules {
  keep_last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export const periodRules = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type PeriodRule = (typeof periodRules)[number];

export interface Dated {
  id: string;
  /** ISO 8601 instant: the due time the snapshot was taken for. */
  at: string;
}

/** The calendar fields of an instant in a time zone. */
interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(at: Date, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric' });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour) };
}

/** ISO 8601 week of a calendar date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): { weekYear: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week
  const weekYear = date.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(weekYear, 0, 4));
  const firstWeekday = (firstThursday.getUTCDay() + 6) % 7;
  firstThursday.setUTCDate(firstThursday.getUTCDate() - firstWeekday + 3);
  return { weekYear, week: 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86_400_000)) };
}

/** The period an instant falls in, as a key equal for every instant of that period. */
export function periodKey(rule: PeriodRule, at: Date, timeZone: string): string {
  const t = localTime(at, timeZone);
  switch (rule) {
    case 'hourly':
      return `${t.year}-${t.month}-${t.day}T${t.hour}`;
    case 'daily':
      return `${t.year}-${t.month}-${t.day}`;
    case 'weekly': {
      const { weekYear, week } = isoWeek(t.year, t.month, t.day);
      return `${weekYear}-W${week}`;
    }
    case 'monthly':
      return `${t.year}-${t.month}`;
    case 'yearly':
      return `${t.year}`;
  }
}

/** True when the rules keep nothing at all (a policy needs at least one positive rule). */
export function keepsNothing(rules: RetentionRules): boolean {
  return (rules.keep_last ?? 0) <= 0 && periodRules.every((rule) => (rules[rule] ?? 0) <= 0);
}

/** The ids the rules keep out of `items` (newest first by time, ties by id). */
export function retained(items: readonly Dated[], rules: RetentionRules, timeZone: string): Set<string> {
  const newestFirst = [...items].sort((a, b) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : a.at < b.at ? 1 : -1));
  const keep = new Set<string>();
  newestFirst.slice(0, Math.max(0, rules.keep_last ?? 0)).forEach((item) => keep.add(item.id));
  for (const rule of periodRules) {
    const wanted = rules[rule] ?? 0;
    if (wanted <= 0) continue;
    const seen = new Set<string>();
    for (const item of newestFirst) {
      if (seen.size >= wanted) break;
      const key = periodKey(rule, new Date(item.at), timeZone);
      if (seen.has(key)) continue;
      seen.add(key); // the first of a period, newest first, is the period's newest
      keep.add(item.id);
    }
  }
  return keep;
}
