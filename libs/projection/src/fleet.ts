import type { Finding } from '@lockline/audit';
import type { HostEvent } from '@lockline/events';
import type { ProjectionOptions } from './hostProjection.js';
import { HostProjection } from './hostProjection.js';

/** Every host boot of a fleet, each folded by its own HostProjection. */
export class FleetProjection {
  readonly options: ProjectionOptions;
  /** by `hostId/bootId`, in the order first seen */
  readonly boots = new Map<string, HostProjection>();
  /** the latest boot seen of each host */
  readonly latest = new Map<string, HostProjection>();

  constructor(options: ProjectionOptions = {}) {
    this.options = options;
  }

  apply(event: HostEvent): HostProjection {
    // Fast path: the host's current boot (no key string to build and hash per event).
    let p = this.latest.get(event.hostId);
    if (!p || p.bootId !== event.bootId) {
      const key = `${event.hostId}/${event.bootId}`;
      p = this.boots.get(key);
      if (!p) {
        p = new HostProjection(event.hostId, event.bootId, this.options);
        this.boots.set(key, p);
      }
      this.latest.set(event.hostId, p);
    }
    p.apply(event);
    return p;
  }

  findings(): Finding[] {
    return [...this.boots.values()].flatMap((p) => p.findings);
  }
}
