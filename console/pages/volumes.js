// The volume list: status, size, allocated bytes, snapshots and attachments, filtered by name
// and status, a page at a time; create a volume here, act on one from its own page.
import { html, nothing } from '../vendor/lit-html/lit-html.js';
import { bytes, get, parseSize, post, query } from '../api.js';
import { attempt, fields, update } from '../ui.js';

const statuses = ['creating', 'available', 'in-use', 'restoring', 'deleting', 'error'];
const initial = () => ({ filter: { name: '', status: '' }, limit: 20, tokens: [null], index: 0, volumes: [], next: null, attached: new Map(), loading: false, created: null });
const state = initial();

async function load() {
  state.loading = true;
  update();
  try {
    const { name, status } = state.filter;
    const page = await get(`/volumes${query({ limit: state.limit, page_token: state.tokens[state.index], name, status, sort: 'created_at', order: 'desc' })}`);
    // The list has no engine figures; each row's show has allocated bytes and the snapshot count.
    const details = await Promise.all(page.volumes.map((v) => get(`/volumes/${v.id}`).then((d) => d.volume, () => v)));
    const attachments = await get('/attachments?limit=1000');
    state.attached = new Map();
    for (const a of attachments.attachments) if (a.volume_id !== null) state.attached.set(a.volume_id, (state.attached.get(a.volume_id) ?? 0) + 1);
    state.volumes = details;
    state.next = page.next_page_token;
  } finally {
    state.loading = false;
  }
}

function reload() {
  void attempt(load);
}

function applyFilter(event) {
  const f = fields(event);
  state.filter = { name: f.name.trim(), status: f.status };
  state.limit = Number(f.limit);
  state.tokens = [null];
  state.index = 0;
  reload();
}

function turn(delta) {
  if (delta > 0) {
    state.tokens[state.index + 1] = state.next;
    state.index++;
  } else state.index = Math.max(0, state.index - 1);
  reload();
}

async function create(event) {
  const f = fields(event);
  const form = event.target;
  const size = parseSize(`${f.size} ${f.unit}`);
  await attempt(async () => {
    if (size === null) throw new Error(`"${f.size}" is not a size`);
    const { volume } = await post('/volumes', { name: f.name.trim(), size_bytes: size, ...(f.description ? { description: f.description } : {}) });
    state.created = volume;
    form.reset();
    state.tokens = [null];
    state.index = 0;
    await load();
  });
}

const createForm = () => html`<details class="panel" ?open=${state.volumes.length === 0}>
  <summary>Create a volume</summary>
  <form class="inline" @submit=${create}>
    <label for="new-volume-name">Volume name</label>
    <input id="new-volume-name" name="name" required maxlength="255" />
    <label for="new-volume-size">Size</label>
    <input id="new-volume-size" name="size" required inputmode="decimal" value="1" size="6" />
    <label for="new-volume-unit" class="visually-hidden">Unit</label>
    <select id="new-volume-unit" name="unit"><option>MiB</option><option selected>GiB</option><option>TiB</option></select>
    <label for="new-volume-description">Description</label>
    <input id="new-volume-description" name="description" maxlength="1024" />
    <button type="submit">Create volume</button>
  </form>
  ${state.created === null ? nothing : html`<p role="status">Created <a href="#/volumes/${state.created.id}">${state.created.name}</a>.</p>`}
</details>`;

const filterForm = () => html`<form class="inline filter" @submit=${applyFilter} role="search">
  <label for="filter-name">Name is</label>
  <input id="filter-name" name="name" .value=${state.filter.name} maxlength="255" />
  <label for="filter-status">Status</label>
  <select id="filter-status" name="status">
    <option value="">any</option>
    ${statuses.map((s) => html`<option ?selected=${state.filter.status === s}>${s}</option>`)}
  </select>
  <label for="filter-limit">Per page</label>
  <select id="filter-limit" name="limit">${[10, 20, 50, 100].map((n) => html`<option ?selected=${state.limit === n}>${n}</option>`)}</select>
  <button type="submit">Filter</button>
</form>`;

const row = (v) => html`<tr>
  <th scope="row"><a href="#/volumes/${v.id}">${v.name}</a></th>
  <td><span class="status ${v.status}">${v.status}</span></td>
  <td class="num">${bytes(v.size_bytes)}</td>
  <td class="num">${bytes(v.allocated_bytes)}</td>
  <td class="num">${v.snapshot_count ?? '—'}</td>
  <td class="num">${state.attached.get(v.id) ?? 0}</td>
  <td>${v.source_snapshot_id === null ? '' : 'clone'}</td>
</tr>`;

function view() {
  return html`<h1>Volumes</h1>
    ${createForm()} ${filterForm()}
    <div class="table-wrap">
      <table aria-busy=${state.loading ? 'true' : 'false'}>
        <caption class="visually-hidden">Volumes of this project</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Size</th><th scope="col">Allocated</th><th scope="col">Snapshots</th><th scope="col">Attachments</th><th scope="col">Kind</th></tr></thead>
        <tbody>${state.volumes.length === 0 ? html`<tr><td colspan="7" class="empty">${state.loading ? 'Loading…' : 'No volumes.'}</td></tr>` : state.volumes.map(row)}</tbody>
      </table>
    </div>
    <nav class="pager" aria-label="Pages">
      <button @click=${() => turn(-1)} ?disabled=${state.index === 0}>Previous page</button>
      <span>Page ${state.index + 1}</span>
      <button @click=${() => turn(1)} ?disabled=${state.next === null}>Next page</button>
      <button @click=${reload}>Refresh</button>
    </nav>`;
}

export const volumesPage = { title: () => 'Volumes', load: () => load(), view, reload, reset: () => Object.assign(state, initial()) };
