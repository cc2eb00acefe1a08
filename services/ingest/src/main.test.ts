import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { range, seqsOf, startFixture, waitFor, type Fixture } from './testing/fixture.js';

/**
 * The ingest process itself (main.ts under tsx): configured from the environment only, serving
 * /healthz, and stopping on SIGTERM with everything received stored and acked.
 */

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
let fixture: Fixture | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  child = undefined;
  await fixture?.close();
  fixture = undefined;
});

interface Started {
  readonly logs: Array<Record<string, unknown>>;
  readonly stderr: () => string;
}

function runMain(env: Record<string, string>): Started {
  const logs: Array<Record<string, unknown>> = [];
  let text = '';
  child = spawn(process.execPath, ['--conditions=lockline-source', '--import', 'tsx', MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  return { logs, stderr: () => [...logs.map((l) => String(l.msg)), text].join('\n') };
}

describe('main', () => {
  it('runs from the environment, serves /healthz, and on SIGTERM finishes, acks and exits 0', async () => {
    const f = (fixture = await startFixture({ partitions: 2 }));
    const ingest = f.server.credentials.ingest!;
    const started = runMain({
      LOCKLINE_NATS_URL: f.server.url,
      LOCKLINE_NATS_USER: ingest.user,
      LOCKLINE_NATS_PASSWORD: ingest.password,
      LOCKLINE_STORE: f.storeUrl,
      LOCKLINE_PARTITIONS_MINE: '0,1',
      LOCKLINE_METRICS_PORT: '0',
    });
    await waitFor('ingest consuming', () => started.logs.some((l) => l.msg === 'ingest consuming'), 20_000);
    const port = started.logs.find((l) => l.msg === 'serving /metrics and /healthz on 127.0.0.1')?.port as number;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(JSON.stringify(started.logs)).not.toContain(ingest.password);

    for (const hostId of ['m1', 'm2', 'm3']) for (let first = 1; first <= 100; first += 20) await f.publish(hostId, 'b1', range(first, first + 19));
    await waitFor('every event stored', async () => (await Promise.all(['m1', 'm2', 'm3'].map((h) => f.readHost(h, 'b1')))).every((e) => e.length === 100));
    child!.kill('SIGTERM');
    const [code] = (await once(child!, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(started.logs.some((l) => l.msg === 'ingest stopped' && l.acked === 15)).toBe(true);
    for (const hostId of ['m1', 'm2', 'm3']) expect(seqsOf(await f.readHost(hostId, 'b1'))).toEqual(range(1, 100));
    for (const p of [0, 1]) expect(await f.consumerInfo(p)).toEqual({ numPending: 0, numAckPending: 0 });
  });

  it('exits 1 with one readable line for a bad environment or a missing consumer', async () => {
    const bad = runMain({ LOCKLINE_NATS_URL: 'localhost', LOCKLINE_STORE: 'sqlite:/tmp/x.db', LOCKLINE_GAP_HOLD_MS: 'soon' });
    const [badCode] = (await once(child!, 'exit')) as [number | null];
    expect(badCode).toBe(1);
    expect(bad.stderr()).toMatch(/^lockline-ingest: invalid configuration:\n {2}LOCKLINE_NATS_URL: .*\n {2}LOCKLINE_GAP_HOLD_MS: expected an integer/);

    const f = (fixture = await startFixture({ setup: 'streams' }));
    const missing = runMain({
      LOCKLINE_NATS_URL: f.server.url,
      LOCKLINE_NATS_PASSWORD: f.server.credentials.ingest!.password,
      LOCKLINE_STORE: f.storeUrl,
      LOCKLINE_METRICS_PORT: '-1',
    });
    const [missingCode] = (await once(child!, 'exit')) as [number | null];
    expect(missingCode).toBe(1);
    expect(missing.stderr()).toContain('lockline-ingest: cannot start: consumer ingest-p0 on LOCKLINE_EVENTS does not exist: the setup step (`lockline up`');
  });
});
