// The dashboard: asks for a token, loads the fleet, follows the live stream, and routes on the URL's
// hash (#/, #/hosts/<id>, #/hosts/<id>/processes/<pid>, #/findings) so every view can be bookmarked.
import { clearToken, getToken, onUnauthorized, setToken } from './api.js';
import { h, replace } from './dom.js';
import { FleetStore } from './live.js';
import { findingsView } from './views/findings.js';
import { fleetView } from './views/fleet.js';
import { hostView } from './views/host.js';
import { processView } from './views/process.js';

const main = document.getElementById('main');
const banners = document.getElementById('banners');
const statusEl = document.getElementById('live-status');
const logoutButton = document.getElementById('logout');

let store;
let current; // { name, key, view }

// ---------------------------------------------------------------------------------------------
// Error banners: each names what failed; one per key (a retry replaces it, success removes it).

const bannerByKey = new Map();

function showError(key, err, { retry } = {}) {
  clearError(key);
  const message = err instanceof Error ? err.message : String(err);
  const el = h(
    'div',
    { class: 'banner error', role: 'alert' },
    h('p', { text: message }),
    retry ? h('button', { type: 'button', text: 'Try again', onclick: () => (clearError(key), retry()) }) : null,
    h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss this message', text: '×', onclick: () => clearError(key) }),
  );
  bannerByKey.set(key, el);
  banners.append(el);
}

function clearError(key) {
  bannerByKey.get(key)?.remove();
  bannerByKey.delete(key);
}

// ---------------------------------------------------------------------------------------------
// The token: from the URL `lockline up` prints (#token=… or ?token=…), or asked for; kept in
// sessionStorage (this tab only) and removed from the address bar at once.

function takeTokenFromUrl() {
  const url = new URL(location.href);
  let token = url.searchParams.get('token');
  if (token) url.searchParams.delete('token');
  const hash = url.hash.replace(/^#/, '');
  const m = /(?:^|[?&/])token=([^&]+)/.exec(hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    const rest = hash.replace(/(^|[?&])token=[^&]+&?/, '$1').replace(/[?&]$/, '');
    url.hash = rest && rest !== '/' ? rest : '/';
  }
  if (token) {
    setToken(token);
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
}

function showLogin(reason) {
  current?.view.destroy?.();
  current = undefined;
  store?.stop();
  store = undefined;
  statusEl.textContent = '';
  logoutButton.hidden = true;
  document.title = 'Sign in · Lockline';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const form = h(
    'form',
    {
      class: 'login',
      onsubmit: (e) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        setToken(token);
        void startApp();
      },
    },
    h('h1', { text: 'Lockline' }),
    reason ? h('p', { class: 'banner error', role: 'alert', text: reason }) : null,
    h('label', { for: 'token', text: 'Viewer token' }),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      '`npx lockline up` prints the dashboard’s address with a viewer token: open that address, or paste the token here. ',
      'It is kept for this browser tab only, and sent to the API as a bearer token.',
    ),
    h('button', { type: 'submit', text: 'Open the dashboard' }),
  );
  replace(main, form);
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// Routing

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, queryText = ''] = raw.split('?');
  const query = Object.fromEntries(new URLSearchParams(queryText));
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'hosts')) return { name: 'fleet', key: 'fleet', params: {}, query };
  if (parts[0] === 'hosts' && parts.length === 2) return { name: 'host', key: `host:${parts[1]}`, params: { hostId: parts[1] }, query };
  if (parts[0] === 'hosts' && parts.length === 4 && parts[2] === 'processes' && /^\d+$/.test(parts[3]))
    return { name: 'process', key: `process:${parts[1]}:${parts[3]}`, params: { hostId: parts[1], pid: Number(parts[3]) }, query };
  if (parts[0] === 'findings' && parts.length === 1) return { name: 'findings', key: 'findings', params: {}, query };
  return { name: 'missing', key: raw, params: { path }, query };
}

const VIEWS = { fleet: fleetView, host: hostView, process: processView, findings: findingsView };

function route() {
  if (!store) return;
  const r = parseHash();
  for (const a of document.querySelectorAll('nav a[data-nav]')) {
    if (a.dataset.nav === r.name || (a.dataset.nav === 'fleet' && (r.name === 'host' || r.name === 'process'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // The same page with other query values (a host at another seq): the view updates in place.
  if (current && current.key === r.key && current.view.update) {
    current.view.update(r.query);
    return;
  }
  current?.view.destroy?.();
  const ctx = { store, params: r.params, query: r.query, showError, clearError };
  let view;
  if (r.name === 'missing') {
    view = { el: h('section', { class: 'empty' }, h('h1', { text: 'No such page' }), h('p', {}, `Nothing lives at #${r.params.path}. `, h('a', { href: '#/', text: 'Back to the fleet' }))) };
    document.title = 'Not found · Lockline';
  } else view = VIEWS[r.name](ctx);
  current = { name: r.name, key: r.key, view };
  replace(main, view.el);
  view.mounted?.();
  main.focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------------------------
// Start

const STATUS_TEXT = { connecting: 'connecting…', live: 'live', retrying: 'reconnecting', stopped: 'not live' };

async function startApp() {
  store?.stop();
  store = new FleetStore();
  logoutButton.hidden = false;
  store.subscribe((change) => {
    if (!change.status) return;
    const { state, detail } = store.status;
    statusEl.className = `live-status ${state}`;
    statusEl.textContent = `${STATUS_TEXT[state] ?? state}${detail ? `: ${detail}` : ''}`;
    if (state === 'retrying' && detail) showError('stream', new Error(`The live stream dropped (${detail}). The numbers on the page may be stale until it is back.`));
    else if (state === 'live') clearError('stream');
  });
  replace(main, h('p', { class: 'loading', role: 'status', text: 'Loading the fleet…' }));
  const mine = store;
  try {
    await mine.start();
    clearError('fleet');
  } catch (err) {
    if (store !== mine) return; // a 401 took us back to the login form
    showError('fleet', err, { retry: () => void startApp() });
    replace(main, h('section', { class: 'empty' }, h('h1', { text: 'The fleet could not be loaded' }), h('p', { text: 'The error is above; the API may still be starting.' })));
    return;
  }
  if (store !== mine) return;
  current = undefined;
  route();
}

onUnauthorized((err) => {
  if (!store) return;
  clearToken();
  showLogin(`The API refused the token (${err.detail}). Enter a valid one.`);
});

// The skip link moves the focus; it must not change the hash (the router's).
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

logoutButton.addEventListener('click', () => {
  clearToken();
  showLogin('The token is forgotten: this tab no longer holds it.');
});

window.addEventListener('hashchange', () => {
  takeTokenFromUrl();
  route();
});

takeTokenFromUrl();
if (getToken()) void startApp();
else showLogin();
