/**
 * What each fault of the suite measured, and docs/reliability.md rendered from it. The suite writes
 * the results as JSON (test/faults/.results/results.json, git-ignored) and the markdown at the end of
 * a run; docs/reliability.md is replaced only by a run in which every fault reported (passed, failed
 * or skipped with its reason), so that running one fault alone never leaves a partial document.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What was published, acknowledged and stored, and what the oracles found, at the end of one fault. */
export interface Ledger {
  /** Hosts whose events were compared. */
  readonly hosts: number;
  /** Distinct events LOCKLINE_EVENTS holds: every publish JetStream stored (acked or not). */
  readonly published: number;
  /** Event lines on LOCKLINE_EVENTS (resends and duplicates included). */
  readonly publishedLines: number;
  /** Distinct events their publisher got a JetStream ack for (host-sim's resume state, regenerated). */
  readonly acked: number;
  /** Events the store holds (rows). */
  readonly stored: number;
  /** Acked, and missing from the store. */
  readonly lost: number;
  /** Acked, and missing from LOCKLINE_EVENTS. */
  readonly lostOnBus: number;
  /** Events the store holds twice (same host, boot and seq). */
  readonly storedTwice: number;
  /** Stored, and never acked to anyone (nor expected by the test). */
  readonly unexpected: number;
  /** Store streams whose revisions or seqs are out of order. */
  readonly disordered: number;
  /** Seqs missing inside a host boot's stream. */
  readonly gaps: number;
  /** Missing seqs the projector does not report as gaps, plus gaps it reports that are not missing. */
  readonly gapsUnreported: number;
  /** Lines on LOCKLINE_DLQ. */
  readonly deadLettered: number;
  /** Hosts whose projector answer (boot, seq, state hash) differs from a from-scratch replay of the store. */
  readonly projectionMismatches: number;
  /** Findings a from-scratch replay raises. */
  readonly findings: number;
  /** Findings on LOCKLINE_FINDINGS more than once. */
  readonly findingsTwice: number;
  /** Findings of the replay missing from LOCKLINE_FINDINGS, or there and not in the replay. */
  readonly findingsOff: number;
}

export interface Recovery {
  /** What was measured, e.g. "SIGKILL of ingest → stored again". */
  readonly label: string;
  readonly ms: number;
}

export interface FaultResult {
  readonly id: string;
  readonly title: string;
  readonly status: 'passed' | 'failed' | 'skipped';
  /** The skip reason, or the failure's first line. */
  readonly reason?: string;
  readonly seed: number;
  readonly faultSeed: number;
  readonly durationMs: number;
  /** What was done, in a sentence or two. */
  readonly fault: string;
  readonly ledger?: Ledger;
  readonly recoveries: readonly Recovery[];
  readonly observations: readonly string[];
}

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
export const RESULTS_DIR = join(REPO, 'test/faults/.results');
export const REPORT_PATH = join(REPO, 'docs/reliability.md');

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const secs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The slowest recovery of a fault, and what it was. */
function worstRecovery(recoveries: readonly Recovery[]): string {
  if (recoveries.length === 0) return '–';
  const worst = recoveries.reduce((a, b) => (b.ms > a.ms ? b : a));
  return `${secs(worst.ms)}: ${worst.label}`;
}

/** Median and max of one kind of recovery, with the count. */
function recoveryLine(ms: readonly number[]): string {
  return ms.length === 1 ? secs(ms[0]!) : `median ${secs(median(ms))}, max ${secs(Math.max(...ms))} over ${ms.length}: ${ms.map(secs).join(', ')}`;
}

function natsServerVersion(): string {
  try {
    const binary = execFileSync('bash', [join(REPO, 'scripts/nats-server.sh')], { cwd: REPO, encoding: 'utf8', timeout: 30_000 }).trim().split('\n').pop() ?? '';
    return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return 'nats-server (version unknown)';
  }
}

/** The results as JSON, for the record (and for whoever wants the numbers). */
export function writeResults(results: readonly FaultResult[], seed: number): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, 'results.json');
  writeFileSync(path, `${JSON.stringify({ seed, at: new Date().toISOString(), results }, null, 2)}\n`);
  return path;
}

