import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchIdOf } from '@lockline/bus';
import { freePort } from '@lockline/bus/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { STATE_FILE, type HostPosition } from './resumeState.js';
import { envelope, linesByHost, simulated, sleep, startHarness, storedBatches, type Harness } from './testing/harness.js';

// The service as a process: `node main.ts` from source (tsx), as `lockline up` starts dist/main.js.
const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

interface Running {
  readonly child: ChildProcess;
  readonly metricsPort: number;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
let harness: Harness | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await harness?.cleanup();
  harness = undefined;
});

async function launch(env: Record<string, string>): Promise<Running> {
  const metricsPort = await freePort();
  const child = spawn(process.execPath, ['--conditions=lockline-source', '--import', 'tsx', MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env, LOCKLINE_METRICS_PORT: String(metricsPort) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, metricsPort, stderr: () => stderr, exited };
}

async function ready(run: Running): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (run.child.exitCode !== null) throw new Error(`host-sim exited (${run.child.exitCode}):\n${run.stderr()}`);
    const status = await fetch(`http://127.0.0.1:${run.metricsPort}/healthz`).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`host-sim not ready within 20 s:\n${run.stderr()}`);
    await sleep(50);
  }
}

describe('host-sim main', () => {
  it('stops cleanly on SIGTERM: exit 0, every batch acked, the state saved; a SIGKILL and a restart lose nothing', async () => {
    const h = (harness = await startHarness());
    const env = h.env({ LOCKLINE_HOSTS: '3', LOCKLINE_RATE: '10000', LOCKLINE_LOG_LEVEL: 'info' });
    const config = h.config(env);

    const first = await launch(env);
    await ready(first);
    await sleep(500);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stderr()).toContain('stopped: every batch acked, resume state saved');
    const afterStop = await storedBatches(h.admin);
    const state = (JSON.parse(await readFile(join(h.stateDir, STATE_FILE), 'utf8')) as { hosts: Record<string, HostPosition> }).hosts;
    for (const [hostId, lines] of linesByHost(afterStop)) expect(state[hostId]).toMatchObject({ lastAckedSeq: lines.length, recordsAcked: lines.length });

    // A crash before its first state write (every 2 s): all it got acked is sent again, under the
    // same batch ids, and JetStream drops it.
    const second = await launch({ ...env, LOCKLINE_STATE_SAVE_MS: '2000' });
    await ready(second);
    await sleep(700);
    second.child.kill('SIGKILL');
    await second.exited;
    const third = await launch(env);
    await ready(third);
    await sleep(300);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
    const stopped = third
      .stderr()
      .split('\n')
      .filter((line) => line.includes('"msg":"stopped'))
      .map((line) => JSON.parse(line) as { deduplicated: number; duplicateBatches: number; skipped: number });
    expect(stopped[0]?.skipped).toBe(afterStop.reduce((n, b) => n + b.lines.length, 0));
    expect(stopped[0]?.duplicateBatches).toBeGreaterThan(0);

    const batches = await storedBatches(h.admin);
    expect(batches.length).toBeGreaterThan(afterStop.length);
    for (const [hostId, lines] of linesByHost(batches)) {
      expect(lines).toEqual(simulated(config, hostId, lines.length).map((r) => r.payload));
      expect(lines.map((line) => envelope(line).seq)).toEqual(lines.map((_, i) => i + 1));
    }
    for (const b of batches) {
      const first = envelope(b.lines[0]!);
      expect(b.msgId).toBe(batchIdOf(b.hostId, first.bootId, first.seq));
    }
  });

  it('refuses a bad configuration with one readable line and exit 1', async () => {
    const run = await launch({ LOCKLINE_NATS_URL: 'nats://127.0.0.1:1', LOCKLINE_HOSTS: '0', LOCKLINE_FAULTS: 'explode' });
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toMatch(/invalid configuration:\n {2}LOCKLINE_HOSTS: .*\n/);
    expect(run.stderr()).not.toMatch(/\bat .*\.ts:\d+/); // no stack
  });
});
