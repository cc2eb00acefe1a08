import type { ProfileName } from '@lockline/kernel';
import type { EventBody, EventData, ProcessTableEntry } from '@lockline/events';

/** What every machine is told about its host: what it says of itself at boot, and how often it samples its counters. */
export interface MachineHostOptions {
  readonly profile: ProfileName;
  readonly ramPages: number;
  readonly hostname?: string;
  /** A counters.sampled after every K other events; 0 for never. */
  readonly counterSampleEvery: number;
}

/**
 * The facts a machine has made and not handed out yet, starting with what a host reports at boot:
 * host.booted, then the process table. `next` hands them out in order and slips a counters.sampled
 * in after every `counterSampleEvery` other facts.
 */
export class FactQueue {
  private readonly queue: EventBody[];
  private readonly sampleEvery: number;
  private sinceSample = 0;

  constructor(options: MachineHostOptions, processes: ProcessTableEntry[]) {
    const booted: EventData<'host.booted'> = { profile: options.profile, ramPages: options.ramPages, pageSize: 4096 };
    if (options.hostname !== undefined) booted.hostname = options.hostname;
    this.queue = [
      { type: 'host.booted', data: booted },
      { type: 'process.table', data: { processes } },
    ];
    this.sampleEvery = options.counterSampleEvery;
  }

  push(body: EventBody): void {
    this.queue.push(body);
  }

  /**
   * The oldest fact queued. With none queued: a counters.sampled from `sample` when one is due (and
   * `stepsLeft`: a machine with nothing more to do samples nothing more), else what `step` queues —
   * undefined if it queues nothing.
   */
  next(step: () => void, sample: () => EventBody, stepsLeft = true): EventBody | undefined {
    if (this.queue.length === 0) {
      if (this.sampleEvery > 0 && this.sinceSample >= this.sampleEvery && stepsLeft) {
        this.sinceSample = 0;
        return sample();
      }
      step();
    }
    const body = this.queue.shift();
    if (body !== undefined && body.type !== 'counters.sampled') this.sinceSample++;
    return body;
  }
}
