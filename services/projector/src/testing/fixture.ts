import type { Finding } from '@lockline/audit';
import type { HostEvent } from '@lockline/events';
import { FleetProjection, type HostProjection } from '@lockline/projection';
import { simulateFleet } from '@lockline/sim';

/**
 * A simulated fleet with kernel bugs (RESULT_DIVERGENCE), lying counters (ACCOUNTING_DRIFT), reboots
 * and the build-farm's inherited locks (LOCKED_OVER_LIMIT); no transport faults, so each boot's
 * events come in seq order, as ingest stores them.
 */
export function fleetEvents(options: { hosts: number; seed: number; events: number }): HostEvent[] {
  const out: HostEvent[] = [];
  for (const r of simulateFleet({ ...options, faults: { kernelBugResult: 0.002, kernelBugCounter: 0.02, reboot: 0.0002 } })) {
    if (r.event) out.push(r.event);
  }
  return out;
}

/** The from-scratch fold the projector must agree with. */
export function referenceFold(events: Iterable<HostEvent>): FleetProjection {
  const fleet = new FleetProjection();
  for (const e of events) fleet.apply(e);
  return fleet;
}

/** Every finding of the fold by the Nats-Msg-Id the projector must give it. */
export function expectedFindings(fleet: FleetProjection): Map<string, Finding> {
  const out = new Map<string, Finding>();
  for (const p of fleet.boots.values()) {
    const seen = new Map<string, number>();
    for (const f of p.findings) {
      const id = `${f.hostId}.${f.bootId}.${f.seq}.${f.code}.${f.pid ?? '-'}`;
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      out.set(n === 0 ? id : `${id}.${n}`, f);
    }
  }
  return out;
}

/** A fresh fold of one boot's first events, up to seq. */
export function foldUpTo(events: readonly HostEvent[], hostId: string, bootId: string, seq: number): HostProjection {
  return referenceFold(events.filter((e) => e.hostId === hostId && e.bootId === bootId && e.seq <= seq)).boots.get(`${hostId}/${bootId}`)!;
}
