import { isProfileName, type HostState, type ProfileName, type Scenario } from '@lockline/kernel';
import { bootIdSchema, buildEvent, isSyscallEvent, isValidId, type HostEvent } from '@lockline/events';
import { DEFAULT_EPOCH_MS, epochMs, isoTime } from './clock.js';
import { corruptPayload, type CorruptionKind } from './corrupt.js';
import { InvalidSimOptionError } from './errors.js';
import { checkFaults, type Faults } from './faults.js';
import { randomBootId, uuidV7 } from './ids.js';
import { lieAboutCounters, lieAboutResult } from './kernelBugs.js';
import type { Machine, SimProcess } from './machine.js';
import { DEFAULT_PID_MAX } from './pids.js';
import { Random, type Seed } from './random.js';
import { ScenarioMachine } from './scenarioMachine.js';
import { WorkloadMachine } from './workloadMachine.js';
import { defaultMix } from './workloads/mix.js';
import type { Workload } from './workloads/workload.js';

/** What happened to a record on its way out (at most one per event). */
export type SimFault = 'duplicate' | 'reorder' | 'corrupt' | 'kernel-bug-result' | 'kernel-bug-counter' | 'reboot';

/**
 * One message a simulated host publishes: the JSON text to publish (or write as a JSONL line), and
 * for tests the valid event it carries and the fault it suffered.
 *  - duplicate: this record repeats the one before it (same payload, same id);
 *  - reorder: this record was delivered after the next event;
 *  - corrupt: the payload fails validation (`event` is absent; `corruption` says how);
 *  - kernel-bug-result / kernel-bug-counter: the event is valid but the host's kernel misreported;
 *  - reboot: this is the host.booted of a boot that followed a crash.
 */
export interface SimRecord {
  hostId: string;
  bootId: string;
  seq: number;
  payload: string;
  event?: HostEvent;
  fault?: SimFault;
  corruption?: CorruptionKind;
}

export interface SimStats {
  /** Events the host produced (each took a seq). */
  generated: number;
  /** Records handed out: generated − dropped + duplicated (less any a take() holds back for the next call). */
  emitted: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** Reboots injected (the first boot is not one). */
  reboots: number;
  kernelBugs: number;
  kernelBugResults: number;
  kernelBugCounters: number;
}

export interface SimHostOptions {
  /** 1 to 64 letters, digits, "_" or "-". */
  hostId: string;
  /** Everything the host does follows from (seed, hostId). */
  seed: Seed;
  /** Default linux-2008-patch (the simulated fleet runs the patch). */
  profile?: ProfileName;
  /** The first boot's id (later boots draw theirs); drawn from the seed when absent. */
  bootId?: string;
  /** RAM in 4 KiB pages, as host.booted reports it; drawn from the seed when absent (8 to 64 GiB). */
  ramPages?: number;
  hostname?: string;
  /** The workload mix; drawn from the seed when absent (workloads/mix.ts, defaultMix). */
  workloads?: readonly Workload[];
  /** Drive the host with a scenario's steps instead of workloads (a reboot, injected at most once, restarts it). */
  scenario?: Scenario;
  faults?: Faults;
  /** A counters.sampled after every K other events; 0 for never. Default 50 (0 for a scenario host). */
  counterSampleEvery?: number;
  /** Soft cap on live tasks (threads included): new jobs wait while the host is at it. Default 256. */
  maxProcesses?: number;
  /** pid_max (default 32768): pids wrap here, back to 300. */
  pidMax?: number;
  /**
   * Keep every dead task in the host's model, as `lockline model run` reports them. By default a
   * task leaves the model when its pid is freed (reaped), so a long run's memory stays bounded
   * (about 20 MB a host otherwise, once pids have wrapped).
   */
  keepDeadTasks?: boolean;
  /** Where the host's clock starts: ms since 1970 or ISO-8601 (default 2025-01-01T00:00:00Z, plus up to a minute per host). */
  epoch?: number | string;
}

export interface SimHost {
  readonly hostId: string;
  readonly profile: ProfileName;
  /** The current boot. */
  readonly bootId: string;
  /** The seq of the last event produced in the current boot (0 before the first). */
  readonly seq: number;
  /** The host's simulated clock, ms since 1970. */
  readonly clockMs: number;
  readonly stats: Readonly<SimStats>;
  /** The current boot's kernel model (the host's own). Read it; don't change it. */
  readonly kernel: HostState;
  /** The workloads this host runs (their labels); empty for a scenario host. */
  readonly workloads: readonly string[];
  /** True when a scenario host has reported every step (a workload host never is). */
  readonly done: boolean;
  /** One step: usually one record, two when a fault duplicates or reorders, none when one drops. */
  next(): SimRecord[];
  /** The next n records (fewer only when the host is done). */
  take(n: number): SimRecord[];
  /** Records for as long as the host runs. */
  records(): Generator<SimRecord, void, undefined>;
  /** Live processes of the current boot. */
  processes(): SimProcess[];
}

interface Produced {
  event: HostEvent;
  payload: string;
  fault?: SimFault;
}

