// One process at a seq (now by default): its mm — def_flags, mcl_inherit, locked and total pages,
// each locked range with where it came from, every VMA where the API lists them — and the
// explanation in words: the chain of forks and execs back to the call that locked its memory.
import { getJson, isAbort } from '../api.js';
import { h, replace } from '../dom.js';
import { FINDING_CODES, chainLinkText as linkText, lockBadge, num, pages, pagesValue } from '../format.js';

/** VMAs drawn before "show all": a process may have thousands. */
const VMA_ROWS = 200;

export function processView(ctx) {
  const { showError, clearError } = ctx;
  const { hostId, pid } = ctx.params;
  const enc = encodeURIComponent(hostId);
  let query = ctx.query;
  let ctl;
  const body = h('div', { class: 'process-body' }, h('p', { class: 'muted', role: 'status', text: 'Loading…' }));
  const el = h('section', { class: 'process', dataset: { hostId, pid: String(pid) } }, body);
  document.title = `pid ${pid} on ${hostId} · Lockline`;

  const hostHref = (seq, selected = pid) => {
    const q = new URLSearchParams();
    if (seq !== undefined) q.set('seq', String(seq));
    if (query.boot) q.set('boot', query.boot);
    q.set('pid', String(selected));
    return `#/hosts/${enc}?${q}`;
  };
  const selfHref = (seq) => {
    const q = new URLSearchParams();
    if (seq !== undefined) q.set('seq', String(seq));
    if (query.boot) q.set('boot', query.boot);
    return `#/hosts/${enc}/processes/${pid}${q.size ? `?${q}` : ''}`;
  };

  async function load() {
    ctl?.abort();
    const own = (ctl = new AbortController());
    const q = new URLSearchParams();
    if (query.seq !== undefined) q.set('seq', query.seq);
    if (query.boot) q.set('bootId', query.boot);
    const at = query.seq !== undefined ? ` at seq ${query.seq}` : '';
    try {
      const [d, findings] = await Promise.all([
        getJson(`/v1/hosts/${enc}/processes/${pid}${q.size ? `?${q}` : ''}`, { signal: own.signal, what: `load pid ${pid} of ${hostId}${at}` }),
        getJson(`/v1/findings?hostId=${enc}&pid=${pid}&limit=50`, { signal: own.signal, what: `load the findings of pid ${pid} on ${hostId}` }).catch((err) => (isAbort(err) ? Promise.reject(err) : { error: err })),
      ]);
      if (own !== ctl) return;
      clearError('process');
      render(d, findings);
    } catch (err) {
      if (isAbort(err)) return;
      // a process that is not there (exited, not yet created) is an answer, not a failure
      if (err.status !== 404) showError('process', err, { retry: () => void load() });
      replace(
        body,
        h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Fleet' }), ' / ', h('a', { href: hostHref(query.seq), text: hostId })),
        h('h1', { text: `pid ${pid}` }),
        err.status === 404
          ? h('p', { class: 'empty' }, `${err.detail}: it may have exited, or not exist yet. `, h('a', { href: hostHref(query.seq), text: 'Find it in the host’s replay' }), '.')
          : h('p', { class: 'empty', text: 'The process could not be loaded: the error is above.' }),
      );
    }
  }

  function render(d, findings) {
    const p = d.process;
    const x = d.explain;
    const live = query.seq === undefined;
    el.dataset.lockState = p.lockState;
    // one chain per distinct call that locked: the ranges it locked share it
    const chains = new Map();
    for (const r of x.ranges) {
      const origin = r.chain.find((l) => l.what === 'locked');
      const key = origin ? String(origin.seq) : `${r.origin}:${r.lockedAt}`;
      const c = chains.get(key);
      if (c) c.ranges.push(r);
      else chains.set(key, { origin, chain: r.chain, ranges: [r] });
    }
    const limit = p.rlimitMemlockPages === 'unlimited' ? 'unlimited' : pages(p.rlimitMemlockPages);
    const locked = pagesValue(p.lockedVmPages);

    replace(
      body,
      h('p', { class: 'crumbs' }, h('a', { href: '#/', text: 'Fleet' }), ' / ', h('a', { href: hostHref(live ? undefined : d.seq), text: hostId }), ` / pid ${pid}`),
      h('h1', {}, `pid ${pid} `, h('span', { class: 'comm', text: p.comm ?? '' }), ' ', lockBadge(p.lockState)),
      h(
        'p',
        { class: 'at' },
        live ? `Now (seq ${num(d.seq)}) · ` : `At seq ${num(d.seq)} · `,
        `boot ${d.bootId} · `,
        d.seq > 1 ? h('a', { href: selfHref(d.seq - 1), text: '← one event earlier' }) : null,
        ' · ',
        !live ? h('a', { href: selfHref(d.seq + 1), text: 'one event later →' }) : null,
        !live ? ' · ' : null,
        !live ? h('a', { href: selfHref(undefined), text: 'now' }) : null,
        !live ? ' · ' : null,
        h('a', { href: hostHref(live ? undefined : d.seq), text: 'in the host’s tree and replay' }),
      ),

      h(
        'section',
        { class: 'panel why', 'aria-labelledby': 'why-title' },
        h('h2', { id: 'why-title', text: 'Why its memory is locked' }),
        x.text.length === 0 ? h('p', { class: 'muted', text: 'No explanation.' }) : h('p', { class: 'answer', text: x.text[0] }),
        ...x.text.slice(1).map((t) => h('p', { text: t })),
        ...[...chains.values()].map(({ origin, chain, ranges }) =>
          h(
            'div',
            { class: 'chain-block' },
            h(
              'h3',
              {},
              origin
                ? `${num(ranges.reduce((n, r) => n + r.pages, 0))} pages in ${ranges.length} ${ranges.length === 1 ? 'range' : 'ranges'}, traced to ${origin.call ?? 'a lock call'} by pid ${origin.pid}${origin.comm ? ` (${origin.comm})` : ''} at event ${num(origin.seq)}`
                : `${num(ranges.reduce((n, r) => n + r.pages, 0))} pages (${ranges[0].origin})`,
            ),
            h(
              'ol',
              { class: 'chain-list', 'aria-label': 'From this process back to the call that locked, newest first' },
              chain.map((l) => h('li', {}, h('a', { href: hostHref(l.seq, l.pid), text: `event ${num(l.seq)}` }), ` ${linkText(l)}`)),
            ),
          ),
        ),
      ),

      h(
        'div',
        { class: 'process-grid' },
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'proc-title' },
          h('h2', { id: 'proc-title', text: 'Process' }),
          h(
            'dl',
            { class: 'facts' },
            fact('State', p.alive ? 'alive' : 'exited'),
            fact('Parent', h('a', { href: `#/hosts/${enc}/processes/${p.ppid}${live ? '' : `?seq=${d.seq}`}`, text: `pid ${p.ppid}` })),
            fact('Created', p.createdSeq === 0 ? 'in the starting process table' : h('span', {}, `by ${p.createdBy} at `, h('a', { href: hostHref(p.createdSeq), text: `event ${num(p.createdSeq)}` }))),
            fact('Execs', p.execs.length === 0 ? '—' : h('span', {}, ...p.execs.flatMap((e, k) => [k ? ' → ' : '', `${e.comm ?? '?'} (`, h('a', { href: hostHref(e.seq), text: `event ${num(e.seq)}` }), ')']))),
            fact('Children', p.children.length === 0 ? '—' : h('span', {}, ...p.children.slice(0, 50).flatMap((c, k) => [k ? ', ' : '', h('a', { href: `#/hosts/${enc}/processes/${c}${live ? '' : `?seq=${d.seq}`}`, text: String(c) })]), p.children.length > 50 ? ` and ${p.children.length - 50} more` : '')),
            fact('CAP_IPC_LOCK', p.capIpcLock ? 'yes: no limit applies to it' : 'no'),
            fact('RLIMIT_MEMLOCK', limit),
          ),
        ),
        d.mm === null
          ? h('section', { class: 'panel' }, h('h2', { text: 'Memory' }), h('p', { text: 'No mm: a kernel thread.' }))
          : h(
              'section',
              { class: 'panel', 'aria-labelledby': 'mm-title' },
              h('h2', { id: 'mm-title', text: `Memory (mm ${d.mm.id})` }),
              h(
                'dl',
                { class: 'facts' },
                fact('Locked', h('span', {}, pages(d.mm.lockedVmPages), ' of ', pages(d.mm.totalVmPages), ' ', Number.isFinite(locked) && d.mm.totalVmPages > 0 ? h('meter', { min: 0, max: d.mm.totalVmPages, value: Math.max(0, locked), title: 'locked of mapped pages' }) : null)),
                fact('Limit', p.capIpcLock ? `${limit} (not enforced: CAP_IPC_LOCK)` : limit),
                fact('def_flags', d.mm.defFlags.join(' ') || '— (new mappings are not locked)'),
                fact('mcl_inherit', d.mm.mclInherit.join(' ') || '— (children do not inherit its locks)'),
                fact('VMAs', num(d.mm.vmaCount)),
                fact(
                  'Shared with',
                  d.mm.sharedWith.length === 0 ? '— (its own)' : h('span', {}, ...d.mm.sharedWith.flatMap((c, k) => [k ? ', ' : '', h('a', { href: `#/hosts/${enc}/processes/${c}${live ? '' : `?seq=${d.seq}`}`, text: `pid ${c}` })])),
                ),
              ),
            ),
      ),

      d.mm === null ? null : rangesTable(d.mm.lockedRanges),
      d.mm?.vmas ? vmasTable(d.mm.vmas) : d.mm ? h('p', { class: 'muted', text: 'The API did not list this mm’s VMAs; its locked ranges are above.' }) : null,
      findingsSection(findings),
    );
  }

  function rangesTable(ranges) {
    return h(
      'section',
      { class: 'panel', 'aria-labelledby': 'ranges-title' },
      h('h2', { id: 'ranges-title', text: `Locked ranges (${ranges.length})` }),
      ranges.length === 0
        ? h('p', { class: 'muted', text: 'None.' })
        : h(
            'table',
            { class: 'data' },
            h('thead', {}, h('tr', {}, ['Start', 'End', 'Pages', 'Locked at', 'Origin', 'How'].map((t) => h('th', { scope: 'col', text: t })))),
            h(
              'tbody',
              {},
              ranges.map((r) =>
                h(
                  'tr',
                  {},
                  h('td', { class: 'mono', text: r.start }),
                  h('td', { class: 'mono', text: r.end }),
                  h('td', { class: 'num', text: num(r.pages) }),
                  h('td', {}, h('a', { href: hostHref(r.lockedAt), text: `event ${num(r.lockedAt)}` })),
                  h('td', {}, r.origin === 'inherited' ? lockBadge('inherited') : r.origin === 'own' ? lockBadge('own') : r.origin),
                  h('td', { class: 'how', text: r.text }),
                ),
              ),
            ),
          ),
    );
  }

  function vmasTable(vmas) {
    const tbody = h('tbody');
    const drawRows = (n) =>
      tbody.replaceChildren(
        ...vmas.slice(0, n).map((v) =>
          h(
            'tr',
            { class: v.flags.includes('VM_LOCKED') ? 'locked' : '' },
            h('td', { class: 'mono', text: v.start }),
            h('td', { class: 'mono', text: v.end }),
            h('td', { class: 'num', text: num(v.pages) }),
            h('td', { text: v.flags.join(' ') }),
            h('td', {}, v.lockedAt === null ? '—' : h('a', { href: hostHref(v.lockedAt), text: `event ${num(v.lockedAt)}` })),
          ),
        ),
      );
    drawRows(VMA_ROWS);
    const more = vmas.length > VMA_ROWS ? h('button', { type: 'button', text: `Show all ${num(vmas.length)}`, onclick: () => (drawRows(vmas.length), more.remove()) }) : null;
    return h(
      'section',
      { class: 'panel', 'aria-labelledby': 'vmas-title' },
      h('h2', { id: 'vmas-title', text: `VMAs (${num(vmas.length)})` }),
      h('table', { class: 'data' }, h('thead', {}, h('tr', {}, ['Start', 'End', 'Pages', 'Flags', 'Locked at'].map((t) => h('th', { scope: 'col', text: t })))), tbody),
      more,
    );
  }

  function findingsSection(findings) {
    const title = h('h2', { id: 'pf-title', text: 'Findings about this process' });
    if (findings.error) return h('section', { class: 'panel', 'aria-labelledby': 'pf-title' }, title, h('p', { class: 'error', text: findings.error.message }));
    return h(
      'section',
      { class: 'panel', 'aria-labelledby': 'pf-title' },
      title,
      findings.items.length === 0
        ? h('p', { class: 'muted', text: 'None held by the API for this pid.' })
        : h(
            'ul',
            { class: 'finding-list' },
            findings.items.map(({ finding: f }) =>
              h(
                'li',
                {},
                h('span', { class: 'code-chip', title: FINDING_CODES[f.code] ?? '' }, h('span', { class: 'code', text: f.code })),
                ' ',
                h('a', { href: `#/hosts/${enc}/processes/${pid}?seq=${f.seq}&boot=${encodeURIComponent(f.bootId)}`, text: `at event ${num(f.seq)}` }),
                `: ${f.message}`,
              ),
            ),
          ),
      h('p', {}, h('a', { href: `#/findings?host=${enc}&pid=${pid}`, text: 'All findings of this pid' })),
    );
  }

  void load();
  return {
    el,
    update(q) {
      query = q;
      void load();
    },
    destroy() {
      ctl?.abort();
      clearError('process');
    },
  };
}

const fact = (label, value) => [h('dt', { text: label }), h('dd', {}, value)];
