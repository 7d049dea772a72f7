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

/** Moves focus to the element matching `selector` once the next render has drawn it. */
export function focusSoon(selector) {
  setTimeout(() => document.querySelector(selector)?.focus(), 0);
}

/** Called when the token stopped working (expired or revoked elsewhere): back to sign-in. */
let onSessionEnd = () => undefined;
export function setSessionEnd(fn) {
  onSessionEnd = fn;
}

/** Shows an API error as its code and message in the page's alert region. */
export function showError(error) {
  if (error instanceof ApiError && error.status === 401 && ui.me !== null) return onSessionEnd();
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
