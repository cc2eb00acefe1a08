// The fleet: totals, locked memory over time, findings by code, and every host in a virtual table
// that redraws only the rows in view, once per frame, however many summaries arrive.
import { areaChart, sparkline } from '../charts.js';
import { h, setText } from '../dom.js';
import { FINDING_CODES, bytes, duration, findingsTotal, num, PAGE_SIZE } from '../format.js';
import { VirtualList } from '../virtualList.js';

const ROW_HEIGHT = 36;

const COLUMNS = [
  { key: 'hostId', label: 'Host', value: (s) => s.hostId, text: true },
  { key: 'seq', label: 'Seq', value: (s) => s.seq },
  { key: 'processes', label: 'Processes', value: (s) => s.processes },
  { key: 'lockedPages', label: 'Locked memory', value: (s) => s.lockedPages },
  { key: 'trend', label: 'Locked, recent', sortable: false },
  { key: 'findings', label: 'Findings', value: (s) => findingsTotal(s.findingsByCode) },
  { key: 'eventRate', label: 'Events/s', value: (s) => s.eventRate },
  { key: 'lag', label: 'Summary age', value: (s) => -Date.parse(s.updatedAt) },
];

let sortKey = 'hostId';
let sortDir = 1;
let filterText = '';
let firstRenderMarked = false;

