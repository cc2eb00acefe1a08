import type { ProfileName } from '@lockline/kernel';
import { InvalidSimOptionError } from './errors.js';
import type { Faults } from './faults.js';
import { Random, type Seed } from './random.js';
import { createSimHost, type SimHost, type SimHostOptions, type SimRecord } from './simHost.js';

export interface FleetOptions {
  /** How many hosts: host-001, host-002, … */
  hosts: number;
  seed: Seed;
  /** One profile for every host, or a list assigned round-robin (host i gets profiles[i mod n]). */
  profile?: ProfileName | readonly ProfileName[];
  faults?: Faults;
  /** Default "host-". */
  hostIdPrefix?: string;
  /** Other options every host gets (counterSampleEvery, maxProcesses, epoch…). */
  host?: Omit<SimHostOptions, 'hostId' | 'seed' | 'profile' | 'faults' | 'scenario'>;
}

export interface Fleet {
  readonly hosts: readonly SimHost[];
  /** Every host's records, interleaved deterministically, `limit` of them (endless without one). */
  records(limit?: number): Generator<SimRecord, void, undefined>;
}

/** host-001 … host-999, then host-1000 …: wide enough to sort while the fleet is below 1000. */
export function fleetHostId(prefix: string, index: number): string {
  return `${prefix}${String(index + 1).padStart(3, '0')}`;
}

/**
 * N simulated hosts. Each host's stream depends only on (seed, hostId), so host-001 is the same in a
 * fleet of 3 and a fleet of 300; the interleaving has its own stream: rounds in a seeded order, each
 * host taking a burst of 1 to 3 steps per round (round-robin with jitter). Per-host order is kept
 * except where a fault reorders.
 */
export function createFleet(options: Omit<FleetOptions, 'events'>): Fleet {
  const { hosts: count, seed, profile, faults, hostIdPrefix = 'host-', host: extra = {} } = options;
  if (!Number.isInteger(count) || count < 1 || count > 100_000) throw new InvalidSimOptionError('hosts', `expected an integer from 1 to 100000, got ${count}`);
  const profiles: readonly (ProfileName | undefined)[] = profile === undefined ? [undefined] : typeof profile === 'string' ? [profile] : profile;
  if (profiles.length === 0) throw new InvalidSimOptionError('profile', 'an empty list of profiles');
  const hosts: SimHost[] = [];
  for (let i = 0; i < count; i++) {
    const p = profiles[i % profiles.length];
    hosts.push(
      createSimHost({
        ...extra,
        hostId: fleetHostId(hostIdPrefix, i),
        seed,
        ...(p === undefined ? {} : { profile: p }),
        ...(faults === undefined ? {} : { faults }),
      }),
    );
  }
  const rng = Random.of(seed, 'fleet');
  return {
    hosts,
    *records(limit = Number.POSITIVE_INFINITY) {
      let emitted = 0;
      const order = hosts.map((_, i) => i);
      while (emitted < limit) {
        // a seeded shuffle of the round (Fisher–Yates)
        for (let i = order.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          const t = order[i]!;
          order[i] = order[j]!;
          order[j] = t;
        }
        let live = 0;
        for (const index of order) {
          const host = hosts[index]!;
          if (host.done) continue;
          live++;
          for (let burst = 1 + rng.int(3); burst > 0; burst--) {
            for (const record of host.next()) {
              yield record;
              if (++emitted >= limit) return;
            }
          }
        }
        if (live === 0) return;
      }
    },
  };
}

/** `events` records from a fleet of `hosts` simulated hosts, as a generator (1M events never sit in memory). */
export function* simulateFleet(options: FleetOptions & { events: number }): Generator<SimRecord, void, undefined> {
  const { events, ...fleet } = options;
  if (!Number.isInteger(events) || events < 0) throw new InvalidSimOptionError('events', `expected a non-negative integer, got ${events}`);
  yield* createFleet(fleet).records(events);
}