export function renderReport(results: readonly FaultResult[], seed: number, totalMs: number): string {
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${natsServerVersion()}`;
  const out: string[] = [];
  out.push('# Reliability: what the fault-injection suite measured');
  out.push('');
  out.push('<!-- Generated by test/faults (faults.test.ts) at the end of a full run: do not edit, run the suite. -->');
  out.push('');
  out.push(
    `Generated by \`npx vitest run test/faults\` on ${new Date().toISOString().slice(0, 10)}, seed **${seed}** (replay with \`LOCKLINE_FAULT_SEED=${seed}\`: the same faults at the same moments; the processes' own timing still varies), in ${secs(totalMs)} on ${machine}. Everything on loopback: a real nats-server (or three), the services as real child processes, a SQLite store.`,
  );
  out.push('');
  out.push('Every fault ends the same way: host-sim is stopped cleanly, ingest drains LOCKLINE_EVENTS, and the oracles compare');
  out.push('');
  out.push('- **published**: the distinct events LOCKLINE_EVENTS holds: every publish JetStream stored. To compare the bus with the store the suite keeps acked batches (`keepAckedEvents`), so LOCKLINE_EVENTS is not the work queue `lockline up` runs;');
  out.push("- **acked**: the events their publisher got a JetStream ack for (host-sim's resume state, the hosts regenerated from their seed);");
  out.push('- **stored**: what the event store holds, read back stream by stream;');
  out.push('- **lost**: acked and not stored; **twice**: stored twice (same host, boot, seq); **gaps**: seqs missing inside a host boot\'s stream, and how many of them the projector does **not** report as gaps;');
  out.push("- **projection**: hosts whose projector answer (boot, seq, state hash) differs from a from-scratch replay of the store; and each finding of that replay on LOCKLINE_FINDINGS exactly once;");
  out.push('- **recovery**: from the end of the fault (restart, SIGCONT, room on the disk) until what it names moves again; the table shows the slowest of each fault, its section every one.');
  out.push('');
  out.push('Run it: `npx tsc -b && npx vitest run test/faults` (about five minutes; the disk fault mounts a tmpfs, so it needs root, and says why it skipped otherwise). `LOCKLINE_FAULT_SEED=<n>` replays a seed, `LOCKLINE_FAULT_TRACE=1` prints the cluster\'s and the consumer\'s state every second while a cluster fault recovers. The suite rewrites this file at the end of a run in which every fault reported; the numbers are also in `test/faults/.results/results.json`.');
  out.push('');
  out.push('| fault | result | published | acked | stored | lost | twice | gaps (unreported) | projection ≠ replay | findings twice | slowest recovery |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    const l = r.ledger;
    const status = r.status === 'passed' ? 'passed' : r.status === 'skipped' ? 'skipped' : '**FAILED**';
    out.push(
      l === undefined
        ? `| [${r.title}](#${r.id}) | ${status} | – | – | – | – | – | – | – | – | ${worstRecovery(r.recoveries)} |`
        : `| [${r.title}](#${r.id}) | ${status} | ${int(l.published)} | ${int(l.acked)} | ${int(l.stored)} | ${int(l.lost)} | ${int(l.storedTwice)} | ${int(l.gaps)} (${int(l.gapsUnreported)}) | ${int(l.projectionMismatches)} of ${int(l.hosts)} | ${int(l.findingsTwice)} | ${worstRecovery(r.recoveries)} |`,
    );
  }
  out.push('');
  for (const r of results) {
    out.push(`<a id="${r.id}"></a>`);
    out.push(`## ${r.title}`);
    out.push('');
    out.push(`${r.status === 'passed' ? 'Passed' : r.status === 'skipped' ? 'Skipped' : '**Failed**'} in ${secs(r.durationMs)} (fault seed ${r.faultSeed}).${r.reason === undefined ? '' : ` ${r.status === 'skipped' ? 'Reason' : 'Failure'}: ${r.reason}`}`);
    out.push('');
    out.push(r.fault);
    out.push('');
    const l = r.ledger;
    if (l !== undefined) {
      out.push(
        `- ${int(l.hosts)} hosts; published ${int(l.published)} events (${int(l.publishedLines)} lines on the bus, repeated and invalid ones included), acked ${int(l.acked)}, stored ${int(l.stored)}; dead-lettered ${int(l.deadLettered)}.`,
      );
      out.push(`- lost ${int(l.lost)} (of which missing on the bus ${int(l.lostOnBus)}); stored twice ${int(l.storedTwice)}; stored and never acked ${int(l.unexpected)}; streams out of order ${int(l.disordered)}.`);
      out.push(`- gaps ${int(l.gaps)}, unreported ${int(l.gapsUnreported)}; projection ≠ replay on ${int(l.projectionMismatches)} of ${int(l.hosts)} hosts; findings ${int(l.findings)}, twice ${int(l.findingsTwice)}, missing or unexpected ${int(l.findingsOff)}.`);
    }
    if (r.recoveries.length > 0) {
      const byLabel = new Map<string, number[]>();
      for (const x of r.recoveries) byLabel.set(x.label, [...(byLabel.get(x.label) ?? []), x.ms]);
      for (const [label, ms] of byLabel) out.push(`- recovery, ${label}: ${recoveryLine(ms)}`);
    }
    for (const o of r.observations) out.push(`- ${o}`);
    out.push('');
  }
  return out.join('\n');
}

export function writeReport(results: readonly FaultResult[], seed: number, totalMs: number, path = REPORT_PATH): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderReport(results, seed, totalMs));
  return path;
}
