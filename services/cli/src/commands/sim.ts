import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseScenario, formatProblems } from '@lockline/events';
import { PROFILES, isProfileName } from '@lockline/kernel';
import type { ProfileName } from '@lockline/kernel';
import type { SimRecord } from '@lockline/sim';
import { InvalidFaultSpecError, parseFaults, scenarioHost, simulateFleet } from '@lockline/sim';
import type { Command } from '../command.js';
import { EXIT_OK, EXIT_USAGE, UsageError } from '../command.js';
import { Progress } from '../progress.js';
import { readJsonFile } from './modelRun.js';

function positiveInt(value: unknown, name: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`${name} is required`);
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name}: expected a whole number ≥ 1, got "${String(value)}"`);
  return n;
}

export const sim: Command = {
  path: ['sim'],
  summary: 'simulate hosts and write their events as JSONL',
  usage: 'lockline sim --hosts N --seed S --events E [--profile P] [--faults LIST] --out FILE.jsonl\n       lockline sim --scenario FILE.json [--host-id H] [--seed S] --out FILE.jsonl',
  help: `Runs N simulated hosts (a mix of workloads: a build farm under \`mlock -r make\`, a real-time daemon,
a database, a secrets agent, a leaky process, background churn) on the kernel model, deterministically
from the seed, and writes the events they report, one JSON a line. With --scenario, one host runs
the scenario file step by step instead.

Options:
  --hosts N        how many hosts (default 8)
  --seed S         the seed: the same seed gives the same file (default 1)
  --events E       how many events in all (default 10000)
  --profile P      the hosts' kernel: ${PROFILES.join(', ')} (default linux-2008-patch)
  --faults LIST    inject faults, e.g. "drop=0.01,duplicate=0.01,reorder=0.01,corrupt=0.005,reboot=0.0001,
                   kernelBugResult=0.001,kernelBugCounter=0.001" (a name alone uses its default rate)
  --scenario FILE  drive one host with a scenario file instead of workloads
  --host-id H      the scenario host's id (default scenario-host)
  --out FILE       where to write (required)`,
  options: {
    hosts: { type: 'string' },
    seed: { type: 'string' },
    events: { type: 'string' },
    profile: { type: 'string' },
    faults: { type: 'string' },
    scenario: { type: 'string' },
    'host-id': { type: 'string' },
    out: { type: 'string' },
  },
  async run({ values, io }) {
    const out = values.out as string | undefined;
    if (!out) throw new UsageError(`--out FILE.jsonl is required\nUsage: ${this.usage}`);
    const profile = values.profile as string | undefined;
    if (profile !== undefined && !isProfileName(profile)) throw new UsageError(`--profile: unknown profile "${profile}" (expected one of ${PROFILES.join(', ')})`);
    let faults;
    try {
      faults = values.faults !== undefined ? parseFaults(values.faults as string) : undefined;
    } catch (err) {
      if (err instanceof InvalidFaultSpecError) throw new UsageError(`--faults: ${err.message}`);
      throw err;
    }
    const seed = values.seed !== undefined ? String(values.seed) : '1';
    let records: Iterable<SimRecord>;
    let total: number | undefined;
    if (values.scenario !== undefined) {
      const file = values.scenario as string;
      const parsed = parseScenario(await readJsonFile(file));
      if (!parsed.ok) {
        io.err(formatProblems(parsed.problems, file));
        return EXIT_USAGE;
      }
      const host = scenarioHost(parsed.scenario, {
        hostId: (values['host-id'] as string | undefined) ?? 'scenario-host',
        seed,
        ...(profile ? { profile: profile as ProfileName } : {}),
        ...(faults ? { faults } : {}),
      });
      records = host.records();
    } else {
      const events = positiveInt(values.events, '--events', 10_000);
      total = events;
      records = simulateFleet({
        hosts: positiveInt(values.hosts, '--hosts', 8),
        seed,
        events,
        profile: (profile as ProfileName | undefined) ?? 'linux-2008-patch',
        ...(faults ? { faults } : {}),
      });
    }
    const stream = createWriteStream(out);
    const opened = once(stream, 'open').catch((err: Error) => {
      throw new UsageError(`--out ${out}: cannot write: ${err.message}`);
    });
    await opened;
    const progress = new Progress(io, `simulating into ${out}`, total);
    let n = 0;
    let buffer = '';
    for (const r of records) {
      buffer += r.payload + '\n';
      n++;
      if (buffer.length > 1 << 16) {
        if (!stream.write(buffer)) await once(stream, 'drain');
        buffer = '';
        progress.tick(n);
      }
    }
    stream.end(buffer);
    await once(stream, 'finish');
    progress.done(n);
    io.err(`wrote ${n.toLocaleString('en-US')} events to ${out}`);
    return EXIT_OK;
  },
};
