// One host: its numbers, its process tree coloured by lock state, the trace of an inherited lock back
// to its mlockall, and replay: a slider and step buttons over the host's events, the tree and the
// numbers at that seq, and the event under the cursor.
import { getJson, isAbort } from '../api.js';
import { sparkline } from '../charts.js';
import { debounce, h, replace, setText } from '../dom.js';
import { FINDING_CODES, LOCK_STATES, LOCK_STATE_ORDER, bytes, chainLinkText as linkText, describeEvent, lockBadge, num, pages, pagesValue, PAGE_SIZE } from '../format.js';
import { ProcessTree } from '../tree.js';
import { VirtualList } from '../virtualList.js';

const ROW_HEIGHT = 28;
/** A live tree is fetched again at most this often (a 10,000-process tree is a few MB of JSON). */
const LIVE_REFRESH_MS = 2000;
/** Explanations kept for hover and replay (a chain at a seq does not change). */
const TRACE_CACHE = 300;

export function hostView(ctx) {
  const { store, showError, clearError } = ctx;
  const hostId = ctx.params.hostId;
  const enc = encodeURIComponent(hostId);
  document.title = `${hostId} · Lockline`;

  const st = {
    /** the boot shown: from ?boot=, else the host's current one (followed across reboots) */
    bootId: ctx.query.boot,
    pinnedBoot: ctx.query.boot !== undefined,
    boots: [],
    /** the boot's last seq (moves with the live stream) */
    liveSeq: 0,
    /** the seq asked for: undefined while following live */
    seq: ctx.query.seq !== undefined ? Number(ctx.query.seq) : undefined,
    view: undefined,
    tree: undefined,
    flat: undefined,
    collapsed: new Set(),
    selected: ctx.query.pid !== undefined ? Number(ctx.query.pid) : undefined,
    active: 0,
    trace: undefined,
    hoverTrace: undefined,
    lastLiveLoad: 0,
  };
  const traceCache = new Map();
  let treeCtl;
  let eventsCtl;
  let traceCtl;
  let liveTimer;
  let destroyed = false;
  let eventsShownAt;
  const what = (x) => `${x} of ${hostId}`;

  // ---------------------------------------------------------------------------------------------
  // Elements

  const bootLine = h('p', { class: 'muted' });
  const bootSelect = h('select', { id: 'boot-select', hidden: true, onchange: () => setBoot(bootSelect.value) });
  const figure = (label) => {
    const dd = h('dd', { text: '—' });
    return { dd, el: h('div', { class: 'figure' }, h('dt', { text: label }), dd) };
  };
  const fSeq = figure('Seq');
  const fProcesses = figure('Processes');
  const fLocked = figure('Locked memory');
  const fFindings = figure('Findings at this seq');
  const lockedSpark = sparkline(120, 24);
  fLocked.el.append(h('div', { class: 'spark-wrap', title: 'locked pages since this page opened (live)' }, lockedSpark.el));
  const stateCounts = h('ul', { class: 'state-counts', 'aria-label': 'Processes by lock state (select to find the next one)' });
  const findingsChips = h('span', { class: 'codes' });
  fFindings.dd.replaceChildren(findingsChips);
  const uncertain = h('p', { class: 'banner warn', hidden: true });

  // --- replay
  const slider = h('input', {
    type: 'range',
    id: 'replay-slider',
    min: '1',
    max: '1',
    step: '1',
    value: '1',
    'aria-describedby': 'replay-mode',
    oninput: () => goTo(Number(slider.value), { debounced: true }),
  });
  const seqInput = h('input', { type: 'number', id: 'replay-seq', min: '1', inputmode: 'numeric', class: 'seq-input' });
  // the name starts with what the button shows ("−1"), then says it in words
  const stepButton = (label, text, delta) => h('button', { type: 'button', 'aria-label': `${text}: ${label}`, title: label, text, onclick: () => step(delta) });
  const firstButton = h('button', { type: 'button', title: 'The first event', text: 'First', onclick: () => goTo(1) });
  const liveButton = h('button', { type: 'button', class: 'live-button', title: 'Follow the host live', text: 'Live', onclick: () => goLive() });
  const modeLine = h('p', { id: 'replay-mode', class: 'mode', role: 'status' });
  const eventList = h('ol', { class: 'event-list', 'aria-label': 'Events around the cursor' });
  const eventCard = h('div', { class: 'event-card' }, h('h3', { text: 'The event under the cursor' }), eventList);
  const replay = h(
    'section',
    { class: 'panel replay', 'aria-labelledby': 'replay-title' },
    h('h2', { id: 'replay-title', text: 'Replay' }),
    h(
      'div',
      { class: 'replay-controls' },
      h('label', { for: 'replay-slider', text: 'Seq' }),
      slider,
      h(
        'div',
        { class: 'step-buttons', role: 'group', 'aria-label': 'Step through events' },
        firstButton,
        stepButton('back 100 events', '−100', -100),
        stepButton('back 1 event', '−1', -1),
        stepButton('forward 1 event', '+1', 1),
        stepButton('forward 100 events', '+100', 100),
        liveButton,
      ),
      h(
        'form',
        {
          class: 'seq-form',
          onsubmit: (e) => {
            e.preventDefault();
            const n = Number(seqInput.value);
            if (Number.isFinite(n) && n >= 1) goTo(Math.round(n));
          },
        },
        h('label', { for: 'replay-seq', text: 'Go to seq' }),
        seqInput,
        h('button', { type: 'submit', text: 'Go' }),
      ),
    ),
    modeLine,
    eventCard,
  );

  // --- the tree
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Lock states' },
    LOCK_STATE_ORDER.map((s) => h('li', {}, lockBadge(s), h('span', { class: 'muted', text: ` ${LOCK_STATES[s].what}` }))),
  );
  const findInput = h('input', { type: 'search', id: 'find-process', placeholder: 'pid or name, Enter for the next' });
  const findStatus = h('span', { class: 'muted', role: 'status' });
  const findForm = h(
    'form',
    {
      class: 'find',
      onsubmit: (e) => {
        e.preventDefault();
        findNext((p) => {
          const q = findInput.value.trim().toLowerCase();
          if (!q) return false;
          return /^\d+$/.test(q) ? p.pid === Number(q) : (p.comm ?? '').toLowerCase().includes(q);
        }, `“${findInput.value.trim()}”`);
      },
    },
    h('label', { for: 'find-process', text: 'Find a process' }),
    findInput,
    h('button', { type: 'submit', text: 'Find' }),
    findStatus,
  );
  const treeTools = h(
    'div',
    { class: 'tree-tools' },
    h('button', { type: 'button', text: 'Expand all', onclick: () => (st.collapsed.clear(), reflow()) }),
    h('button', { type: 'button', text: 'Collapse branches without locks', onclick: () => (st.tree && (st.collapsed = st.tree.unlockedBranches()), reflow()) }),
  );
  const treeViewport = h('div', { class: 'tree', role: 'tree', 'aria-label': `Processes of ${hostId}`, tabindex: '0' });
  const treeEmpty = h('p', { class: 'empty', hidden: true });
  const list = new VirtualList(treeViewport, {
    rowHeight: ROW_HEIGHT,
    createRow: () => {
      const row = h('div', { role: 'treeitem', class: 'tree-row' });
      const parts = {
        guide: h('span', { class: 'guide', 'aria-hidden': 'true' }),
        twisty: h('span', { class: 'twisty', 'aria-hidden': 'true' }),
        shape: h('span', { class: 'shape', 'aria-hidden': 'true' }),
        pid: h('span', { class: 'pid' }),
        comm: h('span', { class: 'comm' }),
        state: h('span', { class: 'state' }),
        pages: h('span', { class: 'pages muted' }),
        note: h('span', { class: 'note' }),
      };
      row.append(parts.guide, parts.twisty, parts.shape, parts.pid, parts.comm, parts.state, parts.pages, parts.note);
      row.parts_ = parts;
      return row;
    },
    renderRow: (row, i) => renderRow(row, i),
  });

  // --- the selected process
  const detail = h('aside', { class: 'panel detail', 'aria-labelledby': 'detail-title' });
  /** what the panel shows, to leave it alone (and the focus in it) when a live refresh changed nothing */
  let detailShown = '';
  let traceShown = '';

  const header = h(
    'header',
    { class: 'view-header' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Fleet' }), ' / '),
    h('h1', { text: hostId }),
    bootLine,
    h('label', { for: 'boot-select', class: 'visually-hidden', text: 'Boot' }),
    bootSelect,
  );
  const el = h(
    'section',
    { class: 'host', dataset: { hostId } },
    header,
    uncertain,
    h('dl', { class: 'figures' }, fSeq.el, fProcesses.el, fLocked.el, fFindings.el),
    stateCounts,
    replay,
    h(
      'div',
      { class: 'host-main' },
      h('section', { class: 'panel tree-panel', 'aria-labelledby': 'tree-title' }, h('h2', { id: 'tree-title', text: 'Process tree' }), legend, h('div', { class: 'toolbar' }, findForm, treeTools), treeViewport, treeEmpty),
      detail,
    ),
  );

  // ---------------------------------------------------------------------------------------------
  // Loading

  async function loadState() {
    const qs = st.pinnedBoot && st.bootId ? `?bootId=${encodeURIComponent(st.bootId)}` : '';
    const s = await getJson(`/v1/hosts/${enc}${qs}`, { what: what('load the state') });
    st.bootId = s.bootId;
    st.boots = s.boots;
    st.liveSeq = Math.max(st.liveSeq, s.seq);
    bootLine.textContent = `boot ${s.bootId} · audited as ${s.profile ?? 'unknown profile'}${s.hostProfile && s.hostProfile !== s.profile ? ` (the host runs ${s.hostProfile})` : ''}${s.gaps.length ? ` · ${s.gaps.length} sequence gaps` : ''}${s.duplicates ? ` · ${num(s.duplicates)} duplicates ignored` : ''}`;
    bootSelect.hidden = s.boots.length < 2;
    bootSelect.replaceChildren(...s.boots.map((b, i) => h('option', { value: b, selected: b === s.bootId, text: `boot ${i + 1} of ${s.boots.length}: ${b}` })));
    clearError('host-state');
  }

  /** The tree at the seq asked for (or live); abandons a request still running. */
  async function loadTree() {
    treeCtl?.abort();
    const ctl = (treeCtl = new AbortController());
    const boot = `bootId=${encodeURIComponent(st.bootId)}`;
    const path = st.seq === undefined ? `/v1/hosts/${enc}/tree?${boot}` : `/v1/hosts/${enc}/at/${st.seq}?${boot}`;
    try {
      const view = await getJson(path, { signal: ctl.signal, what: st.seq === undefined ? what('load the process tree') : what(`replay to seq ${st.seq}`) });
      if (ctl !== treeCtl || destroyed) return;
      if (st.seq === undefined) st.lastLiveLoad = Date.now();
      st.liveSeq = Math.max(st.liveSeq, view.seq);
      setView(view);
      clearError('host-tree');
    } catch (err) {
      if (isAbort(err) || destroyed) return;
      showError('host-tree', err, { retry: () => void loadTree() });
    }
  }

  /** A few events either side of the cursor; the one at the cursor marked. */
  async function loadEvents(seq) {
    eventsCtl?.abort();
    const ctl = (eventsCtl = new AbortController());
    const from = Math.max(0, seq - 3);
    try {
      const page = await getJson(`/v1/hosts/${enc}/events?bootId=${encodeURIComponent(st.bootId)}&cursor=${from}&limit=5`, { signal: ctl.signal, what: what(`read the events around seq ${seq}`) });
      if (ctl !== eventsCtl || destroyed) return;
      eventList.replaceChildren(
        ...page.items.map((e) => {
          const here = e.seq === seq;
          return h(
            'li',
            { class: here ? 'current' : '', 'aria-current': here ? 'step' : false, dataset: { seq: String(e.seq), type: e.type } },
            h('span', { class: 'seq', text: `#${num(e.seq)}` }),
            h('span', { class: 'type', text: e.type }),
            h('span', { class: 'what', text: describeEvent(e) }),
            h('span', { class: 'time muted', text: e.time.replace('T', ' ').replace('Z', '') }),
          );
        }),
      );
      if (page.items.length === 0) eventList.replaceChildren(h('li', { class: 'muted', text: `No stored event at seq ${num(seq)}.` }));
    } catch (err) {
      if (isAbort(err) || destroyed) return;
      eventList.replaceChildren(h('li', { class: 'error', text: `The events could not be read: ${err.message}` }));
    }
  }

  async function loadAll() {
    try {
      await loadState();
    } catch (err) {
      if (destroyed) return;
      showError('host-state', err, { retry: () => void loadAll() });
      replace(detail, h('p', { class: 'empty', text: err.status === 404 ? `Lockline has no host ${hostId}.` : 'The host could not be loaded: the error is above.' }));
      return;
    }
    if (st.seq !== undefined && st.seq >= st.liveSeq) st.seq = undefined;
    syncControls();
    await loadTree();
  }

  const loadEventsSoon = debounce((seq) => void loadEvents(seq), 120);
  const loadTreeSoon = debounce(() => void loadTree(), 90);

  // ---------------------------------------------------------------------------------------------
  // Replay

  /** Replay to `seq` (clamped); at the last seq, follow live. */
  function goTo(seq, { debounced = false } = {}) {
    const max = Math.max(1, st.liveSeq);
    const n = Math.min(max, Math.max(1, Math.round(seq)));
    st.seq = n >= st.liveSeq ? undefined : n;
    syncControls();
    writeUrl();
    if (debounced) loadTreeSoon();
    else {
      loadTreeSoon.cancel();
      void loadTree();
    }
  }

  function step(delta) {
    goTo((st.seq ?? st.liveSeq) + delta);
  }

  function goLive() {
    st.seq = undefined;
    syncControls();
    writeUrl();
    void loadTree();
  }

  function syncControls() {
    const shown = st.seq ?? st.liveSeq;
    slider.max = String(Math.max(1, st.liveSeq));
    if (document.activeElement !== slider || st.seq === undefined) slider.value = String(shown);
    slider.setAttribute('aria-valuetext', st.seq === undefined ? `seq ${num(shown)}, live` : `seq ${num(shown)} of ${num(st.liveSeq)}`);
    if (document.activeElement !== seqInput) seqInput.value = String(shown);
    seqInput.max = String(Math.max(1, st.liveSeq));
    liveButton.setAttribute('aria-pressed', String(st.seq === undefined));
    modeLine.textContent =
      st.seq === undefined
        ? `Live: the host as it was after event ${num(st.view?.seq ?? st.liveSeq)}, refreshed as its events are folded (the projector is at ${num(st.liveSeq)}).`
        : `Replaying: the host as it was after event ${num(st.seq)}; live is at ${num(st.liveSeq)}.`;
    el.dataset.mode = st.seq === undefined ? 'live' : 'replay';
    // the event under the cursor: the last one the state shown has applied
    const at = st.seq ?? st.view?.seq;
    if (at !== undefined && at > 0 && st.bootId && at !== eventsShownAt) {
      eventsShownAt = at;
      loadEventsSoon(at);
    }
  }

  function writeUrl() {
    const q = new URLSearchParams();
    if (st.seq !== undefined) q.set('seq', String(st.seq));
    if (st.pinnedBoot && st.bootId) q.set('boot', st.bootId);
    if (st.selected !== undefined) q.set('pid', String(st.selected));
    const hash = `#/hosts/${enc}${q.size ? `?${q}` : ''}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }

  function setBoot(bootId) {
    st.bootId = bootId;
    st.pinnedBoot = true;
    st.seq = undefined;
    st.liveSeq = 0;
    eventsShownAt = undefined;
    traceCache.clear();
    writeUrl();
    void loadAll();
  }

  // ---------------------------------------------------------------------------------------------
  // The tree

  function setView(view) {
    st.view = view;
    st.tree = new ProcessTree(view.processes);
    el.dataset.seq = String(view.seq);
    syncControls();
    reflow();
    renderNumbers();
    renderDetail();
    if (st.selected !== undefined) void traceSelected();
  }

  function reflow() {
    if (!st.tree) return;
    st.flat = st.tree.flatten(st.collapsed);
    list.setCount(st.flat.count);
    // as tall as its rows, up to the CSS max-height
    treeViewport.style.height = `${Math.max(4, st.flat.count) * ROW_HEIGHT + 2}px`;
    treeViewport.setAttribute('aria-activedescendant', st.selected !== undefined && st.flat.index.has(st.selected) ? `proc-${st.selected}` : '');
    treeEmpty.hidden = st.flat.count > 0;
    treeViewport.hidden = st.flat.count === 0;
    treeEmpty.textContent = `No processes at seq ${num(st.view.seq)}${st.view.seq === 0 ? '' : ' (the host has not reported its process table yet?)'}.`;
    const idx = st.selected !== undefined ? st.flat.index.get(st.selected) : undefined;
    if (idx !== undefined) st.active = idx;
    st.active = Math.min(st.active, Math.max(0, st.flat.count - 1));
    list.render();
  }

  function chainRoleOf(pid) {
    const t = st.hoverTrace ?? st.trace;
    if (!t || t.seq !== st.view?.seq) return undefined;
    if (t.originPids.has(pid)) return 'origin';
    if (t.chainPids.has(pid)) return 'chain';
    return undefined;
  }

  function renderRow(row, i) {
    const f = st.flat;
    const pid = f.pids[i];
    const p = st.tree.byPid.get(pid);
    const parts = row.parts_;
    const kids = st.tree.children(pid).length;
    const collapsed = st.collapsed.has(pid);
    row.id = `proc-${pid}`;
    row.dataset.pid = String(pid);
    row.dataset.lockState = p.lockState;
    row.className = `vlist-row tree-row ls-${p.lockState}${pid === st.selected ? ' selected' : ''}${i === st.active ? ' active' : ''}${p.alive ? '' : ' exited'}`;
    row.setAttribute('aria-level', String(f.depth[i] + 1));
    row.setAttribute('aria-posinset', String(f.pos[i]));
    row.setAttribute('aria-setsize', String(f.setSize[i]));
    row.setAttribute('aria-selected', String(pid === st.selected));
    if (kids > 0) row.setAttribute('aria-expanded', String(!collapsed));
    else row.removeAttribute('aria-expanded');
    const role = chainRoleOf(pid);
    row.classList.toggle('chain', role === 'chain');
    row.classList.toggle('chain-origin', role === 'origin');
    setText(parts.guide, f.guide[i]);
    setText(parts.twisty, kids === 0 ? '' : collapsed ? '▸' : '▾');
    setText(parts.shape, LOCK_STATES[p.lockState]?.shape ?? '?');
    setText(parts.pid, String(pid));
    setText(parts.comm, p.comm ?? '');
    setText(parts.state, LOCK_STATES[p.lockState]?.label ?? p.lockState);
    const locked = pagesValue(p.lockedVmPages);
    setText(parts.pages, locked !== 0 ? `${num(locked)} locked` : '');
    setText(parts.note, role === 'origin' ? '⟵ the mlockall' : collapsed && kids > 0 ? `${num(kids)} children hidden` : '');
    row.setAttribute('aria-label', `pid ${pid} ${p.comm ?? ''}, ${LOCK_STATES[p.lockState]?.label ?? p.lockState}${locked ? `, ${num(locked)} locked pages` : ''}${role === 'origin' ? ', where the lock was set' : role === 'chain' ? ', on the inherited lock’s path' : ''}`);
  }

  function renderNumbers() {
    const v = st.view;
    setText(fSeq.dd, st.seq === undefined ? `${num(v.seq)} (live)` : `${num(v.seq)} of ${num(st.liveSeq)}`);
    setText(fProcesses.dd, num(v.processes.filter((p) => p.alive).length));
    setText(fLocked.dd, `${num(v.lockedPages)} pages (${bytes(v.lockedPages * PAGE_SIZE)})`);
    const entry = store.hosts.get(hostId);
    if (entry) lockedSpark.update(entry.ring);
    const codes = Object.entries(v.findingsByCode);
    findingsChips.replaceChildren(
      ...(codes.length === 0
        ? [h('span', { class: 'muted', text: 'none' })]
        : codes.map(([code, n]) =>
            h('a', { class: 'code-chip', href: `#/findings?host=${enc}&code=${encodeURIComponent(code)}`, title: FINDING_CODES[code] ?? '' }, h('span', { class: 'code', text: code }), h('span', { class: 'n', text: num(n) })),
          )),
    );
    stateCounts.replaceChildren(
      ...LOCK_STATE_ORDER.map((s) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: `state-count ls-${s}`,
              dataset: { state: s },
              disabled: st.tree.counts[s] === 0,
              onclick: () => findNext((p) => p.lockState === s, LOCK_STATES[s].label),
              'aria-label': `${num(st.tree.counts[s])} ${LOCK_STATES[s].label}: find the next`,
            },
            h('span', { class: 'shape', 'aria-hidden': 'true', text: LOCK_STATES[s].shape }),
            ` ${LOCK_STATES[s].label} `,
            h('strong', { text: num(st.tree.counts[s]) }),
          ),
        ),
      ),
    );
    uncertain.hidden = v.uncertainSince === null;
    uncertain.textContent = v.uncertainSince === null ? '' : `Uncertain since seq ${num(v.uncertainSince)}: events are missing, so this state may be wrong until a counter sample agrees.`;
  }

  // ---------------------------------------------------------------------------------------------
  // Selection, keyboard, finding

  function select(pid, { focus = false, scroll = 'nearest' } = {}) {
    st.selected = pid;
    st.hoverTrace = undefined;
    // Show it: unfold its ancestors.
    if (st.tree?.byPid.has(pid)) {
      let unfolded = false;
      for (const a of st.tree.ancestors(pid)) if (st.collapsed.delete(a)) unfolded = true;
      if (unfolded || !st.flat) st.flat = st.tree.flatten(st.collapsed);
      list.setCount(st.flat.count);
      const idx = st.flat.index.get(pid);
      if (idx !== undefined) {
        st.active = idx;
        list.scrollToIndex(idx, scroll);
      }
    }
    treeViewport.setAttribute('aria-activedescendant', st.tree?.byPid.has(pid) ? `proc-${pid}` : '');
    list.render();
    writeUrl();
    renderDetail();
    void traceSelected();
    if (focus) treeViewport.focus({ preventScroll: true });
  }

  function findNext(match, label) {
    if (!st.tree) return;
    // every process (collapsed branches too), in tree order, starting after the selection
    const all = st.tree.flatten(new Set());
    const start = st.selected !== undefined ? (all.index.get(st.selected) ?? -1) : -1;
    let total = 0;
    let found;
    let foundRank = 0;
    for (let k = 0; k < all.count; k++) if (match(st.tree.byPid.get(all.pids[k]))) total++;
    for (let k = 1; k <= all.count; k++) {
      const i = (start + k) % all.count;
      if (match(st.tree.byPid.get(all.pids[i]))) {
        found = all.pids[i];
        break;
      }
    }
    if (found === undefined) {
      findStatus.textContent = `No process matches ${label} at seq ${num(st.view.seq)}.`;
      return;
    }
    for (let k = 0; k < all.count; k++) {
      if (match(st.tree.byPid.get(all.pids[k]))) foundRank++;
      if (all.pids[k] === found) break;
    }
    findStatus.textContent = `${label}: pid ${found}, ${foundRank} of ${total}`;
    select(found, { scroll: 'center' });
  }

  function moveActive(i) {
    if (!st.flat || st.flat.count === 0) return;
    const idx = Math.max(0, Math.min(st.flat.count - 1, i));
    select(st.flat.pids[idx], { focus: true });
  }

  function toggle(pid, open) {
    if (st.tree.children(pid).length === 0) return;
    const isOpen = !st.collapsed.has(pid);
    if (open === isOpen) return;
    if (isOpen) st.collapsed.add(pid);
    else st.collapsed.delete(pid);
    reflow();
  }

  treeViewport.addEventListener('keydown', (e) => {
    if (!st.flat || st.flat.count === 0) return;
    const i = st.active;
    const pid = st.flat.pids[i];
    const page = Math.max(1, Math.floor(treeViewport.clientHeight / ROW_HEIGHT) - 1);
    switch (e.key) {
      case 'ArrowDown':
        moveActive(i + 1);
        break;
      case 'ArrowUp':
        moveActive(i - 1);
        break;
      case 'PageDown':
        moveActive(i + page);
        break;
      case 'PageUp':
        moveActive(i - page);
        break;
      case 'Home':
        moveActive(0);
        break;
      case 'End':
        moveActive(st.flat.count - 1);
        break;
      case 'ArrowRight':
        if (st.collapsed.has(pid)) toggle(pid, true);
        else if (st.tree.children(pid).length > 0) moveActive(i + 1);
        break;
      case 'ArrowLeft': {
        if (st.tree.children(pid).length > 0 && !st.collapsed.has(pid)) toggle(pid, false);
        else {
          const parent = st.tree.parent(pid);
          if (parent !== undefined) select(parent, { focus: true });
        }
        break;
      }
      case 'Enter':
        location.hash = processHref(pid);
        break;
      case ' ':
        select(pid, { focus: true });
        break;
      default:
        return;
    }
    e.preventDefault();
  });

  const rowOf = (target) => target.closest?.('.tree-row');
  treeViewport.addEventListener('click', (e) => {
    const row = rowOf(e.target);
    if (!row || !row.dataset.pid) return;
    const pid = Number(row.dataset.pid);
    if (e.target.classList.contains('twisty')) toggle(pid, st.collapsed.has(pid));
    else select(pid);
  });
  treeViewport.addEventListener('dblclick', (e) => {
    const row = rowOf(e.target);
    if (row?.dataset.pid) location.hash = processHref(Number(row.dataset.pid));
  });
  // Hover an inherited (or own) lock: its path back to the mlockall lights up; leaving restores the selection's.
  const hoverSoon = debounce((pid) => void hoverTraceOf(pid), 150);
  treeViewport.addEventListener('mouseover', (e) => {
    const row = rowOf(e.target);
    if (!row?.dataset.pid) return;
    const state = row.dataset.lockState;
    if (state === 'inherited' || state === 'over-limit' || state === 'own') hoverSoon(Number(row.dataset.pid));
    else hoverSoon.cancel();
  });
  treeViewport.addEventListener('mouseleave', () => {
    hoverSoon.cancel();
    if (st.hoverTrace) {
      st.hoverTrace = undefined;
      list.render();
    }
  });

  const processHref = (pid) => {
    const q = new URLSearchParams();
    if (st.view) q.set('seq', String(st.view.seq));
    if (st.bootId) q.set('boot', st.bootId);
    return `#/hosts/${enc}/processes/${pid}?${q}`;
  };

  // ---------------------------------------------------------------------------------------------
  // Tracing a lock back to its mlockall (the explain chain)

  async function explanationOf(pid, seq, signal) {
    const key = `${st.bootId}:${seq}:${pid}`;
    const hit = traceCache.get(key);
    if (hit) return hit;
    const x = await getJson(`/v1/hosts/${enc}/processes/${pid}/explain?bootId=${encodeURIComponent(st.bootId)}&seq=${seq}`, { signal, what: what(`explain pid ${pid}'s locked memory at seq ${seq}`) });
    traceCache.set(key, x);
    if (traceCache.size > TRACE_CACHE) traceCache.delete(traceCache.keys().next().value);
    return x;
  }

  /** The pids on the path of each locked range, and where the path starts (the call that locked). */
  function traceOf(x, seq) {
    const chainPids = new Set([x.pid]);
    const originPids = new Set();
    const origins = new Map(); // seq → link
    for (const r of x.ranges) {
      for (const link of r.chain) {
        chainPids.add(link.pid);
        if (link.fromPid !== undefined) chainPids.add(link.fromPid);
        if (link.what === 'locked') {
          originPids.add(link.pid);
          origins.set(link.seq, link);
        }
      }
    }
    return { pid: x.pid, seq, x, chainPids, originPids, origins: [...origins.values()].sort((a, b) => a.seq - b.seq) };
  }

  async function traceSelected() {
    traceCtl?.abort();
    const pid = st.selected;
    const view = st.view;
    const p = view && pid !== undefined ? st.tree.byPid.get(pid) : undefined;
    if (!p || p.lockState === 'none') {
      st.trace = undefined;
      list.render();
      renderTrace();
      return;
    }
    const ctl = (traceCtl = new AbortController());
    renderTrace('loading');
    try {
      const x = await explanationOf(pid, view.seq, ctl.signal);
      if (ctl !== traceCtl || destroyed || st.view !== view) return;
      st.trace = traceOf(x, view.seq);
      list.render();
      renderTrace();
    } catch (err) {
      if (isAbort(err) || destroyed) return;
      renderTrace(err);
    }
  }

  async function hoverTraceOf(pid) {
    const view = st.view;
    if (!view || pid === st.selected) return;
    try {
      const x = await explanationOf(pid, view.seq);
      if (destroyed || st.view !== view) return;
      st.hoverTrace = traceOf(x, view.seq);
      list.render();
    } catch {
      /* a hover is a hint: the click shows errors */
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The detail panel

  const traceBox = h('section', { class: 'trace', 'aria-labelledby': 'trace-title' });

  function renderDetail() {
    const pid = st.selected;
    const p0 = pid === undefined ? undefined : st.tree?.byPid.get(pid);
    const signature = `${pid}|${st.view ? 'v' : '-'}|${st.seq === undefined ? 'live' : st.view?.seq}|${p0 ? JSON.stringify(p0) : 'absent'}`;
    if (signature === detailShown) return;
    detailShown = signature;
    traceShown = '';
    if (pid !== undefined && !st.view) {
      replace(detail, h('h2', { id: 'detail-title', text: `pid ${pid}` }), h('p', { class: 'muted', text: 'Loading…' }));
      return;
    }
    if (pid === undefined) {
      detail.dataset.pid = '';
      detail.dataset.lockState = '';
      replace(
        detail,
        h('h2', { id: 'detail-title', text: 'Process' }),
        h('p', { class: 'muted', text: 'Select a process in the tree (click, or arrows and Space) to see its memory and why it is locked. Hover an inherited lock to see its path back to the mlockall; Enter opens the process page.' }),
      );
      return;
    }
    const p = st.tree?.byPid.get(pid);
    detail.dataset.pid = String(pid);
    detail.dataset.lockState = p ? p.lockState : 'absent';
    if (!p) {
      replace(
        detail,
        h('h2', { id: 'detail-title', text: `pid ${pid}` }),
        h('p', { class: 'absent', text: `There is no process ${pid} at seq ${num(st.view?.seq ?? 0)}${st.seq !== undefined ? ': it was created later, or had exited' : ''}.` }),
      );
      return;
    }
    const rl = p.rlimitMemlockPages === 'unlimited' ? 'unlimited' : pages(p.rlimitMemlockPages);
    replace(
      detail,
      h('h2', { id: 'detail-title' }, `pid ${pid} `, h('span', { class: 'comm', text: p.comm ?? '' })),
      h('p', {}, lockBadge(p.lockState)),
      h(
        'dl',
        { class: 'facts' },
        fact('Locked', `${pages(p.lockedVmPages)} of ${pages(p.totalVmPages)}`),
        fact('RLIMIT_MEMLOCK', `${rl}${p.capIpcLock ? ' (has CAP_IPC_LOCK: no limit applies)' : ''}`),
        fact('def_flags', p.defFlags.join(' ') || '—'),
        fact('mcl_inherit', p.mclInherit.join(' ') || '—'),
        fact(
          'Parent',
          st.tree.byPid.has(p.ppid) ? h('button', { type: 'button', class: 'link', text: `pid ${p.ppid} ${st.tree.byPid.get(p.ppid).comm ?? ''}`, onclick: () => select(p.ppid, { scroll: 'center' }) }) : `pid ${p.ppid}`,
        ),
        fact('Created', p.createdSeq === 0 ? 'in the starting process table' : h('span', {}, `by ${p.createdBy} at `, seqButton(p.createdSeq))),
        fact('Execs', p.execs.length === 0 ? '—' : h('span', {}, ...p.execs.flatMap((x, k) => [k ? ' → ' : '', `${x.comm ?? '?'} @ `, seqButton(x.seq)]))),
        fact('mm', p.mm === null ? 'none (a kernel thread)' : `${p.mm}, ${num(p.vmaCount)} VMAs`),
      ),
      traceBox,
      h('p', {}, h('a', { href: processHref(pid), text: 'Open the process page (mm, every locked range, the explanation)' })),
    );
    renderTrace(st.trace?.pid === pid && st.trace.seq === st.view.seq ? undefined : 'loading');
  }

  const fact = (label, value) => [h('dt', { text: label }), h('dd', {}, value)];
  const seqButton = (seq) => h('button', { type: 'button', class: 'link', text: `seq ${num(seq)}`, title: `Replay to seq ${seq}`, onclick: () => goTo(seq) });

  function renderTrace(stateOrError) {
    const p = st.selected !== undefined ? st.tree?.byPid.get(st.selected) : undefined;
    if (!p || p.lockState === 'none') {
      replace(traceBox, h('h3', { id: 'trace-title', text: 'Why locked' }), h('p', { class: 'muted', text: p ? 'It holds no locked memory at this seq.' : '' }));
      traceBox.dataset.originSeq = '';
      traceBox.dataset.originPid = '';
      traceShown = '';
      return;
    }
    if (stateOrError === 'loading') {
      if (traceShown) return; // keep the last trace while the next one loads
      replace(traceBox, h('h3', { id: 'trace-title', text: 'Why locked' }), h('p', { class: 'muted', text: 'Tracing…' }));
      return;
    }
    if (stateOrError instanceof Error) {
      traceShown = '';
      replace(traceBox, h('h3', { id: 'trace-title', text: 'Why locked' }), h('p', { class: 'error', text: stateOrError.message }));
      return;
    }
    const t = st.trace;
    if (!t) return;
    const x = t.x;
    const signature = JSON.stringify([x.pid, x.lockState, x.text, x.ranges.length]);
    if (signature === traceShown) return;
    traceShown = signature;
    const first = t.origins[0];
    traceBox.dataset.originSeq = first ? String(first.seq) : '';
    traceBox.dataset.originPid = first ? String(first.pid) : '';
    // one chain per distinct origin: the ranges locked by the same call share it
    const chains = new Map();
    for (const r of x.ranges) {
      const origin = r.chain.find((l) => l.what === 'locked');
      const key = origin ? `${origin.seq}` : `${r.origin}:${r.lockedAt}`;
      if (!chains.has(key)) chains.set(key, r);
    }
    replace(
      traceBox,
      h('h3', { id: 'trace-title', text: 'Why locked' }),
      h('p', { class: 'answer', text: x.text[0] ?? '' }),
      first
        ? h(
            'div',
            { class: 'origin' },
            h('p', {}, p.lockState === 'inherited' ? 'Inherited from ' : 'Locked by ', h('strong', { text: `pid ${first.pid}${first.comm ? ` (${first.comm})` : ''}` }), `: ${first.call ?? 'a lock call'} at event ${num(first.seq)}.`),
            h(
              'p',
              { class: 'origin-actions' },
              h('button', { type: 'button', text: `Replay to the call (seq ${num(first.seq)})`, onclick: () => goTo(first.seq) }),
              ' ',
              first.seq > 1 ? h('button', { type: 'button', text: `Just before it (seq ${num(first.seq - 1)})`, onclick: () => goTo(first.seq - 1) }) : null,
              ' ',
              st.tree.byPid.has(first.pid) ? h('button', { type: 'button', class: 'link', text: `Show pid ${first.pid} in the tree`, onclick: () => select(first.pid, { scroll: 'center' }) }) : null,
            ),
          )
        : null,
      ...[...chains.values()].slice(0, 4).map((r) =>
        h(
          'ol',
          { class: 'chain-list', 'aria-label': `How ${num(r.pages)} pages at ${r.start} came to be locked, newest first` },
          r.chain.map((l) => h('li', {}, seqButton(l.seq), ` ${linkText(l)}`)),
        ),
      ),
      x.text.length > 1 ? h('details', {}, h('summary', { text: 'The explanation in full' }), ...x.text.slice(1).map((t) => h('p', { text: t }))) : null,
    );
  }


  // ---------------------------------------------------------------------------------------------
  // Live

  const unsubscribe = store.subscribe((change) => {
    if (!change.hosts.has(hostId)) return;
    const entry = store.hosts.get(hostId);
    if (!entry) return;
    lockedSpark.update(entry.ring);
    const s = entry.summary;
    if (s.bootId !== st.bootId) {
      // the host rebooted: follow its new boot unless one was asked for
      if (!st.pinnedBoot && st.bootId !== undefined && st.seq === undefined) {
        st.liveSeq = 0;
        void loadAll();
      }
      return;
    }
    if (s.seq <= st.liveSeq) return;
    st.liveSeq = s.seq;
    syncControls();
    if (st.seq === undefined) scheduleLiveLoad();
  });

  function scheduleLiveLoad() {
    if (liveTimer) return;
    const wait = Math.max(0, st.lastLiveLoad + LIVE_REFRESH_MS - Date.now());
    liveTimer = setTimeout(() => {
      liveTimer = undefined;
      if (st.seq === undefined && !destroyed) void loadTree();
    }, wait);
  }

  renderDetail();
  void loadAll();

  return {
    el,
    update(query) {
      const boot = query.boot;
      if (boot !== undefined && boot !== st.bootId) {
        st.selected = query.pid !== undefined ? Number(query.pid) : st.selected;
        setBoot(boot);
        return;
      }
      if (query.pid !== undefined && Number(query.pid) !== st.selected) {
        st.selected = Number(query.pid);
        renderDetail();
      }
      const seq = query.seq !== undefined ? Number(query.seq) : undefined;
      if (seq !== st.seq) {
        if (seq === undefined) goLive();
        else goTo(seq);
      }
    },
    destroy() {
      destroyed = true;
      unsubscribe();
      clearTimeout(liveTimer);
      treeCtl?.abort();
      eventsCtl?.abort();
      traceCtl?.abort();
      loadEventsSoon.cancel();
      loadTreeSoon.cancel();
      hoverSoon.cancel();
      list.destroy();
      clearError('host-tree');
      clearError('host-state');
    },
  };
}