const RAM_CHOICES = [2 ** 21, 2 ** 22, 2 ** 23, 2 ** 24];

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidSimOptionError(name, `expected an integer from ${min} to ${max}, got ${value}`);
  return value;
}

class SimHostImpl implements SimHost {
  readonly hostId: string;
  readonly profile: ProfileName;
  readonly workloads: readonly string[];
  readonly stats: SimStats = {
    generated: 0,
    emitted: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    reboots: 0,
    kernelBugs: 0,
    kernelBugResults: 0,
    kernelBugCounters: 0,
  };
  private readonly faults: Required<Faults>;
  private readonly transportFaults: boolean;
  private readonly workRng: Random;
  private readonly idRng: Random;
  private readonly faultRng: Random;
  private readonly clockRng: Random;
  private readonly makeMachine: () => Machine;
  private machine: Machine;
  private bootId_: string;
  private seq_ = 0;
  private clock: number;
  private done_ = false;
  private carry: SimRecord[] = [];

  constructor(o: SimHostOptions) {
    if (!isValidId(o.hostId)) throw new InvalidSimOptionError('hostId', `expected 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(o.hostId)}`);
    const profile = o.profile ?? o.scenario?.profile ?? 'linux-2008-patch';
    if (!isProfileName(profile)) throw new InvalidSimOptionError('profile', `unknown profile ${JSON.stringify(profile)}`);
    if (o.bootId !== undefined && !bootIdSchema.safeParse(o.bootId).success) {
      throw new InvalidSimOptionError('bootId', `expected 1 to 64 letters, digits or "_" (no "-"), got ${JSON.stringify(o.bootId)}`);
    }
    this.hostId = o.hostId;
    this.profile = profile;
    this.faults = checkFaults(o.faults ?? {});
    const f = this.faults;
    this.transportFaults = f.drop + f.duplicate + f.reorder + f.corrupt > 0;
    this.workRng = Random.of(o.seed, o.hostId, 'workload');
    this.idRng = Random.of(o.seed, o.hostId, 'ids');
    this.faultRng = Random.of(o.seed, o.hostId, 'faults');
    this.clockRng = Random.of(o.seed, o.hostId, 'clock');
    const mixRng = Random.of(o.seed, o.hostId, 'mix');

    const ramPages = integerOption('ramPages', o.ramPages, mixRng.pick(RAM_CHOICES), 1, 2 ** 40);
    const sampleEvery = integerOption('counterSampleEvery', o.counterSampleEvery, o.scenario ? 0 : 50, 0, 1e9);
    const maxProcesses = integerOption('maxProcesses', o.maxProcesses, 256, 16, 100_000);
    const pidMax = integerOption('pidMax', o.pidMax, DEFAULT_PID_MAX, 64, 4 * 1024 * 1024);
    if (pidMax < maxProcesses * 4) throw new InvalidSimOptionError('pidMax', `must be at least 4 × maxProcesses (${maxProcesses * 4}), got ${pidMax}`);
    const hostname = o.hostname;

    if (o.scenario) {
      const scenario = o.scenario;
      this.workloads = [];
      this.makeMachine = () => new ScenarioMachine(scenario, { profile, ramPages, counterSampleEvery: sampleEvery, ...(hostname === undefined ? {} : { hostname }) });
    } else {
      const mix = o.workloads ?? defaultMix(mixRng);
      if (mix.length === 0) throw new InvalidSimOptionError('workloads', 'a host needs at least one workload');
      for (const w of mix) {
        if (!(w.weight > 0 && Number.isFinite(w.weight))) throw new InvalidSimOptionError('workloads', `${w.label}: the weight must be a positive number, got ${w.weight}`);
      }
      this.workloads = mix.map((w) => w.label);
      this.makeMachine = () =>
        new WorkloadMachine({
          profile,
          ramPages,
          workloads: mix,
          maxProcesses,
          pidMax,
          counterSampleEvery: sampleEvery,
          rng: this.workRng,
          keepDeadTasks: o.keepDeadTasks ?? false,
          ...(hostname === undefined ? {} : { hostname }),
        });
    }
    this.clock = epochMs(o.epoch ?? DEFAULT_EPOCH_MS) + (o.epoch === undefined ? this.clockRng.int(60_000) : 0);
    this.bootId_ = o.bootId ?? randomBootId(this.idRng);
    this.machine = this.makeMachine();
  }

  get bootId(): string {
    return this.bootId_;
  }
  get seq(): number {
    return this.seq_;
  }
  get clockMs(): number {
    return this.clock;
  }
  get kernel(): HostState {
    return this.machine.state;
  }
  get done(): boolean {
    return this.done_ && this.carry.length === 0;
  }

  processes(): SimProcess[] {
    return this.machine.processes();
  }

  next(): SimRecord[] {
    const out = this.step();
    this.stats.emitted += out.length;
    return out;
  }

  take(n: number): SimRecord[] {
    const out: SimRecord[] = [];
    while (out.length < n && !this.done) {
      for (const r of this.step()) {
        if (out.length < n) out.push(r);
        else this.carry.push(r);
      }
    }
    this.stats.emitted += out.length;
    return out;
  }

