import type { Finding } from '@lockline/audit';
import type { HostView, ProcessView } from '@lockline/projection';

const STATE_MARK: Record<ProcessView['lockState'], string> = { none: ' ', own: 'L', inherited: 'I', 'over-limit': '!' };

/** The process tree as text: one line a process, indented under its parent. */
export function renderTree(view: HostView): string {
  const lines: string[] = [];
  const findings = Object.entries(view.findingsByCode)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  lines.push(
    `${view.hostId} boot ${view.bootId} at seq ${view.seq} (profile ${view.profile ?? '?'}${view.hostProfile && view.hostProfile !== view.profile ? `, host runs ${view.hostProfile}` : ''})`,
    `state ${view.stateHash}, ${view.processes.length} processes, ${view.lockedPages} pages locked on the host` +
      (view.uncertainSince !== null ? `, UNCERTAIN since seq ${view.uncertainSince} (events missing)` : ''),
    `findings: ${findings || 'none'}`,
    '',
    '   PID  LOCKED   TOTAL  LIMIT  DEF  MCL  COMMAND        (L own lock, I inherited, ! over limit)',
  );
  const byPid = new Map(view.processes.map((p) => [p.pid, p]));
  const roots = view.processes.filter((p) => !byPid.has(p.ppid) || p.ppid === p.pid);
  const seen = new Set<number>();
  const walk = (p: ProcessView, depth: number): void => {
    if (seen.has(p.pid)) return;
    seen.add(p.pid);
    const def = p.defFlags.includes('VM_LOCKED') ? (p.defFlags.includes('VM_LOCKONFAULT') ? 'F+O' : 'F') : '-';
    const mcl = p.mclInherit.includes('MCL_RECURSIVE') ? 'I+R' : p.mclInherit.length ? 'I' : '-';
    const limit = p.rlimitMemlockPages === 'unlimited' ? 'unlim' : String(p.rlimitMemlockPages);
    const name = `${'  '.repeat(depth)}${depth ? '└ ' : ''}${p.comm ?? '?'}${p.alive ? '' : ' (dead)'}${p.capIpcLock ? ' [CAP_IPC_LOCK]' : ''}`;
    lines.push(
      `${STATE_MARK[p.lockState]}${String(p.pid).padStart(5)}  ${String(p.lockedVmPages).padStart(6)}  ${String(p.totalVmPages).padStart(6)}  ${limit.padStart(5)}  ${def.padEnd(3)}  ${mcl.padEnd(3)}  ${name}`,
    );
    for (const c of p.children) {
      const child = byPid.get(c);
      if (child) walk(child, depth + 1);
    }
  };
  for (const r of roots) walk(r, 0);
  return lines.join('\n');
}

export function renderFinding(f: Finding): string {
  return `${f.hostId}/${f.bootId} seq ${f.seq}${f.pid !== null ? ` pid ${f.pid}` : ''} ${f.code}: ${f.message}`;
}
