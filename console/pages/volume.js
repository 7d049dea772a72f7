// A volume's page: its details and actions, its snapshot tree, the selected snapshot's actions
// (revert, clone, delete, attach read-only, diff), and the space each snapshot holds alone.
import { html, nothing } from '../vendor/lit-html/lit-html.js';
import { bytes, del, get, parseSize, patch, post, query, when } from '../api.js';
import { track } from '../jobs.js';
import { buildTree, spaceView, treeView } from '../tree.js';
import { attempt, fields, focusSoon, update } from '../ui.js';

const state = { id: null, volume: null, tree: null, attachments: [], selectedId: null, confirm: null, uri: null, clone: null, diff: null };

async function load(id) {
  if (state.id !== id) Object.assign(state, { id, volume: null, tree: null, attachments: [], selectedId: null, confirm: null, uri: null, clone: null, diff: null });
  const [volume, tree, attachments] = await Promise.all([get(`/volumes/${id}`), get(`/volumes/${id}/snapshot-tree`), get(`/volumes/${id}/attachments`)]);
  state.volume = volume.volume;
  state.tree = buildTree(tree);
  state.attachments = attachments.attachments;
  if (state.selectedId !== null && !state.tree.nodes.has(state.selectedId)) state.selectedId = null;
}

const reload = () => attempt(() => load(state.id));
const selected = () => (state.selectedId === null ? null : state.tree.nodes.get(state.selectedId)?.snapshot ?? null);

function select(id) {
  state.selectedId = state.selectedId === id ? null : id;
  state.uri = null;
  state.diff = null;
  state.clone = null;
  state.confirm = null;
  update();
}

/**
 * Starts a job-returning call, follows the job, reloads the page when it ends. `reloadNow`:
 * also reload at once (not for a volume's deletion: the volume may be gone before the reload).
 */
async function runJob(label, start, after = reload, reloadNow = true) {
  await attempt(async () => {
    const { job } = await start();
    track(job, label, () => void after());
    if (reloadNow) await load(state.id);
  });
}

async function takeSnapshot(event) {
  const f = fields(event);
  const form = event.target;
  await attempt(async () => {
    const { snapshot } = await post(`/volumes/${state.id}/snapshots`, { name: f.name.trim() });
    form.reset();
    await load(state.id);
    state.selectedId = snapshot.id;
  });
}

async function grow(event) {
  const f = fields(event);
  await attempt(async () => {
    const size = parseSize(`${f.size} ${f.unit}`);
    if (size === null) throw new Error(`"${f.size}" is not a size`);
    await patch(`/volumes/${state.id}`, { size_bytes: size });
    await load(state.id);
  });
}

async function attach(path, body) {
  await attempt(async () => {
    state.uri = (await post(path, body)).attachment.uri;
    await load(state.id);
  });
}

async function detach(id) {
  await attempt(async () => {
    await del(`/attachments/${id}`);
    await load(state.id);
  });
}

async function clone(event) {
  const f = fields(event);
  const s = selected();
  await attempt(async () => {
    state.clone = (await post(`/snapshots/${s.id}/clone`, { name: f.name.trim() })).volume;
  });
}

async function diff(event) {
  const f = fields(event);
  const s = selected();
  await attempt(async () => {
    // Against the live volume: what changed since this snapshot; against another: between the two.
    const body = f.against === 'live' ? await get(`/volumes/${state.id}/diff${query({ from: s.id })}`) : await get(`/snapshots/${s.id}/diff${query({ from: f.against })}`);
    const changed = body.extents.reduce((sum, e) => sum + e.length, 0);
    const against = f.against === 'live' ? 'the live volume' : state.tree.nodes.get(f.against)?.snapshot.name;
    state.diff = { against, changed, extents: body.extents.length };
  });
}

function copy(event) {
  const input = event.target.closest('.uri').querySelector('input');
  input.select();
  void navigator.clipboard?.writeText(input.value).catch(() => undefined);
}