  private step(): SimRecord[] {
    if (this.carry.length > 0) {
      const rest = this.carry;
      this.carry = [];
      return rest;
    }
    if (this.done_) return [];
    let rebooted = false;
    // A scenario restarts from its first step after a reboot; once, so that it always ends.
    const mayReboot = this.seq_ > 0 && (this.workloads.length > 0 || this.stats.reboots === 0);
    if (mayReboot && this.faultRng.chance(this.faults.reboot)) {
      this.reboot();
      rebooted = true;
    }
    const produced = this.produce(rebooted);
    if (produced === undefined) {
      this.done_ = true;
      return [];
    }
    return this.deliver(produced, true);
  }

  *records(): Generator<SimRecord, void, undefined> {
    while (!this.done) yield* this.next();
  }

  /** A crash and a boot: a new bootId, seq from 1, a fresh kernel model and fresh processes. */
  private reboot(): void {
    this.stats.reboots++;
    this.bootId_ = randomBootId(this.idRng);
    this.seq_ = 0;
    // the time it takes to crash, reset and boot
    this.clock += 20_000 + this.clockRng.int(60_000);
    this.machine = this.makeMachine();
  }

  private produce(rebooted: boolean): Produced | undefined {
    const body = this.machine.next();
    if (body === undefined) return undefined;
    this.stats.generated++;
    let fault: SimFault | undefined = rebooted ? 'reboot' : undefined;
    if (fault === undefined) {
      if (body.type === 'counters.sampled') {
        if (this.faultRng.chance(this.faults.kernelBugCounter) && lieAboutCounters(body.data, this.faultRng)) {
          fault = 'kernel-bug-counter';
          this.stats.kernelBugCounters++;
          this.stats.kernelBugs++;
        }
      } else if (isSyscallEvent(body)) {
        if (this.faultRng.chance(this.faults.kernelBugResult) && lieAboutResult(body)) {
          fault = 'kernel-bug-result';
          this.stats.kernelBugResults++;
          this.stats.kernelBugs++;
        }
      }
    }
    this.seq_++;
    this.clock += 1 + this.clockRng.int(5);
    const event = buildEvent({ id: uuidV7(this.clock, this.idRng), hostId: this.hostId, bootId: this.bootId_, seq: this.seq_, time: isoTime(this.clock) }, body);
    const produced: Produced = { event, payload: JSON.stringify(event) };
    if (fault !== undefined) produced.fault = fault;
    return produced;
  }

  /** Transport faults: one draw decides drop, duplicate, reorder, corrupt or none. */
  private deliver(p: Produced, transport: boolean): SimRecord[] {
    const { event } = p;
    const record: SimRecord = { hostId: this.hostId, bootId: event.bootId, seq: event.seq, payload: p.payload, event };
    if (p.fault !== undefined) {
      record.fault = p.fault;
      return [record];
    }
    if (!transport || !this.transportFaults) return [record];
    const f = this.faults;
    const u = this.faultRng.float();
    let threshold = f.drop;
    if (u < threshold) {
      this.stats.dropped++;
      return [];
    }
    threshold += f.duplicate;
    if (u < threshold) {
      this.stats.duplicated++;
      return [record, { ...record, fault: 'duplicate' }];
    }
    threshold += f.reorder;
    if (u < threshold) {
      // the next event overtakes this one (it is delivered as is: no fault of its own)
      const overtaking = this.produce(false);
      if (overtaking === undefined) return [record];
      this.stats.reordered++;
      record.fault = 'reorder';
      return [...this.deliver(overtaking, false), record];
    }
    threshold += f.corrupt;
    if (u < threshold) {
      this.stats.corrupted++;
      const { payload, kind } = corruptPayload(event, p.payload, this.faultRng);
      return [{ hostId: this.hostId, bootId: event.bootId, seq: event.seq, payload, fault: 'corrupt', corruption: kind }];
    }
    return [record];
  }
}

/** A simulated host: its kernel model, its workloads (or a scenario), its clock, ids and faults. */
export function createSimHost(options: SimHostOptions): SimHost {
  return new SimHostImpl(options);
}

export interface ScenarioHostOptions {
  hostId: string;
  /** Seeds ids, times and faults (default 0). */
  seed?: Seed;
  bootId?: string;
  /** Run under this profile instead of the scenario's own (as `lockline model run --profile`). */
  profile?: ProfileName;
  faults?: Faults;
  /** Default 0: one event per step, nothing else. */
  counterSampleEvery?: number;
  ramPages?: number;
  hostname?: string;
  epoch?: number | string;
}

/**
 * A host driven by a scenario (spec/scenario-format.md, parsed by @lockline/events' parseScenario):
 * host.booted and process.table from the scenario's processes, then one syscall event per step
 * (`check` steps skipped), each result as the model returned it. `done` once every step is reported.
 */
export function scenarioHost(scenario: Scenario, options: ScenarioHostOptions): SimHost {
  const { seed, ...rest } = options;
  return new SimHostImpl({ ...rest, seed: seed ?? 0, profile: options.profile ?? scenario.profile, scenario });
}
