// Groups and group snapshots, attachments, jobs (live progress) and quotas with usage.
import { html, nothing } from '../vendor/lit-html/lit-html.js';
import { del, get, post, when } from '../api.js';
import { jobRow, track } from '../jobs.js';
import { attempt, fields, ui, update } from '../ui.js';

const groups = { groups: [], snapshots: [], volumes: new Map(), confirm: undefined };

async function loadGroups() {
  const [g, gs, v] = await Promise.all([get('/groups?limit=100'), get('/group-snapshots?limit=100'), get('/volumes?limit=1000')]);
  groups.groups = g.groups;
  groups.snapshots = gs.group_snapshots;
  groups.volumes = new Map(v.volumes.map((volume) => [volume.id, volume.name]));
}

async function snapshotGroup(event, group) {
  const f = fields(event);
  await attempt(async () => {
    const body = await post(`/groups/${group.id}/snapshots`, { name: f.name.trim() });
    if (body.job !== undefined) track(body.job, `Snapshot group ${group.name}`, () => void attempt(loadGroups));
    await loadGroups();
  });
}

/** Revert or delete a group snapshot, after a confirmation in its row; both are jobs. */
function groupSnapshotActions(gs) {
  const c = groups.confirm;
  if (c !== undefined && c.id === gs.id) {
    const run = () =>
      attempt(async () => {
        groups.confirm = undefined;
        const body = c.kind === 'revert' ? await post(`/group-snapshots/${gs.id}/revert`, {}) : await del(`/group-snapshots/${gs.id}`);
        track(body.job, `${c.kind === 'revert' ? 'Revert to' : 'Delete'} group snapshot ${gs.name}`, () => void attempt(loadGroups));
        await loadGroups();
      });
    return html`<span role="alertdialog" aria-label="Confirm">${c.kind === 'revert' ? `Revert all ${gs.snapshots.length} volumes?` : 'Delete it and its member snapshots?'}
      <button class="danger" @click=${run}>${c.kind === 'revert' ? 'Revert' : 'Delete'}</button>
      <button @click=${() => { groups.confirm = undefined; update(); }}>Cancel</button></span>`;
  }
  const ask = (kind) => {
    groups.confirm = { id: gs.id, kind };
    update();
  };
  return html`<button @click=${() => ask('revert')}>Revert</button> <button class="danger" @click=${() => ask('delete')}>Delete</button>`;
}

const groupsView = () => html`<h1>Groups</h1>
  ${groups.groups.length === 0 ? html`<p class="empty">No consistency groups.</p>` : nothing}
  ${groups.groups.map(
    (g) => html`<section class="panel" aria-label="Group ${g.name}">
      <h2>${g.name} <span class="status ${g.status}">${g.status}</span></h2>
      <p>Members: ${g.volume_ids.map((id, i) => html`${i > 0 ? ', ' : ''}<a href="#/volumes/${id}">${groups.volumes.get(id) ?? id}</a>`)}</p>
      <form class="inline" @submit=${(e) => snapshotGroup(e, g)}>
        <label for="gs-${g.id}">Group snapshot name</label>
        <input id="gs-${g.id}" name="name" required maxlength="255" />
        <button type="submit">Take group snapshot</button>
      </form>
    </section>`,
  )}
  <h2>Group snapshots</h2>
  <div class="table-wrap"><table>
    <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Members</th><th scope="col">Writes held</th><th scope="col">Taken</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${groups.snapshots.length === 0 ? html`<tr><td colspan="6" class="empty">No group snapshots.</td></tr>` : nothing}${groups.snapshots.map(
      (s) => html`<tr><th scope="row">${s.name}</th><td>${s.status}</td><td>${s.snapshots.length}</td><td class="num">${s.fence_held_ms ?? '—'} ms</td><td>${when(s.created_at)}</td><td>${groupSnapshotActions(s)}</td></tr>`,
    )}</tbody>
  </table></div>`;

export const groupsPage = { title: () => 'Groups', load: loadGroups, view: groupsView, reset: () => Object.assign(groups, { groups: [], snapshots: [], confirm: undefined }) };

const attachments = { items: [] };
const loadAttachments = async () => {
  attachments.items = (await get('/attachments?limit=1000')).attachments;
};

const attachmentsView = () => html`<h1>Attachments</h1>
  <div class="table-wrap"><table>
    <thead><tr><th scope="col">NBD URI</th><th scope="col">Mode</th><th scope="col">Of</th><th scope="col">Since</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${attachments.items.length === 0
      ? html`<tr><td colspan="5" class="empty">No attachments.</td></tr>`
      : attachments.items.map(
          (a) => html`<tr>
            <td><code>${a.uri}</code></td><td>${a.mode}</td>
            <td>${a.volume_id === null ? html`snapshot ${a.snapshot_id}` : html`<a href="#/volumes/${a.volume_id}">volume</a>`}</td>
            <td>${when(a.created_at)}</td>
            <td><button @click=${() => attempt(async () => { await del(`/attachments/${a.id}`); await loadAttachments(); })}>Detach</button></td>
          </tr>`,
        )}</tbody>
  </table></div>`;

export const attachmentsPage = { title: () => 'Attachments', load: loadAttachments, view: attachmentsView, reset: () => (attachments.items = []) };

const jobs = { items: [], timer: null };

async function loadJobs() {
  jobs.items = (await get('/jobs?limit=50&order=desc')).jobs;
  clearTimeout(jobs.timer);
  // Refresh while any job is unfinished and this page is open.
  if (jobs.items.some((j) => j.status === 'queued' || j.status === 'running')) {
    jobs.timer = setTimeout(() => {
      if (ui.route?.page === jobsPage) void attempt(loadJobs);
    }, 1000);
  }
}

const jobsView = () => html`<h1>Jobs</h1>
  <ul class="job-list">${jobs.items.length === 0 ? html`<li class="empty">No jobs.</li>` : jobs.items.map((j) => jobRow(j, `${j.kind} · ${when(j.created_at)}`))}</ul>`;

export const jobsPage = { title: () => 'Jobs', load: loadJobs, view: jobsView, reset: () => (jobs.items = []) };

const quotas = { rows: [] };

async function loadQuotas() {
  const projects = ui.projects.length > 0 ? ui.projects : [ui.me.project];
  quotas.rows = await Promise.all(projects.map(async (p) => ({ project: p, quotas: (await get(`/projects/${p.id}/quotas`)).quotas })));
}

const limit = (n) => (n === -1 ? 'unlimited' : n);
const usageCell = (used, max) => html`<td class="num">${used} / ${limit(max)} ${max > 0 ? html`<meter min="0" max=${max} value=${used} aria-label="${used} of ${max}"></meter>` : nothing}</td>`;

const quotasView = () => html`<h1>Quotas and usage</h1>
  <div class="table-wrap"><table>
    <thead><tr><th scope="col">Project</th><th scope="col">Volumes</th><th scope="col">Snapshots</th><th scope="col">GiB</th><th scope="col">Snapshots per volume</th></tr></thead>
    <tbody>${quotas.rows.map(
      ({ project, quotas: q }) => html`<tr>
        <th scope="row">${project.name}</th>
        ${usageCell(q.usage.volumes, q.limits.volumes)} ${usageCell(q.usage.snapshots, q.limits.snapshots)} ${usageCell(q.usage.gigabytes, q.limits.gigabytes)}
        <td class="num">${limit(q.limits.snapshots_per_volume)}</td>
      </tr>`,
    )}</tbody>
  </table></div>`;

export const quotasPage = { title: () => 'Quotas', load: loadQuotas, view: quotasView, reset: () => (quotas.rows = []) };
