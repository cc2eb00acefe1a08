// What the page knows about the fleet, kept current by the live stream: every host's latest summary,
// its locked pages over time (since the page opened: the API keeps no history of summaries), the
// fleet's total over time, and the findings that arrived. Stream events are queued and applied once
// per animation frame; listeners hear once per frame which hosts changed, whatever the event rate.
import { getJson, openStream } from './api.js';

/** Samples kept per host (one per summary the projector writes, about one a second) and for the fleet. */
const HOST_SAMPLES = 90;
const FLEET_SAMPLES = 600;
/** Findings queued while the tab is hidden (no animation frames): the oldest go first. */
const MAX_QUEUED_FINDINGS = 5000;

/** A fixed-size ring of (time, value) samples. */
export class Ring {
  constructor(size) {
    this.t = new Float64Array(size);
    this.v = new Float64Array(size);
    this.size = size;
    this.n = 0;
    this.next = 0;
    this.version = 0;
  }
  push(t, v) {
    this.t[this.next] = t;
    this.v[this.next] = v;
    this.next = (this.next + 1) % this.size;
    if (this.n < this.size) this.n++;
    this.version++;
  }
  /** The i-th sample, oldest first. */
  at(i) {
    const k = (this.next - this.n + i + this.size) % this.size;
    return [this.t[k], this.v[k]];
  }
  get last() {
    return this.n === 0 ? undefined : this.at(this.n - 1);
  }
}

export class FleetStore {
  constructor() {
    /** hostId → { summary, ring } */
    this.hosts = new Map();
    this.total = new Ring(FLEET_SAMPLES);
    this.totals = { hosts: 0, processes: 0, lockedPages: 0, eventRate: 0, findingsByCode: {} };
    /** server time − local time, from the fleet's asOf: lags are computed in the server's clock */
    this.clockOffset = 0;
    this.loaded = false;
    this.status = { state: 'connecting', detail: '' };
    this.listeners = new Set();
    this.pendingHosts = new Map();
    this.pendingFindings = [];
    this.scheduled = false;
    this.stream = undefined;
    this.findingCount = 0;
  }

  /** First load: GET /v1/fleet, then the stream keeps it current. */
  async start() {
    const fleet = await getJson('/v1/fleet', { what: 'load the fleet' });
    this.clockOffset = Date.parse(fleet.asOf) - Date.now();
    const now = Date.now();
    for (const summary of fleet.hosts) this.putHost(summary, now);
    this.recomputeTotals(now);
    this.loaded = true;
    this.notify({ hosts: new Set(this.hosts.keys()), findings: [], all: true });
    if (!this.stream) {
      this.stream = openStream({
        onEvent: (type, data) => this.enqueue(type, data),
        onStatus: (state, detail) => {
          this.status = { state, detail };
          this.notify({ hosts: new Set(), findings: [], status: true });
        },
      });
    }
  }

  stop() {
    this.stream?.close();
    this.stream = undefined;
  }

  /** `fn({ hosts: Set<hostId>, findings: FindingItem[], all?, status? })` once per frame with changes. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  enqueue(type, data) {
    if (type === 'host' && data.summary) this.pendingHosts.set(data.summary.hostId, data.summary);
    else if (type === 'finding' && data.finding) {
      this.pendingFindings.push(data);
      if (this.pendingFindings.length > MAX_QUEUED_FINDINGS) this.pendingFindings.splice(0, this.pendingFindings.length - MAX_QUEUED_FINDINGS);
    } else return;
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      this.flush();
    };
    // No frames in a hidden tab: apply on a timer then, so the state is current when it comes back.
    if (document.hidden) setTimeout(run, 1000);
    else requestAnimationFrame(run);
  }

  flush() {
    if (this.pendingHosts.size === 0 && this.pendingFindings.length === 0) return;
    const now = Date.now();
    const changed = new Set();
    for (const [hostId, summary] of this.pendingHosts) {
      this.putHost(summary, now);
      changed.add(hostId);
    }
    this.pendingHosts.clear();
    const findings = this.pendingFindings;
    this.pendingFindings = [];
    this.findingCount += findings.length;
    if (changed.size > 0) this.recomputeTotals(now);
    this.notify({ hosts: changed, findings });
  }

  putHost(summary, now) {
    let entry = this.hosts.get(summary.hostId);
    if (!entry) {
      entry = { summary, ring: new Ring(HOST_SAMPLES) };
      this.hosts.set(summary.hostId, entry);
    } else if (entry.summary.bootId === summary.bootId && summary.seq < entry.summary.seq) {
      return; // an older summary after a newer one: keep the newer
    }
    entry.summary = summary;
    const last = entry.ring.last;
    // One sample a second at most: a burst of summaries is one point.
    if (last && now - last[0] < 1000) {
      entry.ring.v[(entry.ring.next - 1 + entry.ring.size) % entry.ring.size] = summary.lockedPages;
      entry.ring.version++;
    } else entry.ring.push(now, summary.lockedPages);
  }

  recomputeTotals(now) {
    const t = { hosts: 0, processes: 0, lockedPages: 0, eventRate: 0, findingsByCode: {} };
    for (const { summary } of this.hosts.values()) {
      t.hosts++;
      t.processes += summary.processes;
      t.lockedPages += summary.lockedPages;
      t.eventRate += summary.eventRate;
      for (const [code, n] of Object.entries(summary.findingsByCode)) t.findingsByCode[code] = (t.findingsByCode[code] ?? 0) + n;
    }
    this.totals = t;
    const last = this.total.last;
    if (last && now - last[0] < 1000) {
      this.total.v[(this.total.next - 1 + this.total.size) % this.total.size] = t.lockedPages;
      this.total.version++;
    } else this.total.push(now, t.lockedPages);
  }

  /** How old a summary is, in the server's clock. */
  lagMs(summary) {
    return Date.now() + this.clockOffset - Date.parse(summary.updatedAt);
  }

  notify(change) {
    for (const fn of this.listeners) {
      try {
        fn(change);
      } catch (err) {
        console.error('a view failed to apply a live update', err);
      }
    }
  }
}
