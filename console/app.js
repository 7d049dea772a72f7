// The console's shell: sign-in, the header (project switcher for admins, sign out), the
// navigation, one alert region for errors, the live jobs panel, and hash routing to pages.
import { html, render, nothing } from './vendor/lit-html/lit-html.js';
import { ApiError, del, get, post, session } from './api.js';
import { forgetJobs, jobsPanel } from './jobs.js';
import { ui, update, setRenderer, setSessionEnd, showError } from './ui.js';
import { volumesPage } from './pages/volumes.js';
import { volumePage } from './pages/volume.js';
import { groupsPage, attachmentsPage, jobsPage, quotasPage } from './pages/others.js';

const pages = [
  { pattern: /^\/volumes\/([\w-]+)$/, page: volumePage },
  { pattern: /^\/volumes$/, page: volumesPage, nav: 'Volumes', href: '#/volumes' },
  { pattern: /^\/groups$/, page: groupsPage, nav: 'Groups', href: '#/groups' },
  { pattern: /^\/attachments$/, page: attachmentsPage, nav: 'Attachments', href: '#/attachments' },
  { pattern: /^\/jobs$/, page: jobsPage, nav: 'Jobs', href: '#/jobs' },
  { pattern: /^\/quotas$/, page: quotasPage, nav: 'Quotas', href: '#/quotas' },
];

function currentRoute() {
  const path = location.hash.replace(/^#/, '') || '/volumes';
  for (const { pattern, page } of pages) {
    const match = pattern.exec(path);
    if (match !== null) return { path, page, params: match.slice(1) };
  }
  return { path: '/volumes', page: volumesPage, params: [] };
}

async function openRoute() {
  ui.error = null;
  ui.route = currentRoute();
  document.title = `${ui.route.page.title(...ui.route.params)} · Strata`;
  update();
  try {
    await ui.route.page.load(...ui.route.params);
  } catch (error) {
    showError(error);
  }
  update();
  document.getElementById('main')?.focus({ preventScroll: true });
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { name: String(form.get('name')), password: String(form.get('password')) };
  const project = String(form.get('project') ?? '').trim();
  if (project !== '') body.project = project;
  ui.signingIn = true;
  update();
  try {
    const issued = await post('/auth/tokens', body);
    session.token = issued.token;
    await start();
  } catch (error) {
    showError(error);
  } finally {
    ui.signingIn = false;
    update();
  }
}

/** Forgets everything the last user saw, so the next one in this tab starts clean. */
function endSession(notice) {
  session.token = null;
  ui.me = null;
  ui.route = null;
  ui.projects = [];
  ui.switching = false;
  ui.error = null;
  ui.notice = notice;
  forgetJobs();
  for (const { page } of pages) page.reset();
  update();
}

async function signOut() {
  try {
    await del('/auth/tokens/current');
  } catch (error) {
    // A token that is already invalid is signed out all the same.
    if (!(error instanceof ApiError && error.status === 401)) return showError(error);
  }
  endSession('Signed out.');
}

/** Admins take a token scoped to another project (the API asks for the password again). */
async function switchProject(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const issued = await post('/auth/tokens', { name: ui.me.user.name, password: String(form.get('password')), project: String(form.get('project')) });
    await del('/auth/tokens/current').catch(() => undefined);
    session.token = issued.token;
    ui.switching = false;
    await start();
  } catch (error) {
    showError(error);
  }
}

async function start() {
  ui.notice = null;
  if (session.token === null) return update();
  try {
    ui.me = await get('/auth/tokens/current');
  } catch (error) {
    session.token = null;
    ui.me = null;
    if (!(error instanceof ApiError && error.status === 401)) showError(error);
    return update();
  }
  ui.projects = ui.me.roles.includes('admin') ? (await get('/projects').catch(() => ({ projects: [] }))).projects : [];
  await openRoute();
}

const signInView = () => html`
  <main id="main" class="signin" tabindex="-1">
    <h1>Strata</h1>
    <form @submit=${signIn} aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      ${ui.notice === null ? nothing : html`<p class="notice" role="status">${ui.notice}</p>`}
      ${errorView()}
      <label for="signin-name">Name</label>
      <input id="signin-name" name="name" autocomplete="username" required maxlength="255" />
      <label for="signin-password">Password</label>
      <input id="signin-password" name="password" type="password" autocomplete="current-password" required />
      <label for="signin-project">Project <span class="hint">(optional; admins)</span></label>
      <input id="signin-project" name="project" maxlength="255" />
      <button type="submit" ?disabled=${ui.signingIn}>Sign in</button>
    </form>
  </main>
`;

function errorView() {
  if (ui.error === null) return nothing;
  return html`<div class="error" role="alert"><strong class="code">${ui.error.code}</strong> <span>${ui.error.message}</span>
    <button class="link" @click=${() => { ui.error = null; update(); }} aria-label="Dismiss the error">×</button></div>`;
}

const projectSwitcher = () => {
  if (ui.projects.length === 0) return nothing;
  if (!ui.switching) return html`<button class="link" @click=${() => { ui.switching = true; update(); }}>Switch project</button>`;
  return html`<form class="switcher" @submit=${switchProject}>
    <label for="switch-project">Project</label>
    <select id="switch-project" name="project">
      ${ui.projects.map((p) => html`<option value=${p.id} ?selected=${p.id === ui.me.project.id}>${p.name}</option>`)}
    </select>
    <label for="switch-password">Password</label>
    <input id="switch-password" name="password" type="password" autocomplete="current-password" required />
    <button type="submit">Switch</button>
    <button type="button" @click=${() => { ui.switching = false; update(); }}>Cancel</button>
  </form>`;
};

function shellView() {
  const { route, me } = ui;
  return html`
    <a class="skip" href="#main" @click=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
    <header>
      <span class="brand">Strata</span>
      <nav aria-label="Sections">
        <ul>
          ${pages.filter((p) => p.nav).map((p) => {
            const current = route?.page === p.page || (p.page === volumesPage && route?.page === volumePage);
            return html`<li><a href=${p.href} aria-current=${current ? 'page' : 'false'}>${p.nav}</a></li>`;
          })}
        </ul>
      </nav>
      <div class="who">
        <span>${me.user.name} · <span class="project" title="project">${me.project.name}</span></span>
        ${projectSwitcher()}
        <button @click=${signOut}>Sign out</button>
      </div>
    </header>
    <div class="layout">
      <main id="main" tabindex="-1">
        ${errorView()}
        ${route === null ? nothing : route.page.view(...route.params)}
      </main>
      ${jobsPanel()}
    </div>
  `;
}

setSessionEnd(() => endSession('Your session ended; sign in again.'));
setRenderer(() => render(ui.me === null ? signInView() : shellView(), document.getElementById('app')));
window.addEventListener('hashchange', () => {
  if (ui.me !== null) void openRoute();
});
void start();
