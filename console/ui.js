// The console's shared state and render scheduling: one render per turn, whatever changed.
import { ApiError } from './api.js';

export const ui = {
  me: null,
  projects: [],
  route: null,
  error: null,
  notice: null,
  signingIn: false,
  switching: false,
};

let renderer = () => undefined;
let scheduled = false;

export function setRenderer(fn) {
  renderer = fn;
}

/** Schedules a render of the whole page (lit-html changes only what differs). */
export function update() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    renderer();
  });
}

/** Shows an API error as its code and message in the page's alert region. */
export function showError(error) {
  ui.error = error instanceof ApiError ? { code: error.code, message: error.message } : { code: 'ERROR', message: String(error?.message ?? error) };
  update();
}

/** Runs an action, showing its error if it fails; true when it succeeded. */
export async function attempt(action) {
  try {
    ui.error = null;
    await action();
    return true;
  } catch (error) {
    showError(error);
    return false;
  } finally {
    update();
  }
}

/** The named fields of a submitted form, as strings. */
export function fields(event) {
  event.preventDefault();
  return Object.fromEntries([...new FormData(event.target).entries()].map(([k, v]) => [k, String(v)]));
}
