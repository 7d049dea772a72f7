// A volume's snapshot tree drawn as nested lists: each snapshot under the one its data
// descended from, so a revert to an older snapshot followed by a new one shows as a second
// branch; the live volume hangs under the snapshot it descends from now.
import { html, nothing } from './vendor/lit-html/lit-html.js';
import { bytes, when } from './api.js';

/** The API's flat tree → nodes with children, roots first, each level in creation order. */
export function buildTree(body) {
  const nodes = new Map(body.snapshots.map((s) => [s.id, { snapshot: s, children: [] }]));
  for (const node of nodes.values()) {
    for (const id of node.snapshot.children_ids ?? []) {
      const child = nodes.get(id);
      if (child !== undefined) node.children.push(child);
    }
  }
  return { nodes, roots: body.root_ids.map((id) => nodes.get(id)).filter(Boolean), headParentId: body.head_parent_id ?? null };
}

/** Moves focus among the tree's node buttons with the arrow keys, Home and End. */
function onKey(event) {
  const buttons = [...event.currentTarget.querySelectorAll('button.node')];
  const at = buttons.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  buttons[Math.max(0, Math.min(buttons.length - 1, to))].focus();
}

const policyOf = (s) => (s.policy_id ? 'policy' : s.group_snapshot_id ? 'group' : 'manual');

function nodeView(node, options) {
  const s = node.snapshot;
  const selected = options.selectedId === s.id;
  const isHead = options.tree.headParentId === s.id;
  return html`<li>
    <button class="node ${s.status}" aria-pressed=${selected ? 'true' : 'false'} data-snapshot=${s.name} @click=${() => options.onSelect(s.id)}>
      <span class="node-name">${s.name}</span>
      <span class="node-meta"><time datetime=${s.created_at}>${when(s.created_at)}</time> · ${bytes(s.exclusive_bytes)} alone · ${policyOf(s)}${s.status === 'available' ? '' : ` · ${s.status}`}</span>
    </button>
    ${node.children.length === 0 && !isHead
      ? nothing
      : html`<ul>
          ${node.children.map((child) => nodeView(child, options))}
          ${isHead ? headView() : nothing}
        </ul>`}
  </li>`;
}

const headView = () => html`<li class="head"><span class="live" aria-label="the live volume">● live volume (now)</span></li>`;

export function treeView(tree, options) {
  if (tree.roots.length === 0) return html`<p class="empty">No snapshots yet. The live volume has no history to return to.</p>`;
  const all = { ...options, tree };
  return html`<div class="tree" @keydown=${onKey}>
    <ul aria-label="Snapshot tree">
      ${tree.roots.map((node) => nodeView(node, all))}
      ${tree.headParentId === null ? headView() : nothing}
    </ul>
  </div>`;
}

/** Allocated bytes of the volume beside what each snapshot holds alone. */
export function spaceView(volume, snapshots) {
  const max = Math.max(1, volume.allocated_bytes ?? 0, ...snapshots.map((s) => s.exclusive_bytes ?? 0));
  const bar = (label, value, cls) => html`<tr>
    <th scope="row">${label}</th>
    <td><meter class=${cls} min="0" max=${max} value=${value ?? 0} aria-label="${label}: ${bytes(value)}"></meter></td>
    <td class="num">${bytes(value)}</td>
  </tr>`;
  return html`<table class="space">
    <caption>Space: allocated by the volume and its snapshots, and what each snapshot holds alone (what deleting it frees)</caption>
    <tbody>
      ${bar('allocated (all)', volume.allocated_bytes, 'allocated')}
      ${snapshots.map((s) => bar(s.name, s.exclusive_bytes, 'exclusive'))}
    </tbody>
  </table>`;
}
