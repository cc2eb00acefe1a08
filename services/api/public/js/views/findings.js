// Findings across the fleet, newest first, filtered by host, code and pid: a virtual list that pages
// older findings in as it is scrolled, and takes new ones from the live stream at the top. Each links
// to the process (or the host) as it was at the finding's seq.
import { getJson, isAbort } from '../api.js';
import { h, setText } from '../dom.js';
import { FINDING_CODES, num } from '../format.js';
import { VirtualList } from '../virtualList.js';

const ROW_HEIGHT = 56;
const PAGE = 200;

export function findingsView(ctx) {
  const { store, showError, clearError } = ctx;
  let query = ctx.query;
  let items = [];
  let next = null;
  let loading = false;
  let ctl;
  let oldestHeld = null;
  document.title = 'Findings · Lockline';

  const hostInput = h('input', { id: 'f-host', name: 'host', type: 'text', placeholder: 'any host', autocomplete: 'off' });
  const codeSelect = h('select', { id: 'f-code', name: 'code' }, h('option', { value: '', text: 'any code' }), Object.keys(FINDING_CODES).map((c) => h('option', { value: c, text: c })));
  const pidInput = h('input', { id: 'f-pid', name: 'pid', type: 'text', inputmode: 'numeric', pattern: '\\d*', placeholder: 'any pid', autocomplete: 'off' });
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: (e) => {
        e.preventDefault();
        const q = new URLSearchParams();
        if (hostInput.value.trim()) q.set('host', hostInput.value.trim());
        if (codeSelect.value) q.set('code', codeSelect.value);
        if (pidInput.value.trim()) q.set('pid', pidInput.value.trim());
        location.hash = `#/findings${q.size ? `?${q}` : ''}`;
      },
    },
    h('label', { for: 'f-host', text: 'Host' }),
    hostInput,
    h('label', { for: 'f-code', text: 'Code' }),
    codeSelect,
    h('label', { for: 'f-pid', text: 'Pid' }),
    pidInput,
    h('button', { type: 'submit', text: 'Filter' }),
    h('a', { href: '#/findings', text: 'Clear' }),
  );
  const status = h('p', { class: 'muted', role: 'status' });
  const viewport = h('div', { class: 'finding-rows', role: 'list', 'aria-label': 'Findings, newest first', tabindex: '-1' });
  const empty = h('p', { class: 'empty', hidden: true });

  const list = new VirtualList(viewport, {
    rowHeight: ROW_HEIGHT,
    createRow: () => {
      const row = h('div', { role: 'listitem', class: 'finding-row' });
      const parts = {
        code: h('span', { class: 'code-chip' }),
        host: h('a', { class: 'host' }),
        where: h('span', { class: 'where muted' }),
        message: h('span', { class: 'message' }),
        process: h('a', { class: 'to-process' }),
        replay: h('a', { class: 'to-host' }),
      };
      row.append(h('div', { class: 'line1' }, parts.code, parts.host, parts.where, parts.process, parts.replay), h('div', { class: 'line2' }, parts.message));
      row.parts_ = parts;
      return row;
    },
    renderRow: (row, i) => {
      const item = items[i];
      if (!item) return;
      const f = item.finding;
      const p = row.parts_;
      row.dataset.code = f.code;
      row.dataset.cursor = String(item.cursor);
      setText(p.code, f.code);
      p.code.title = FINDING_CODES[f.code] ?? '';
      p.code.className = `code-chip code-${f.code}`;
      const host = encodeURIComponent(f.hostId);
      const boot = encodeURIComponent(f.bootId);
      setText(p.host, f.hostId);
      p.host.href = `#/hosts/${host}`;
      setText(p.where, `${f.pid === null ? '' : `pid ${f.pid} · `}event ${num(f.seq)}`);
      setText(p.message, f.message);
      if (f.pid === null) {
        p.process.hidden = true;
      } else {
        p.process.hidden = false;
        p.process.href = `#/hosts/${host}/processes/${f.pid}?seq=${f.seq}&boot=${boot}`;
        setText(p.process, `pid ${f.pid} at event ${num(f.seq)}`);
      }
      p.replay.href = `#/hosts/${host}?seq=${f.seq}&boot=${boot}${f.pid === null ? '' : `&pid=${f.pid}`}`;
      setText(p.replay, 'replay the host there');
      // near the end: page older findings in
      if (i >= items.length - 20 && next && !loading) void loadMore();
    },
  });

  const el = h(
    'section',
    { class: 'findings' },
    h('h1', { text: 'Findings' }),
    h('section', { class: 'panel' }, form, status, viewport, empty),
  );

  function matches(f) {
    return (!query.host || f.hostId === query.host) && (!query.code || query.code.split(',').includes(f.code)) && (!query.pid || f.pid === Number(query.pid));
  }

  function params() {
    const q = new URLSearchParams();
    if (query.host) q.set('hostId', query.host);
    if (query.code) q.set('code', query.code);
    if (query.pid) q.set('pid', query.pid);
    q.set('limit', String(PAGE));
    return q;
  }

  function renderStatus() {
    const filters = [query.host && `host ${query.host}`, query.code && `code ${query.code}`, query.pid && `pid ${query.pid}`].filter(Boolean).join(', ');
    status.textContent = `${num(items.length)} findings${filters ? ` for ${filters}` : ''}${next ? ', more as you scroll' : ''}${!next && oldestHeld !== null && oldestHeld > 1 ? ` (the API holds findings from cursor ${num(oldestHeld)} on)` : ''}.`;
    empty.hidden = items.length > 0 || loading;
    empty.textContent = filters ? `No findings for ${filters}.` : 'No findings yet: every host’s reports agree with the model and its locked memory is within its limits.';
    viewport.hidden = items.length === 0;
  }

  async function load() {
    ctl?.abort();
    const own = (ctl = new AbortController());
    hostInput.value = query.host ?? '';
    codeSelect.value = query.code ?? '';
    pidInput.value = query.pid ?? '';
    items = [];
    next = null;
    loading = true;
    status.textContent = 'Loading…';
    list.setCount(0);
    list.render();
    try {
      const page = await getJson(`/v1/findings?${params()}`, { signal: own.signal, what: 'load the findings' });
      if (own !== ctl) return;
      items = page.items;
      next = page.next;
      oldestHeld = page.oldestHeld;
      clearError('findings');
    } catch (err) {
      if (isAbort(err)) return;
      showError('findings', err, { retry: () => void load() });
    } finally {
      if (own === ctl) loading = false;
    }
    list.setCount(items.length);
    viewport.scrollTop = 0;
    list.render();
    renderStatus();
  }

  async function loadMore() {
    if (!next || loading) return;
    loading = true;
    const own = ctl;
    try {
      const page = await getJson(next, { signal: own?.signal, what: 'load older findings' });
      if (own !== ctl) return;
      const seen = new Set(items.map((i) => i.cursor));
      for (const item of page.items) if (!seen.has(item.cursor)) items.push(item);
      next = page.next;
      list.setCount(items.length);
      list.render();
      renderStatus();
    } catch (err) {
      if (!isAbort(err)) showError('findings', err, { retry: () => void loadMore() });
    } finally {
      if (own === ctl) loading = false;
    }
  }

  // New findings from the stream go on top; the rows in view stay where they are.
  const unsubscribe = store.subscribe((change) => {
    if (loading || change.findings.length === 0) return;
    const fresh = change.findings.filter((item) => matches(item.finding) && (items.length === 0 || item.cursor > items[0].cursor));
    if (fresh.length === 0) return;
    fresh.sort((a, b) => b.cursor - a.cursor);
    items = fresh.concat(items);
    const atTop = viewport.scrollTop < ROW_HEIGHT;
    list.setCount(items.length);
    if (!atTop) viewport.scrollTop += fresh.length * ROW_HEIGHT;
    list.render();
    renderStatus();
  });

  void load();
  return {
    el,
    update(q) {
      query = q;
      void load();
    },
    destroy() {
      ctl?.abort();
      unsubscribe();
      list.destroy();
      clearError('findings');
    },
  };
}
