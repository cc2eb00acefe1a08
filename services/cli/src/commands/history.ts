import type { HostEvent } from '@lockline/events';
import { isProfileName, PROFILES } from '@lockline/kernel';
import type { ProfileName } from '@lockline/kernel';
import type { ProjectionOptions } from '@lockline/projection';
import { HostProjection, changeText, diffViews, explain, hostView, processViews } from '@lockline/projection';
import type { Command, Io } from '../command.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { BootHistory } from '../input.js';
import { readHistory, selectBoot } from '../input.js';
import { Progress } from '../progress.js';
import { renderTree } from '../render.js';

/** Options shared by replay, step, diff and explain. */
const SOURCE = {
  store: { type: 'string' },
  file: { type: 'string' },
  host: { type: 'string' },
  boot: { type: 'string' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const SOURCE_HELP = `  --store URL      read from an event store: sqlite:PATH, or an EventStoreDB connection string
  --file FILE      read a JSONL file of events (bad lines are reported with their numbers and skipped)
  --host H         the host (required)
  --boot B         which boot of the host (default: the last one seen)
  --profile P      audit with this profile instead of the host's own: ${PROFILES.join(', ')}
  --json           print JSON instead of text`;

export function parseSeq(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name}: expected a seq (a whole number ≥ 0), got "${String(value)}"`);
  return n;
}

export function projectionOptions(values: Record<string, unknown>): ProjectionOptions {
  const profile = values.profile as string | undefined;
  if (profile === undefined) return {};
  if (!isProfileName(profile)) throw new UsageError(`--profile: unknown profile "${profile}" (expected one of ${PROFILES.join(', ')})`);
  return { profile: profile as ProfileName };
}

async function loadBoot(values: Record<string, unknown>, io: Io): Promise<BootHistory> {
  const hostId = values.host as string | undefined;
  if (!hostId) throw new UsageError('--host H is required');
  const history = await readHistory(values, io, hostId);
  return selectBoot(history, hostId, values.boot as string | undefined);
}

/** Fold a boot's events up to `seq` (inclusive), with progress for long histories. */
function foldTo(boot: BootHistory, options: ProjectionOptions, io: Io, seq = Number.POSITIVE_INFINITY, start?: { p: HostProjection; index: number }): { p: HostProjection; index: number } {
  const p = start?.p ?? new HostProjection(boot.hostId, boot.bootId, options);
  const progress = new Progress(io, `replaying ${boot.hostId}`, boot.events.length);
  let i = start?.index ?? 0;
  for (; i < boot.events.length && boot.events[i]!.seq <= seq; i++) {
    p.apply(boot.events[i]!);
    if ((i & 0xfff) === 0) progress.tick(i);
  }
  progress.done(i);
  return { p, index: i };
}

function checkSeqInRange(boot: BootHistory, seq: number | undefined, name: string): void {
  if (seq === undefined) return;
  const last = boot.events[boot.events.length - 1]?.seq ?? 0;
  if (seq > last) throw new UsageError(`${name} ${seq}: ${boot.hostId} boot ${boot.bootId} ends at seq ${last}`);
}

export const replay: Command = {
  path: ['replay'],
  summary: "a host's process tree and mm state at any seq",
  usage: 'lockline replay (--store URL | --file FILE.jsonl) --host H [--at SEQ] [--json]',
  help: `Folds the host's events (one boot) through the model up to SEQ and prints its process tree: each
process's locked and total pages, RLIMIT_MEMLOCK (pages), MCL_FUTURE (DEF), MCL_INHERIT (MCL) and
lock state, with the state hash and the findings so far. --json prints { hostId, bootId, seq,
stateHash, processes, findingsByCode, ... }.

Options:
${SOURCE_HELP}
  --at SEQ         the position (default: the end)`,
  options: { ...SOURCE, at: { type: 'string' } },
  async run({ values, io }) {
    const at = parseSeq(values.at, '--at');
    const options = projectionOptions(values);
    const boot = await loadBoot(values, io);
    checkSeqInRange(boot, at, '--at');
    const { p } = foldTo(boot, options, io, at);
    const view = hostView(p);
    io.out(values.json ? JSON.stringify(view, null, 2) : renderTree(view));
    return EXIT_OK;
  },
};

/** The views of the processes an event touched (the actor, a new child). */
function touched(event: HostEvent): number[] {
  if (!('pid' in event.data)) return [];
  const pids = [event.data.pid as number];
  if ('child' in event.data) pids.push(event.data.child as number);
  return pids;
}

export const step: Command = {
  path: ['step'],
  summary: 'walk a host one event at a time, with the state change each caused',
  usage: 'lockline step (--store URL | --file FILE.jsonl) --host H [--from SEQ] [--to SEQ] [--json]',
  help: `Prints every event of the host between --from and --to (default: all), each with what it changed
in the processes it touched (locked/total pages, def_flags, mcl_inherit, lock state …) and the
findings it raised. --json prints one JSON object a line: { seq, type, pid, changes, findings }.

Options:
${SOURCE_HELP}
  --from SEQ       first event to print (events before it are folded silently)
  --to SEQ         last event to print`,
  options: { ...SOURCE, from: { type: 'string' }, to: { type: 'string' } },
  async run({ values, io }) {
    const from = parseSeq(values.from, '--from') ?? 1;
    const to = parseSeq(values.to, '--to') ?? Number.POSITIVE_INFINITY;
    if (to < from) throw new UsageError(`--to ${to} is before --from ${from}`);
    const options = projectionOptions(values);
    const boot = await loadBoot(values, io);
    const start = foldTo(boot, options, io, from - 1);
    const p = start.p;
    let index = start.index;
    for (; index < boot.events.length && boot.events[index]!.seq <= to; index++) {
      const e = boot.events[index]!;
      const pids = touched(e);
      const before = processViews(p, pids);
      const findingsBefore = p.findings.length;
      p.apply(e);
      const after = processViews(p, pids);
      const changes = diffViews(before, after);
      const findings = p.findings.slice(findingsBefore);
      const pid = 'pid' in e.data ? (e.data.pid as number) : null;
      if (values.json) {
        io.out(JSON.stringify({ seq: e.seq, type: e.type, pid, changes, findings }));
      } else {
        const result = 'result' in e.data ? ` → ${(e.data.result as { errno: string | null; signal?: string }).signal ?? (e.data.result as { errno: string | null }).errno ?? 'ok'}` : '';
        io.out(`seq ${e.seq} ${e.type}${pid !== null ? ` pid ${pid}` : ''}${result}`);
        for (const c of changes) io.out(`    ${changeText(c)}`);
        for (const f of findings) io.out(`    ! ${f.code}: ${f.message}`);
      }
    }
    return EXIT_OK;
  },
};

export const diff: Command = {
  path: ['diff'],
  summary: 'what changed on a host between two positions',
  usage: 'lockline diff (--store URL | --file FILE.jsonl) --host H --from A --to B [--json]',
  help: `Folds the host to seq A and to seq B and prints every process added, removed or changed in
between, and the findings raised after A up to B.

Options:
${SOURCE_HELP}
  --from A         the earlier position
  --to B           the later position`,
  options: { ...SOURCE, from: { type: 'string' }, to: { type: 'string' } },
  async run({ values, io }) {
    const from = parseSeq(values.from, '--from');
    const to = parseSeq(values.to, '--to');
    if (from === undefined || to === undefined) throw new UsageError('--from A and --to B are both required');
    if (to < from) throw new UsageError(`--to ${to} is before --from ${from}`);
    const options = projectionOptions(values);
    const boot = await loadBoot(values, io);
    checkSeqInRange(boot, to, '--to');
    const a = foldTo(boot, options, io, from);
    const viewA = hostView(a.p);
    const nFindings = a.p.findings.length;
    const b = foldTo(boot, options, io, to, a);
    const viewB = hostView(b.p);
    const changes = diffViews(viewA.processes, viewB.processes);
    const findings = b.p.findings.slice(nFindings);
    if (values.json) {
      io.out(JSON.stringify({ hostId: boot.hostId, bootId: boot.bootId, from: { seq: viewA.seq, stateHash: viewA.stateHash }, to: { seq: viewB.seq, stateHash: viewB.stateHash }, changes, findings }, null, 2));
    } else {
      io.out(`${boot.hostId} boot ${boot.bootId}: seq ${viewA.seq} (${viewA.stateHash}) → seq ${viewB.seq} (${viewB.stateHash})`);
      io.out(changes.length ? changes.map(changeText).join('\n') : 'no process changed');
      for (const f of findings) io.out(`! seq ${f.seq} ${f.code}: ${f.message}`);
    }
    return EXIT_OK;
  },
};

export const explainCommand: Command = {
  path: ['explain'],
  summary: "why a process's memory is locked, as the provenance chain in words",
  usage: 'lockline explain (--store URL | --file FILE.jsonl) --host H --pid P [--at SEQ] [--json]',
  help: `For every locked range of the process: the event that locked it and, when it was inherited, the
chain of forks and execs it came through back to the mlockall that set MCL_INHERIT; then where its
MCL_FUTURE and MCL_INHERIT came from, and whether it is over its limit.

Options:
${SOURCE_HELP}
  --pid P          the process
  --at SEQ         the position (default: the end)`,
  options: { ...SOURCE, pid: { type: 'string' }, at: { type: 'string' } },
  async run({ values, io }) {
    const pid = parseSeq(values.pid, '--pid');
    if (pid === undefined) throw new UsageError('--pid P is required');
    const at = parseSeq(values.at, '--at');
    const options = projectionOptions(values);
    const boot = await loadBoot(values, io);
    checkSeqInRange(boot, at, '--at');
    const { p } = foldTo(boot, options, io, at);
    const x = explain(p, pid);
    if (!x) throw new UsageError(`${boot.hostId} has no process ${pid} at seq ${p.seq}`);
    io.out(values.json ? JSON.stringify(x, null, 2) : [`${boot.hostId} at seq ${p.seq}:`, ...x.text].join('\n'));
    return EXIT_OK;
  },
};
