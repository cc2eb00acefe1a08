import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'services/cli/bin/lockline.js');
const run = promisify(execFile);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('lockline up', () => {
  it('starts NATS, ingest, projector, the API and simulated hosts, shows progress, and stops everything in order', async () => {
    const data = join(mkdtempSync(join(tmpdir(), 'lockline-up-')), 'data');
    const { stdout, stderr } = await run(process.execPath, [bin, 'up', '--hosts', '2', '--rate', '3000', '--duration', '6', '--data', data], {
      timeout: 90_000,
    });
    expect(stdout, stderr).toContain(`Lockline is up (data in ${data})`);
    expect(stdout).toMatch(/nats-server {3}nats:\/\/127\.0\.0\.1:\d+ {2}\(monitoring http:\/\/127\.0\.0\.1:\d+; users and passwords in /);
    const pids = [...stdout.matchAll(/^ {2}(projector|ingest|host-sim) +pid (\d+)/gm)].map((m) => Number(m[2]));
    expect(pids).toHaveLength(3);
    const progress = [...stdout.matchAll(/^\d+s {2}stored ([\d,]+) events \(([\d,]+)\/s\)/gm)].map((m) => Number(m[1]!.replace(/,/g, '')));
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(progress[progress.length - 1]!).toBeGreaterThan(5000);
    expect(stdout).toContain('stopping: api, host-sim, ingest, projector, nats-server');
    expect(stdout).toMatch(/^Dashboard: http:\/\/127\.0\.0\.1:\d+\/ {3}token \(viewer\): [\w-]{32}/m);
    expect(stdout).toMatch(/stopped\. The events stay in sqlite:/);
    for (const pid of pids) expect(alive(pid), `service pid ${pid} still running`).toBe(false);
    // what it stored replays and audits
    const audit = await run(process.execPath, [bin, 'audit', '--store', `sqlite:${join(data, 'events.db')}`, '--json'], { timeout: 60_000 });
    const report = JSON.parse(audit.stdout);
    expect(report.summary.hosts).toBe(2);
    expect(report.summary.events).toBeGreaterThan(5000);
    expect(report.findings.filter((f: { code: string }) => f.code === 'SEQUENCE_GAP' || f.code === 'RESULT_DIVERGENCE')).toEqual([]);
  }, 120_000);

  it('refuses bad options with one clear line', async () => {
    const r = await run(process.execPath, [bin, 'up', '--hosts', 'many']).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toContain('--hosts: expected a whole number ≥ 1, got "many"');
  });
});
