import { Publisher, batchIdOf } from '@lockline/bus';
import type { ProfileName, Scenario } from '@lockline/kernel';
import { scenarioHost } from '@lockline/sim';
import type { NatsConnection } from 'nats';

/** A host a scenario drove: wait for `lastSeq` to see it all folded. */
export interface DrivenHost {
  readonly hostId: string;
  readonly bootId: string;
  /** The seq of its last event. */
  readonly lastSeq: number;
  /** Events published. */
  readonly events: number;
}

const BATCH = 200;

/**
 * Publishes every event of a scenario-driven host (libs/sim scenarioHost: host.booted, the process
 * table, then one syscall event per step) in batches, each acknowledged by JetStream before the
 * next, as a simulated host does (`connection` must be allowed to publish that host's subject: the
 * hostsim user is).
 */
export async function publishScenario(connection: NatsConnection, scenario: Scenario, options: { hostId: string; profile: ProfileName; seed: number }): Promise<DrivenHost> {
  const host = scenarioHost(scenario, { hostId: options.hostId, profile: options.profile, seed: options.seed });
  const publisher = new Publisher(connection.jetstream(), { maxInFlight: 1 });
  let events = 0;
  let lastSeq = 0;
  while (!host.done) {
    const records = host.take(BATCH);
    if (records.length === 0) break;
    const first = records[0]!;
    await publisher.publish(options.hostId, records.map((r) => r.payload), { batchId: batchIdOf(options.hostId, first.bootId, first.seq) });
    events += records.length;
    lastSeq = records[records.length - 1]!.seq;
  }
  return { hostId: options.hostId, bootId: host.bootId, lastSeq, events };
}
