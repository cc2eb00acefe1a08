import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openHostSummaries } from '@lockline/bus';
import { freePort } from '@lockline/bus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostState } from './queries.js';
import { fleetEvents, referenceFold } from './testing/fixture.js';
import { eventually, startHarness, type Harness } from './testing/harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const events = fleetEvents({ hosts: 3, seed: 9, events: 3000 });
const reference = referenceFold(events);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ partitions: 1 });
  await h.append(events);
});
afterAll(async () => {
  await h?.close();
});

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=lockline-source', '--import', 'tsx', join(here, 'main.ts')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.resume();
  return { child, stderr: () => stderr };
}

describe('main.ts', () => {
  it('runs as the projector user: ready on /healthz, answers, writes summaries, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const credential = h.server.credentials.projector!;
    const { child, stderr } = run({
      LOCKLINE_NATS_URL: h.server.url,
      LOCKLINE_NATS_USER: credential.user,
      LOCKLINE_NATS_PASSWORD: credential.password,
      LOCKLINE_STORE: h.storeUrl,
      LOCKLINE_METRICS_PORT: String(port),
      LOCKLINE_SUMMARY_INTERVAL_MS: '100',
    });
    const exited = once(child, 'exit');
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 20_000);
      const hostId = [...reference.latest.keys()][0]!;
      const r = await h.ask<HostState>(0, 'state', { hostId });
      expect(r.ok && r.data.stateHash).toBe(reference.latest.get(hostId)!.stateHash());
      await eventually(async () => (await (await openHostSummaries(h.api.jetstream())).hostIds()).length === reference.latest.size);
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, stderr()).toBe(0);
      const lines = stderr()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; config?: Record<string, unknown> });
      expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['starting', 'caught up with the store; answering queries', 'stopping', 'stopped']));
      expect(stderr()).not.toContain(credential.password);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad environment with one readable message and exit code 1', async () => {
    const { child, stderr } = run({ LOCKLINE_NATS_URL: 'localhost', LOCKLINE_STORE: h.storeUrl, LOCKLINE_PARTITIONS: '2', LOCKLINE_PARTITIONS_MINE: '5' });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    // (failStart in libs/runtime prefixes the service name to a ConfigError message that already has it.)
    expect(stderr()).toMatch(/^projector: invalid configuration:\n {2}LOCKLINE_NATS_URL: .*\n {2}LOCKLINE_PARTITIONS_MINE: partition 5 does not exist/);
    expect(stderr()).not.toMatch(/\n\s+at /);
  });
});
