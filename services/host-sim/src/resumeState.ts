import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFaults, type Faults } from '@lockline/sim';
import * as z from 'zod';

/**
 * Where each simulated host stands, kept in STATE_DIR so that a restart continues its stream without
 * a gap and without reusing a seq.
 *
 * A host's events follow from (seed, hostId, profile, faults) alone, so no event is stored here: a
 * restart creates the same simulated host again and skips the records an earlier run got acked.
 * `recordsAcked` counts records as the simulator hands them out (faults make that differ from seqs:
 * a dropped event takes a seq and yields no record, a duplicate yields two, a reboot starts seq at 1
 * again); `bootId` and `lastAckedSeq` are the last acked record's, and check that the regenerated
 * stream is the one that was published.
 *
 * The state is written only after acks, so it can lag them (a crash between an ack and the next
 * write), never lead them: what a restart publishes again was acked already — same events, same ids
 * and seqs — and is never new data under an old seq.
 */

export interface HostPosition {
  /** The boot of the last acked record (the first boot's id before any ack). */
  readonly bootId: string;
  /** The seq of the last acked record in that boot; 0 before any ack. */
  readonly lastAckedSeq: number;
  /** Records of this host acked so far, over every run and boot: how many a restart skips. */
  readonly recordsAcked: number;
}

/** What the hosts' streams follow from: a state written under another simulation does not apply. */
export interface SimulationIdentity {
  readonly seed: string;
  readonly profile: string;
  readonly faults: Faults;
}

export const STATE_FILE = 'host-sim-state.json';
const VERSION = 1;

const positionSchema = z.object({
  bootId: z.string().min(1),
  lastAckedSeq: z.number().int().min(0),
  recordsAcked: z.number().int().min(0),
});

const fileSchema = z.object({
  version: z.literal(VERSION),
  simulation: z.object({ seed: z.string(), profile: z.string(), faults: z.record(z.string(), z.number()) }),
  savedAt: z.string(),
  hosts: z.record(z.string(), positionSchema),
});

/** The state in STATE_DIR cannot be used: unreadable, or written for another simulation. */
export class ResumeStateError extends Error {
  readonly code = 'RESUME_STATE';
  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`resume state ${path}: ${reason}`, options);
    this.name = 'ResumeStateError';
  }
}

function canonicalSimulation(s: SimulationIdentity): { seed: string; profile: string; faults: Record<string, number> } {
  // every fault named, 0 for the absent ones: `drop=0` and `` are the same simulation
  return { seed: s.seed, profile: s.profile, faults: { ...checkFaults(s.faults) } };
}

function describeSimulation(s: { seed: string; profile: string; faults: Record<string, number> }): string {
  const faults = Object.entries(s.faults)
    .filter(([, rate]) => rate > 0)
    .map(([name, rate]) => `${name}=${rate}`)
    .join(',');
  return `seed ${JSON.stringify(s.seed)}, profile ${s.profile}, faults ${faults === '' ? 'none' : faults}`;
}

/**
 * The resume state file: `load()` once at start, then `save()` as acks come in. Saves are serialized
 * and each is atomic and durable: written to a temporary file, fsynced, renamed over the old one, and
 * the folder fsynced — a crash leaves the old state or the new one, never half of one.
 */
export class ResumeState {
  readonly path: string;
  readonly #dir: string;
  readonly #simulation: ReturnType<typeof canonicalSimulation>;
  /** Entries of hosts this run does not simulate: kept as they were. */
  #others: Record<string, HostPosition> = {};
  #saving: Promise<void> = Promise.resolve();

  constructor(dir: string, simulation: SimulationIdentity) {
    this.#dir = dir;
    this.path = join(dir, STATE_FILE);
    this.#simulation = canonicalSimulation(simulation);
  }

  /** The saved positions by hostId (empty without a state file). Throws ResumeStateError. */
  async load(): Promise<Map<string, HostPosition>> {
    await mkdir(this.#dir, { recursive: true });
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw new ResumeStateError(this.path, `cannot read it: ${(error as Error).message}`, { cause: error });
    }
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (error) {
      throw new ResumeStateError(this.path, `not a host-sim state file (${(error as Error).message.split('\n')[0] ?? ''}); move it away to start over`, { cause: error });
    }
    const saved = { ...parsed.simulation, faults: { ...checkFaults(parsed.simulation.faults) } };
    if (JSON.stringify(saved) !== JSON.stringify(this.#simulation)) {
      // Another seed, profile or fault mix is another stream: skipping by the old counts would publish
      // events under seqs already taken by different ones.
      throw new ResumeStateError(
        this.path,
        `written for ${describeSimulation(saved)}, but this run simulates ${describeSimulation(this.#simulation)}; use that configuration, or another LOCKLINE_STATE_DIR to start new streams`,
      );
    }
    this.#others = parsed.hosts;
    return new Map(Object.entries(parsed.hosts));
  }

  /** Writes `positions` (and keeps the entries of other hosts); resolves once it is durable. */
  save(positions: ReadonlyMap<string, HostPosition>): Promise<void> {
    const hosts: Record<string, HostPosition> = { ...this.#others };
    for (const [hostId, position] of positions) hosts[hostId] = position;
    const text = `${JSON.stringify({ version: VERSION, simulation: this.#simulation, savedAt: new Date().toISOString(), hosts }, null, 1)}\n`;
    const next = this.#saving.then(() => this.#write(text));
    // a failed save does not block the next one; the caller sees its own failure
    this.#saving = next.catch(() => undefined);
    return next;
  }

  async #write(text: string): Promise<void> {
    const temp = `${this.path}.${process.pid}.tmp`;
    try {
      const file = await open(temp, 'w', 0o644);
      try {
        await file.writeFile(text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
      const dir = await open(this.#dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (error) {
      await rm(temp, { force: true });
      throw new ResumeStateError(this.path, `cannot write it: ${(error as Error).message}`, { cause: error });
    }
  }
}
