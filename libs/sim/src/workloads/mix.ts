import { InvalidSimOptionError } from '../errors.js';
import type { Random } from '../random.js';
import { buildFarm } from './buildFarm.js';
import { churn } from './churn.js';
import { database } from './database.js';
import { leaky } from './leaky.js';
import { rtDaemon } from './rtDaemon.js';
import { secretsAgent } from './secretsAgent.js';
import { WORKLOAD_KINDS, type Workload, type WorkloadKind } from './workload.js';

/** Each workload with its default options and the given weight. */
export const WORKLOADS: Readonly<Record<WorkloadKind, (weight?: number) => Workload>> = {
  buildFarm: (weight) => buildFarm(weight === undefined ? {} : { weight }),
  rtDaemon: (weight) => rtDaemon(weight === undefined ? {} : { weight }),
  database: (weight) => database(weight === undefined ? {} : { weight }),
  secretsAgent: (weight) => secretsAgent(weight === undefined ? {} : { weight }),
  leaky: (weight) => leaky(weight === undefined ? {} : { weight }),
  churn: (weight) => churn(weight === undefined ? {} : { weight }),
};

/**
 * A host's mix when none is given, drawn from its seed: background churn always; a build farm on
 * about half the hosts (-j4, -j8 or -j16); a real-time daemon, a database, a secrets agent and a
 * leaky service each on some; at least one of them on every host.
 */
export function defaultMix(rng: Random): Workload[] {
  const mix: Workload[] = [];
  if (rng.chance(0.5)) mix.push(buildFarm({ jobs: rng.pick([4, 8, 16]), weight: rng.between(3, 6) }));
  if (rng.chance(0.4)) mix.push(rtDaemon({ threads: rng.between(1, 4), weight: rng.between(1, 2) }));
  if (rng.chance(0.4)) mix.push(database({ weight: rng.between(1, 3) }));
  if (rng.chance(0.5)) mix.push(secretsAgent({ weight: 1 }));
  if (rng.chance(0.3)) mix.push(leaky({ weight: 1 }));
  if (mix.length === 0) mix.push(WORKLOADS[rng.pick(['buildFarm', 'rtDaemon', 'database', 'secretsAgent', 'leaky'] as const)]());
  mix.push(churn({ weight: 1 }));
  return mix;
}

/**
 * A mix from the command line: "buildFarm=3,churn" (kind, optionally =weight). Errors name the item.
 */
export function parseWorkloadMix(spec: string): Workload[] {
  const mix: Workload[] = [];
  const seen = new Set<string>();
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const [name = '', weightText, ...rest] = item.split('=').map((s) => s.trim());
    if (rest.length > 0) throw new InvalidSimOptionError('workloads', `${JSON.stringify(item)}: expected KIND or KIND=WEIGHT`);
    if (!(WORKLOAD_KINDS as readonly string[]).includes(name)) {
      throw new InvalidSimOptionError('workloads', `${JSON.stringify(item)}: unknown workload ${JSON.stringify(name)} (expected one of ${WORKLOAD_KINDS.join(', ')})`);
    }
    if (seen.has(name)) throw new InvalidSimOptionError('workloads', `${JSON.stringify(item)}: ${name} is given twice`);
    seen.add(name);
    let weight: number | undefined;
    if (weightText !== undefined) {
      weight = Number(weightText);
      if (weightText === '' || !Number.isFinite(weight) || weight <= 0) {
        throw new InvalidSimOptionError('workloads', `${JSON.stringify(item)}: the weight must be a positive number, got ${JSON.stringify(weightText)}`);
      }
    }
    mix.push(WORKLOADS[name as WorkloadKind](weight));
  }
  if (mix.length === 0) throw new InvalidSimOptionError('workloads', 'no workload given');
  return mix;
}

