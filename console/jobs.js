// Jobs the console started, followed until they end: a progress bar each in a live region,
// polled in the background so the page never waits on them.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { get } from './api.js';
import { update } from './ui.js';

const pollMs = 400;
const keptFinished = 8;
const tracked = [];

/** Follows a job; `onEnd(job)` runs once when it succeeds or fails. */
export function track(job, label, onEnd = () => undefined) {
  const entry = { job, label, onEnd };
  tracked.unshift(entry);
  while (tracked.filter((t) => finished(t.job)).length > keptFinished) tracked.splice(tracked.findLastIndex((t) => finished(t.job)), 1);
  update();
  void follow(entry);
  return entry;
}

/** Forgets every job (on sign-out: the next user of the tab does not see them). */
export function forgetJobs() {
  for (const entry of tracked) entry.forgotten = true;
  tracked.length = 0;
  update();
}

const finished = (job) => job.status === 'succeeded' || job.status === 'failed';

async function follow(entry) {
  while (!finished(entry.job) && entry.forgotten !== true) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    try {
      entry.job = (await get(`/jobs/${entry.job.id}`)).job;
    } catch (error) {
      entry.job = { ...entry.job, status: 'failed', error: { code: error.code ?? 'ERROR', message: error.message } };
    }
    update();
  }
  if (entry.forgotten === true) return;
  entry.onEnd(entry.job);
  update();
}

export const percent = (job) => `${Math.round((job.status === 'succeeded' ? 1 : job.progress) * 100)}%`;

export function jobRow(job, label) {
  const error = job.error === undefined || job.error === null ? nothing : html`<span class="code">${job.error.code ?? ''}</span> ${job.error.message ?? ''}`;
  return html`<li class="job ${job.status}">
    <span class="job-label">${label}</span>
    <progress max="1" value=${job.status === 'succeeded' ? 1 : job.progress} aria-label="${label}: ${job.status}, ${percent(job)}"></progress>
    <span class="job-status">${job.status} ${percent(job)}</span>
    ${error}
  </li>`;
}

export function jobsPanel() {
  return html`<aside class="jobs" aria-labelledby="jobs-title">
    <h2 id="jobs-title">Work started here</h2>
    <ul aria-live="polite">
      ${tracked.length === 0 ? html`<li class="empty">None yet.</li>` : tracked.map((t) => jobRow(t.job, t.label))}
    </ul>
  </aside>`;
}
