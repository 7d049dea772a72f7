/**
 * A policy's schedule: a cron expression (five fields, or six with seconds first) read in an
 * IANA time zone, evaluated by croner. Pure: every function takes the instant it reasons about.
 */
import { Cron } from 'croner';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';

export interface Schedule {
  cron: Cron;
}

/** Throws INVALID_ARGUMENT (field `timezone`) unless the name is an IANA time zone. */
export function checkTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new StrataError('INVALID_ARGUMENT', `timezone ${JSON.stringify(timeZone)} is not an IANA time zone (e.g. UTC, Europe/Paris)`, { field: 'timezone' });
  }
}

/** Parses and checks a schedule; INVALID_ARGUMENT names the field at fault. */
export function compileSchedule(expression: string, timeZone: string): Schedule {
  checkTimeZone(timeZone);
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new StrataError('INVALID_ARGUMENT', `cron ${JSON.stringify(expression)} has ${fields.length} fields; give five (minute hour day month weekday), or six with seconds first`, {
      field: 'cron',
    });
  }
  try {
    return { cron: new Cron(fields.join(' '), { paused: true, timezone: timeZone, mode: '5-or-6-parts' }) };
  } catch (error) {
    throw new StrataError('INVALID_ARGUMENT', `cron ${JSON.stringify(expression)}: ${error instanceof Error ? error.message : String(error)}`, { field: 'cron' });
  }
}

/** The latest due time at or before `now`, or null when there is none. */
export function latestDue(schedule: Schedule, now: Date): Date | null {
  // croner's previous runs are strictly before the reference, in whole seconds.
  const reference = new Date(Math.floor(now.getTime() / 1000) * 1000 + 1000);
  const [previous] = schedule.cron.previousRuns(1, reference);
  return previous !== undefined && previous.getTime() <= now.getTime() ? previous : null;
}

/** The first due time strictly after `after`, or null when the expression never fires again. */
export function nextDue(schedule: Schedule, after: Date): Date | null {
  return schedule.cron.nextRun(after);
}

/**
 * How many due times fall strictly between `after` and `due` (those a stopped service missed),
 * counted up to policyMissedCountMax.
 */
export function missedBetween(schedule: Schedule, after: Date, due: Date): number {
  let missed = 0;
  let cursor = nextDue(schedule, after);
  while (cursor !== null && cursor.getTime() < due.getTime() && missed < limits.control.policyMissedCountMax) {
    missed++;
    cursor = nextDue(schedule, cursor);
  }
  return missed;
}

/** A due time in a snapshot name: `20261203T110000Z`, which sorts as time does. */
export function compactTime(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}
