// How numbers, lock states and events are said on the page.
import { h } from './dom.js';

/** Every host reports 4 KiB pages (the events' schema fixes pageSize at 4096). */
export const PAGE_SIZE = 4096;

const nf = new Intl.NumberFormat('en-US');
export const num = (n) => (typeof n === 'number' ? nf.format(n) : String(n));

/** 4096 → "16.0 KiB"; negative values (locked_vm underflow) keep their sign. */
export function bytes(n) {
  const sign = n < 0 ? '−' : '';
  let v = Math.abs(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${sign}${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * locked_vm may be negative under the patch's accounting bug, and then travels as a string
 * (schemas.ts: `pages`): a number for arithmetic, NaN when it is not one.
 */
export const pagesValue = (p) => (typeof p === 'number' ? p : Number(p));

/** "5,935 pages (23.2 MiB)" */
export function pages(p) {
  const v = pagesValue(p);
  if (!Number.isFinite(v)) return `${p} pages`;
  return `${num(v)} ${v === 1 ? 'page' : 'pages'} (${bytes(v * PAGE_SIZE)})`;
}

/** The four lock states: a colour (CSS class), a shape and words, so that none depends on colour alone. */
export const LOCK_STATES = {
  none: { label: 'no lock', shape: '○', what: 'holds no locked memory' },
  own: { label: 'own lock', shape: '●', what: 'locked memory it locked itself' },
  inherited: { label: 'inherited', shape: '◆', what: 'locked memory inherited from an ancestor’s mlockall (MCL_INHERIT)' },
  'over-limit': { label: 'over limit', shape: '▲', what: 'locked memory above its RLIMIT_MEMLOCK, without CAP_IPC_LOCK' },
};
export const LOCK_STATE_ORDER = ['none', 'own', 'inherited', 'over-limit'];

/** A badge: shape + words, coloured by state. */
export function lockBadge(state, { short = false } = {}) {
  const meta = LOCK_STATES[state] ?? { label: state, shape: '?' };
  return h(
    'span',
    { class: `lock-badge ls-${state}`, title: meta.what ?? '' },
    h('span', { class: 'shape', 'aria-hidden': 'true', text: meta.shape }),
    short ? h('span', { class: 'visually-hidden', text: meta.label }) : ` ${meta.label}`,
  );
}

/** What each finding code means, in a line (docs/replay.md). */
export const FINDING_CODES = {
  LOCKED_OVER_LIMIT: 'a process without CAP_IPC_LOCK uses more locked memory than its RLIMIT_MEMLOCK',
  ACCOUNTING_DRIFT: 'a counter the host sampled differs from the projection',
  RESULT_DIVERGENCE: 'the host reported a result the model does not give',
  LOCKED_VM_UNDERFLOW: 'locked_vm wrapped below zero',
  SEQUENCE_GAP: 'events are missing: the state is uncertain until a sample agrees',
  DUPLICATE_EVENT: 'an event seen twice (ignored)',
  HOST_LOCKED_OVER_SHARE: 'the host’s locked total is above its share of RAM',
};

export function findingsTotal(byCode) {
  let n = 0;
  for (const v of Object.values(byCode ?? {})) n += v;
  return n;
}

/** "0.4 s", "12 s", "3 min" */
export function duration(ms) {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const resultText = (r) => {
  if (!r) return '';
  if (r.signal) return ` → killed by ${r.signal}`;
  if (r.errno) return ` → ${r.errno}`;
  return ' → ok';
};
const hex = (n) => (typeof n === 'number' ? `0x${n.toString(16)}` : String(n));

/** One stored event in words: "pid 971 mlockall(MCL_CURRENT|MCL_FUTURE) → ok". */
export function describeEvent(e) {
  const d = e.data ?? {};
  const op = e.type.startsWith('syscall.') ? e.type.slice('syscall.'.length) : e.type;
  switch (e.type) {
    case 'host.booted':
      return `host booted: ${d.profile}, ${num(d.ramPages)} pages of RAM`;
    case 'process.table':
      return `the starting process table: ${num(d.processes?.length ?? 0)} processes`;
    case 'process.exited':
      return `pid ${d.pid} exited${d.signal ? ` (killed by ${d.signal})` : d.code !== undefined ? ` (code ${d.code})` : ''}`;
    case 'counters.sampled':
      return `the host sampled its counters for ${num(d.samples?.length ?? 0)} processes`;
    case 'syscall.fork':
    case 'syscall.vfork':
      return `pid ${d.pid} ${op}() → child ${d.child}${d.result?.errno ? resultText(d.result) : ''}`;
    case 'syscall.clone':
      return `pid ${d.pid} clone(${d.shareVm ? 'CLONE_VM' : ''}) → ${d.shareVm ? 'thread' : 'child'} ${d.child}${d.result?.errno ? resultText(d.result) : ''}`;
    case 'syscall.exec':
      return `pid ${d.pid} exec ${d.path ?? d.comm ?? 'an image'}${resultText(d.result)}`;
    case 'syscall.mlockall':
      return `pid ${d.pid} mlockall(${(d.flags ?? []).join('|')})${resultText(d.result)}`;
    case 'syscall.munlockall':
      return `pid ${d.pid} munlockall()${resultText(d.result)}`;
    case 'syscall.mmap':
      return `pid ${d.pid} mmap(${d.addr !== undefined ? `${hex(d.addr)}, ` : ''}${bytes(d.length)}, ${d.prot}, ${(d.flags ?? []).join('|')})${resultText(d.result)}`;
    case 'syscall.mlock':
    case 'syscall.munlock':
    case 'syscall.munmap':
      return `pid ${d.pid} ${op}(${hex(d.addr)}, ${bytes(d.length)})${resultText(d.result)}`;
    case 'syscall.mlock2':
      return `pid ${d.pid} mlock2(${hex(d.addr)}, ${bytes(d.length)}, ${(d.flags ?? []).join('|') || '0'})${resultText(d.result)}`;
    case 'syscall.brk':
      return `pid ${d.pid} ${d.increment !== undefined ? `sbrk(${num(d.increment)})` : `brk(${hex(d.addr)})`}${resultText(d.result)}`;
    case 'syscall.setrlimit':
      return `pid ${d.pid} setrlimit(RLIMIT_MEMLOCK, ${d.cur}, ${d.max})${resultText(d.result)}`;
    default:
      return `${d.pid !== undefined ? `pid ${d.pid} ` : ''}${op}${resultText(d.result)}`;
  }
}

/** One link of an explain chain in words: "pid 975 was forked from pid 971 (sh)". */
export function chainLinkText(l) {
  switch (l.what) {
    case 'fork':
    case 'vfork':
      return `pid ${l.pid} was ${l.what}ed from pid ${l.fromPid}${l.comm ? ` (${l.comm})` : ''}`;
    case 'thread':
      return `pid ${l.pid} started as a thread of pid ${l.fromPid}`;
    case 'exec':
      return `pid ${l.pid} exec'd ${l.comm ?? 'a program'}`;
    case 'locked':
      return `pid ${l.pid}${l.comm ? ` (${l.comm})` : ''} called ${l.call ?? 'a lock call'}`;
    default:
      return `pid ${l.pid} ${l.what}`;
  }
}