const uriView = () =>
  state.uri === null
    ? nothing
    : html`<div class="uri" role="status"><label for="nbd-uri">NBD URI</label><input id="nbd-uri" readonly .value=${state.uri} size="48" /><button @click=${copy}>Copy</button></div>`;

function confirmView(kind) {
  const c = state.confirm;
  if (c === null || c.kind !== kind) return nothing;
  const cancel = () => {
    state.confirm = null;
    update();
  };
  return html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-text" @keydown=${(e) => e.key === 'Escape' && cancel()}>
    <p id="confirm-text">${c.text}</p>
    ${c.extra ?? nothing}
    <button class="danger" @click=${() => { state.confirm = null; void c.run(); }}>${c.action}</button>
    <button @click=${cancel}>Cancel</button>
  </div>`;
}

function askDeleteVolume() {
  const count = state.tree.nodes.size;
  state.confirm = {
    kind: 'volume',
    text: `Delete volume ${state.volume.name} and its data? This cannot be undone.`,
    extra: count === 0 ? nothing : html`<label><input type="checkbox" id="cascade" /> Also delete its ${count} snapshot${count === 1 ? '' : 's'}</label>`,
    action: 'Delete volume',
    run: () => {
      const cascade = document.getElementById('cascade')?.checked === true;
      const name = state.volume.name;
      return runJob(`Delete volume ${name}`, () => del(`/volumes/${state.id}${query({ cascade: cascade ? 'true' : undefined })}`), async () => {
        if (location.hash === `#/volumes/${state.id}`) location.hash = '#/volumes';
      }, false);
    },
  };
  update();
  focusSoon('.confirm button.danger');
}

function askDeleteSnapshot(s) {
  state.confirm = { kind: 'snapshot', text: `Delete snapshot ${s.name}? It frees ${bytes(s.exclusive_bytes)}.`, action: 'Delete snapshot', run: () => runJob(`Delete snapshot ${s.name}`, () => del(`/snapshots/${s.id}`)) };
  update();
  focusSoon('.confirm button.danger');
}

function askRevert(s) {
  const inUse = state.volume.status === 'in-use';
  state.confirm = {
    kind: 'snapshot',
    text: inUse
      ? `Volume ${state.volume.name} is attached read-write: its clients will see the disk change under them. Revert it to ${s.name} anyway?`
      : `Revert volume ${state.volume.name} to ${s.name}? Later snapshots are kept on their own branch.`,
    action: inUse ? 'Revert anyway' : 'Revert',
    run: () => runJob(`Revert ${state.volume.name} to ${s.name}`, () => post(`/snapshots/${s.id}/revert`, inUse ? { force: true } : {})),
  };
  update();
  focusSoon('.confirm button.danger');
}

function snapshotPanel() {
  const s = selected();
  if (s === null) return html`<p class="hint">Select a snapshot in the tree to act on it.</p>`;
  const others = [...state.tree.nodes.values()].map((n) => n.snapshot).filter((o) => o.id !== s.id && o.status === 'available');
  return html`<section class="panel selected" aria-labelledby="selected-title">
    <h3 id="selected-title">Snapshot ${s.name}</h3>
    <dl>
      <dt>Taken</dt><dd>${when(s.created_at)}</dd>
      <dt>Status</dt><dd>${s.status}</dd>
      <dt>Holds alone</dt><dd>${bytes(s.exclusive_bytes)}</dd>
      <dt>Size</dt><dd>${bytes(s.size_bytes)}</dd>
      <dt>Policy</dt><dd>${s.policy_id ?? (s.group_snapshot_id === null ? 'manual' : 'group snapshot')}</dd>
    </dl>
    <div class="actions">
      <button @click=${() => askRevert(s)}>Revert to this snapshot</button>
      <button @click=${() => attach(`/snapshots/${s.id}/attachments`)}>Attach read-only</button>
      <button class="danger" @click=${() => askDeleteSnapshot(s)}>Delete snapshot</button>
    </div>
    ${state.volume.status === 'in-use' ? html`<p class="warning">The volume is attached read-write; a revert needs confirming.</p>` : nothing}
    ${confirmView('snapshot')} ${uriView()}
    <form class="inline" @submit=${clone}>
      <label for="clone-name">Clone as</label>
      <input id="clone-name" name="name" required maxlength="255" value="${s.name}-clone" />
      <button type="submit">Clone</button>
    </form>
    ${state.clone === null ? nothing : html`<p role="status">Cloned as <a href="#/volumes/${state.clone.id}">${state.clone.name}</a>.</p>`}
    <form class="inline" @submit=${diff}>
      <label for="diff-against">Compare with</label>
      <select id="diff-against" name="against">
        <option value="live">the live volume</option>
        ${others.map((o) => html`<option value=${o.id}>${o.name}</option>`)}
      </select>
      <button type="submit">Diff</button>
    </form>
    ${state.diff === null ? nothing : html`<p role="status" class="diff">${bytes(state.diff.changed)} changed between ${s.name} and ${state.diff.against} (${state.diff.extents} extents).</p>`}
  </section>`;
}