export function fleetView({ store }) {
  document.title = 'Fleet · Lockline';

  // --- totals
  const figure = (label) => {
    const dd = h('dd', { text: '—' });
    return { dd, el: h('div', { class: 'figure' }, h('dt', { text: label }), dd) };
  };
  const fHosts = figure('Hosts');
  const fProcesses = figure('Live processes');
  const fLocked = figure('Locked memory');
  const fRate = figure('Events/s');
  const fFindings = figure('Findings');
  const totals = h('dl', { class: 'figures' }, fHosts.el, fProcesses.el, fLocked.el, fRate.el, fFindings.el);

  // --- chart
  const chart = areaChart({ label: 'locked pages, all hosts' });
  const caption = h('figcaption', { text: '' });
  const chartFigure = h('figure', { class: 'chart' }, chart.el, caption);

  // --- findings by code
  const codes = h('ul', { class: 'code-list' });

  // --- the hosts table
  const filter = h('input', {
    type: 'search',
    id: 'host-filter',
    placeholder: 'host id contains…',
    value: filterText,
    oninput: () => {
      filterText = filter.value.trim().toLowerCase();
      reorder();
      list.viewport.scrollTop = 0;
      list.render();
    },
  });
  const shown = h('span', { class: 'muted', role: 'status' });
  const headerRow = h('div', { role: 'row', class: 'host-row header', 'aria-rowindex': '1' });
  const headerCells = new Map();
  for (const col of COLUMNS) {
    const cell = h('div', { role: 'columnheader', class: `c-${col.key}` });
    if (col.sortable === false) cell.textContent = col.label;
    else cell.append(h('button', { type: 'button', class: 'sort', text: col.label, onclick: () => sortBy(col.key) }));
    headerCells.set(col.key, cell);
    headerRow.append(cell);
  }
  const viewport = h('div', { class: 'host-rows', role: 'rowgroup', tabindex: '-1' });
  const empty = h(
    'div',
    { class: 'empty', hidden: true },
    h('p', { text: 'No hosts have reported yet.' }),
    h('p', { class: 'muted', text: 'A host appears here once the projector has summarised its first events (`lockline up` starts 8 simulated hosts; the first summaries come within seconds).' }),
  );
  const table = h('div', { role: 'table', class: 'host-table', 'aria-label': 'Hosts', 'aria-rowcount': '1' }, h('div', { role: 'rowgroup' }, headerRow), viewport);

  let order = [];
  /** how many hosts the store held at the last reorder: a new host means a new order */
  let ordered = 0;
  const list = new VirtualList(viewport, {
    rowHeight: ROW_HEIGHT,
    createRow: () => {
      const cells = {};
      const row = h('div', { role: 'row', class: 'host-row' });
      for (const col of COLUMNS) {
        const cell = h('div', { role: 'cell', class: `c-${col.key}` });
        cells[col.key] = cell;
        row.append(cell);
      }
      cells.link = h('a', {});
      cells.hostId.append(cells.link);
      cells.spark = sparkline(120, 24);
      cells.trend.append(cells.spark.el);
      cells.findingsTotal = h('span', { class: 'count' });
      cells.findingsCodes = h('span', { class: 'codes' });
      cells.findings.append(cells.findingsTotal, cells.findingsCodes);
      row.cells_ = cells;
      return row;
    },
    renderRow: (row, i) => {
      const entry = store.hosts.get(order[i]);
      if (!entry) return;
      const s = entry.summary;
      const c = row.cells_;
      row.setAttribute('aria-rowindex', String(i + 2));
      const href = `#/hosts/${encodeURIComponent(s.hostId)}`;
      if (c.link.getAttribute('href') !== href) c.link.setAttribute('href', href);
      setText(c.link, s.hostId);
      setText(c.seq, num(s.seq));
      setText(c.processes, num(s.processes));
      setText(c.lockedPages, `${num(s.lockedPages)} (${bytes(s.lockedPages * PAGE_SIZE)})`);
      c.spark.update(entry.ring);
      const total = findingsTotal(s.findingsByCode);
      setText(c.findingsTotal, num(total));
      setText(
        c.findingsCodes,
        Object.entries(s.findingsByCode)
          .sort((a, b) => b[1] - a[1])
          .map(([code, n]) => `${code} ${n}`)
          .join(', '),
      );
      c.findings.classList.toggle('has-findings', total > 0);
      setText(c.eventRate, num(Math.round(s.eventRate)));
      const lag = store.lagMs(s);
      setText(c.lag, `${duration(lag)}${s.uncertainSince !== null ? ' · uncertain' : ''}`);
      c.lag.classList.toggle('warn', lag > 10_000 || s.uncertainSince !== null);
    },
  });

  function sortBy(key) {
    if (sortKey === key) sortDir = -sortDir;
    else {
      sortKey = key;
      sortDir = key === 'hostId' ? 1 : -1; // numbers: biggest first
    }
    reorder();
    list.render();
  }

  function reorder() {
    const col = COLUMNS.find((c) => c.key === sortKey) ?? COLUMNS[0];
    const rows = [];
    for (const [id, { summary }] of store.hosts) if (!filterText || id.toLowerCase().includes(filterText)) rows.push([id, col.value(summary)]);
    rows.sort((a, b) => (a[1] < b[1] ? -sortDir : a[1] > b[1] ? sortDir : a[0] < b[0] ? -1 : 1));
    order = rows.map((r) => r[0]);
    ordered = store.hosts.size;
    list.setCount(order.length);
    table.setAttribute('aria-rowcount', String(order.length + 1));
    shown.textContent = filterText ? `${num(order.length)} of ${num(store.hosts.size)} hosts` : `${num(order.length)} hosts`;
    for (const [key, cell] of headerCells) {
      if (key === sortKey) cell.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
      else cell.removeAttribute('aria-sort');
    }
    // as tall as its rows, up to the CSS max-height
    viewport.style.height = `${Math.max(3, order.length) * ROW_HEIGHT + 2}px`;
    empty.hidden = store.hosts.size > 0;
    viewport.hidden = store.hosts.size === 0;
  }

  function renderTotals() {
    const t = store.totals;
    setText(fHosts.dd, num(t.hosts));
    setText(fProcesses.dd, num(t.processes));
    setText(fLocked.dd, `${num(t.lockedPages)} pages (${bytes(t.lockedPages * PAGE_SIZE)})`);
    setText(fRate.dd, num(Math.round(t.eventRate)));
    setText(fFindings.dd, num(findingsTotal(t.findingsByCode)));
    chart.update(store.total, (p) => {
      const n = store.total.n;
      caption.textContent =
        n === 0
          ? 'Locked pages across the fleet: drawn from the live summaries as they arrive.'
          : `Locked pages across the fleet since this page opened (${n} samples): now ${num(t.lockedPages)}, peak ${num(p.max)}, lowest ${num(p.min)}.`;
    });
    const entries = Object.entries(t.findingsByCode).sort((a, b) => b[1] - a[1]);
    codes.replaceChildren(
      ...(entries.length === 0
        ? [h('li', { class: 'muted', text: 'No findings: every host’s locked memory is within its limits and its reports agree with the model.' })]
        : entries.map(([code, n]) =>
            h('li', {}, h('a', { href: `#/findings?code=${encodeURIComponent(code)}`, class: 'code-chip', title: FINDING_CODES[code] ?? '' }, h('span', { class: 'code', text: code }), h('span', { class: 'n', text: num(n) }))),
          )),
    );
  }

  const unsubscribe = store.subscribe((change) => {
    if (change.status) return;
    const sortedByValue = sortKey !== 'hostId';
    if (change.all || sortedByValue || store.hosts.size !== ordered) reorder();
    if (change.hosts.size > 0) {
      renderTotals();
      list.render();
    }
  });
  // Summary ages move on with the clock: redraw the rows in view once a second.
  const clock = setInterval(() => list.render(), 1000);

  const el = h(
    'section',
    { class: 'fleet' },
    h('h1', { text: 'Fleet' }),
    totals,
    h('div', { class: 'fleet-panels' }, h('section', { class: 'panel' }, h('h2', { text: 'Locked memory over time' }), chartFigure), h('section', { class: 'panel' }, h('h2', { text: 'Findings by code' }), codes)),
    h(
      'section',
      { class: 'panel hosts' },
      h('div', { class: 'toolbar' }, h('h2', { text: 'Hosts' }), h('label', { for: 'host-filter', class: 'visually-hidden', text: 'Filter hosts' }), filter, shown),
      table,
      empty,
    ),
  );

  return {
    el,
    mounted() {
      reorder();
      renderTotals();
      list.render();
      if (!firstRenderMarked) {
        firstRenderMarked = true;
        // the first view's rows are in the DOM; the next frame's task runs once they are painted
        performance.mark('lockline:fleet-rendered');
        document.documentElement.dataset.fleetRendered = String(order.length);
        requestAnimationFrame(() =>
          setTimeout(() => {
            performance.mark('lockline:fleet-painted');
            document.documentElement.dataset.fleetPainted = String(order.length);
          }),
        );
      }
    },
    destroy() {
      unsubscribe();
      clearInterval(clock);
      list.destroy();
    },
  };
}
