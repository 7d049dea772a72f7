/**
 * The admin actions of `POST …/{id}/action` (wsgi.py `action_peek_json` and
 * `AdminActionsMixin`): the body has exactly one key, the action's name, which must be one
 * the route knows and valid for the requested version (`os-` names in 2.4–2.6).
 */
import { StrataError } from '../../../lib/errors.js';
import type { ManilaContext } from './context.js';
import type { GroupFlavor } from './flavors.js';
import { requireWindow } from './microversion.js';
import { isObject } from './requests.js';

const bad = (message: string) => new StrataError('INVALID_ARGUMENT', message);

export function actionOf(flavor: GroupFlavor, context: ManilaContext): { action: 'reset_status' | 'force_delete'; value: unknown } {
  const body = context.body;
  if (!isObject(body) || Object.keys(body).length !== 1) throw new StrataError('INVALID_JSON', 'too many body keys');
  const key = Object.keys(body)[0];
  const known = Object.hasOwn(flavor.actions, key) ? flavor.actions[key] : undefined;
  if (known === undefined) throw bad(`There is no such action: ${key}`);
  requireWindow(context.requested, known.windows);
  return { action: known.action, value: body[key] };
}

/** The statuses Manila accepts in reset_status, in the order its message lists them. */
const manilaStatuses = ['creating', 'available', 'deleting', 'error', 'error_deleting', 'migrating', 'migrating_to'] as const;
/** Those Strata can set: the others belong to running jobs (or do not exist in Strata). */
export const settableStatuses = ['available', 'creating', 'error', 'error_deleting'] as const;
export type SettableStatus = (typeof settableStatuses)[number];

/** `{"status": X}` of a reset_status body, checked as `AdminActionsMixin.validate_update` does. */
export function resetStatusOf(value: unknown): SettableStatus {
  if (!isObject(value) || !('status' in value)) throw bad("Must specify 'status'");
  const status = value.status;
  if (typeof status !== 'string' || !(manilaStatuses as readonly string[]).includes(status)) {
    throw bad(`Invalid state. Valid states: ${manilaStatuses.join(', ')}.`);
  }
  if (!(settableStatuses as readonly string[]).includes(status)) {
    throw bad(`Strata cannot set the status '${status}': a running job owns it. Settable states: ${settableStatuses.join(', ')}.`);
  }
  return status as SettableStatus;
}