function volumeHeader(v) {
  return html`<h1>Volume ${v.name}</h1>
    <dl class="facts">
      <div><dt>Status</dt><dd><span class="status ${v.status}">${v.status}</span></dd></div>
      <div><dt>Size</dt><dd>${bytes(v.size_bytes)}</dd></div>
      <div><dt>Allocated</dt><dd>${bytes(v.allocated_bytes)}</dd></div>
      <div><dt>Snapshots</dt><dd>${v.snapshot_count}</dd></div>
      <div><dt>Clone depth</dt><dd>${v.clone_depth ?? '—'}</dd></div>
      <div><dt>Created</dt><dd>${when(v.created_at)}</dd></div>
    </dl>
    <div class="panel actions-row">
      <form class="inline" @submit=${takeSnapshot}>
        <label for="snapshot-name">Snapshot name</label>
        <input id="snapshot-name" name="name" required maxlength="255" />
        <button type="submit">Take snapshot</button>
      </form>
      <form class="inline" @submit=${grow}>
        <label for="grow-size">Grow to</label>
        <input id="grow-size" name="size" required inputmode="decimal" size="6" />
        <label for="grow-unit" class="visually-hidden">Unit</label>
        <select id="grow-unit" name="unit"><option>MiB</option><option selected>GiB</option><option>TiB</option></select>
        <button type="submit">Grow</button>
      </form>
      <button @click=${() => attach(`/volumes/${state.id}/attachments`, { mode: 'rw' })}>Attach read-write</button>
      <button class="danger" @click=${askDeleteVolume}>Delete volume</button>
      <button @click=${reload}>Refresh</button>
    </div>
    ${confirmView('volume')}
    ${state.attachments.length === 0
      ? nothing
      : html`<ul class="attachments" aria-label="Attachments">
          ${state.attachments.map((a) => html`<li><code>${a.uri}</code> (${a.mode}${a.snapshot_id ? ', a snapshot' : ''}) <button @click=${() => detach(a.id)}>Detach</button></li>`)}
        </ul>`}`;
}

function view() {
  if (state.volume === null) return html`<p>Loading…</p>`;
  const snapshots = [...state.tree.nodes.values()].map((n) => n.snapshot);
  return html`${volumeHeader(state.volume)}
    ${state.selectedId === null ? uriView() : nothing}
    <div class="split">
      <section aria-labelledby="tree-title">
        <h2 id="tree-title">Snapshot tree</h2>
        ${treeView(state.tree, { selectedId: state.selectedId, onSelect: select })}
      </section>
      <section aria-label="Selected snapshot">${snapshotPanel()}</section>
    </div>
    <section aria-labelledby="space-title">
      <h2 id="space-title">Space</h2>
      ${spaceView(state.volume, snapshots)}
    </section>`;
}

export const volumePage = { title: () => 'Volume', load, view, reset: () => Object.assign(state, { id: null, volume: null, tree: null }) };
