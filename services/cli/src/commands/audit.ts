import { FINDING_CODES } from '@lockline/audit';
import type { Finding } from '@lockline/audit';
import { PROFILES } from '@lockline/kernel';
import { FleetProjection } from '@lockline/projection';
import type { Command } from '../command.js';
import { EXIT_OK } from '../command.js';
import { readHistory } from '../input.js';
import { Progress } from '../progress.js';
import { renderFinding } from '../render.js';
import { projectionOptions } from './history.js';

export const audit: Command = {
  path: ['audit'],
  summary: 'the findings across every host',
  usage: 'lockline audit (--store URL | --file FILE.jsonl) [--profile P] [--json]',
  help: `Folds every host boot through the model and prints every finding: ${FINDING_CODES.join(', ')}.
The auditor's profile need not be the hosts': --profile linux-modern audits hosts running the 2008
patch as today's kernel would behave (every inherited lock then diverges).

Options:
  --store URL      read from an event store: sqlite:PATH, or an EventStoreDB connection string
  --file FILE      read a JSONL file of events (bad lines are reported with their numbers and skipped)
  --profile P      audit with this profile: ${PROFILES.join(', ')} (default: each host's own)
  --json           print { "findings": [ { "code", "hostId", "bootId", "pid", "seq", "message" } ], "summary": … }`,
  options: {
    store: { type: 'string' },
    file: { type: 'string' },
    profile: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, io }) {
    const options = projectionOptions(values);
    const history = await readHistory(values, io);
    const fleet = new FleetProjection(options);
    const progress = new Progress(io, 'auditing', history.events);
    let n = 0;
    for (const boot of history.boots) {
      for (const e of boot.events) {
        fleet.apply(e);
        if ((++n & 0xfff) === 0) progress.tick(n);
      }
    }
    progress.done(n);
    const findings: Finding[] = fleet.findings();
    const byCode: Record<string, number> = {};
    for (const f of findings) byCode[f.code] = (byCode[f.code] ?? 0) + 1;
    const summary = {
      hosts: new Set(history.boots.map((b) => b.hostId)).size,
      boots: history.boots.length,
      events: history.events,
      invalidEvents: history.invalid,
      setAside: [...fleet.boots.values()].reduce((s, p) => s + p.setAside.length, 0),
      findingsByCode: byCode,
    };
    if (values.json) {
      io.out(JSON.stringify({ findings: findings.map(({ code, hostId, bootId, pid, seq, message }) => ({ code, hostId, bootId, pid, seq, message })), summary }, null, 2));
    } else {
      for (const f of findings) io.out(renderFinding(f));
      io.out(
        `${findings.length} finding${findings.length === 1 ? '' : 's'} over ${summary.hosts} host${summary.hosts === 1 ? '' : 's'} (${summary.boots} boots, ${summary.events} events` +
          `${summary.invalidEvents ? `, ${summary.invalidEvents} invalid skipped` : ''}${summary.setAside ? `, ${summary.setAside} set aside` : ''})` +
          (findings.length ? ': ' + Object.entries(byCode).map(([c, k]) => `${c} ${k}`).join(', ') : ''),
      );
    }
    return EXIT_OK;
  },
};
