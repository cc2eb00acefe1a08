import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from './testing/run.js';

const root = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'lockline-cli-history-'));
const fleetFile = join(dir, 'fleet.jsonl');
const makeFile = join(dir, 'make.jsonl');


async function ok(...argv: string[]): Promise<string> {
  const r = await run(...argv);
  expect(r.code, `lockline ${argv.join(' ')}\n${r.err}`).toBe(0);
  return r.out;
}

beforeAll(async () => {
  await ok('sim', '--hosts', '3', '--seed', '11', '--events', '6000', '--out', fleetFile);
  await ok('sim', '--scenario', join(root, 'examples/mlock-r-make.json'), '--host-id', 'build-01', '--out', makeFile);
});

describe('lockline sim', () => {
  it('is deterministic: the same seed writes the same file', async () => {
    const again = join(dir, 'again.jsonl');
    await ok('sim', '--hosts', '3', '--seed', '11', '--events', '6000', '--out', again);
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(fleetFile, 'utf8'));
    expect(readFileSync(fleetFile, 'utf8').trim().split('\n')).toHaveLength(6000);
  });

  it('rejects bad options with one clear line', async () => {
    expect((await run('sim', '--hosts', '0', '--out', join(dir, 'x.jsonl'))).err).toContain('--hosts: expected a whole number ≥ 1, got "0"');
    expect((await run('sim', '--hosts', '2')).err).toContain('--out FILE.jsonl is required');
    const faults = await run('sim', '--faults', 'drop=2', '--out', join(dir, 'x.jsonl'));
    expect(faults.code).toBe(2);
    expect(faults.err).toContain('--faults:');
  });
});

describe('replay, step, diff, explain from a file', () => {
  it("replays a scenario host's tree with the documented JSON", async () => {
    const view = JSON.parse(await ok('replay', '--file', makeFile, '--host', 'build-01', '--json'));
    expect(view).toMatchObject({ hostId: 'build-01', profile: 'linux-2008-patch' });
    expect(view.stateHash).toMatch(/^[0-9a-f]{16}$/);
    const cc = view.processes.find((p: { pid: number }) => p.pid === 17);
    expect(cc).toMatchObject({ lockedVmPages: 3594, lockState: 'inherited', mclInherit: ['MCL_INHERIT', 'MCL_RECURSIVE'], createdBy: 'fork' });
    const text = await ok('replay', '--file', makeFile, '--host', 'build-01');
    expect(text).toContain('build-01 boot');
    expect(text).toMatch(/I\s+17\s+3594/);
  });

  it('replays to any past seq: before the mlockall nothing is locked', async () => {
    const before = JSON.parse(await ok('replay', '--file', makeFile, '--host', 'build-01', '--at', '2', '--json'));
    expect(before.seq).toBe(2);
    expect(before.processes.map((p: { lockedVmPages: number }) => p.lockedVmPages)).toEqual([0]);
    const r = await run('replay', '--file', makeFile, '--host', 'build-01', '--at', '99999');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--at 99999: build-01 boot \w+ ends at seq \d+/);
  });

  it('explains an inherited lock back to the mlockall', async () => {
    const out = await ok('explain', '--file', makeFile, '--host', 'build-01', '--pid', '12');
    expect(out).toContain('pid 12 was forked from pid 1 at event');
    expect(out).toContain('called mlockall(MCL_CURRENT|MCL_FUTURE|MCL_INHERIT|MCL_RECURSIVE) at event 3');
    const json = JSON.parse(await ok('explain', '--file', makeFile, '--host', 'build-01', '--pid', '12', '--json'));
    expect(json.lockState).toBe('inherited');
    expect(json.ranges.length).toBeGreaterThan(0);
    expect((await run('explain', '--file', makeFile, '--host', 'build-01', '--pid', '4242')).err).toContain('has no process 4242');
  });

  it('steps one event at a time, with the change each caused', async () => {
    const lines = (await ok('step', '--file', makeFile, '--host', 'build-01', '--from', '3', '--to', '4', '--json')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.seq, l.type])).toEqual([
      [3, 'syscall.mlockall'],
      [4, 'syscall.exec'],
    ]);
    expect(lines[0].changes[0]).toMatchObject({ pid: 1, change: 'changed', fields: { lockedVmPages: { from: 0, to: 27 } } });
    const text = await ok('step', '--file', makeFile, '--host', 'build-01', '--from', '3', '--to', '3');
    expect(text).toContain('seq 3 syscall.mlockall pid 1 → ok');
    expect(text).toContain('pid 1: lockedVmPages 0 → 27');
  });

  it('diffs two positions', async () => {
    const d = JSON.parse(await ok('diff', '--file', makeFile, '--host', 'build-01', '--from', '5', '--to', '9', '--json'));
    expect(d.from.seq).toBe(5);
    expect(d.to.seq).toBe(9);
    expect(d.changes).toContainEqual({ pid: 10, change: 'added', fields: {} });
    expect((await run('diff', '--file', makeFile, '--host', 'build-01', '--from', '9', '--to', '5')).err).toContain('--to 5 is before --from 9');
  });

  it('names the hosts there are when asked for one that is not', async () => {
    const r = await run('replay', '--file', fleetFile, '--host', 'nope');
    expect(r.code).toBe(2);
    expect(r.err).toContain('no events for host "nope" (hosts: host-001, host-002, host-003)');
  });

  it('reports bad lines with their numbers and skips them, never silently', async () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, readFileSync(makeFile, 'utf8'));
    appendFileSync(file, '{ not json\n{"id":"x"}\n');
    const r = await run('replay', '--file', file, '--host', 'build-01', '--json');
    expect(r.code).toBe(0);
    const n = readFileSync(makeFile, 'utf8').trim().split('\n').length;
    expect(r.err).toContain(`${file}:${n + 1}: `);
    expect(r.err).toContain(`${file}:${n + 2}: `);
    expect(r.err).toMatch(/skipped/);
  });
});

describe('import, export and audit with a SQLite store', () => {
  const db = `sqlite:${join(dir, 'events.db')}`;

  it('imports a file once however often it is imported, and exports the same events', async () => {
    const first = await run('import', fleetFile, '--store', db);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/imported 6,000 events into 3 streams/);
    const second = await run('import', fleetFile, '--store', db);
    expect(second.err).toMatch(/imported 0 events into 3 streams; 6,000 already stored or duplicated, skipped/);
    const out = join(dir, 'exported.jsonl');
    await ok('export', '--store', db, '--out', out);
    const ids = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id).sort();
    expect(ids(out)).toEqual(ids(fleetFile));
    const one = join(dir, 'one.jsonl');
    await ok('export', '--store', db, '--host', 'host-002', '--out', one);
    expect(new Set(readFileSync(one, 'utf8').trim().split('\n').map((l) => JSON.parse(l).hostId))).toEqual(new Set(['host-002']));
  });

  it('rebuilds from the store the same state as from the file (same hash)', async () => {
    for (const host of ['host-001', 'host-002', 'host-003']) {
      const fromFile = JSON.parse(await ok('replay', '--file', fleetFile, '--host', host, '--json'));
      const fromStore = JSON.parse(await ok('replay', '--store', db, '--host', host, '--json'));
      expect(fromStore.stateHash).toBe(fromFile.stateHash);
      expect(fromStore.seq).toBe(fromFile.seq);
    }
  });

  it('audits every host: --json gives { findings: [{ code, hostId, pid, seq, message }] }', async () => {
    const a = JSON.parse(await ok('audit', '--store', db, '--json'));
    expect(a.summary).toMatchObject({ hosts: 3, events: 6000, invalidEvents: 0 });
    for (const f of a.findings) expect(Object.keys(f).sort()).toEqual(['bootId', 'code', 'hostId', 'message', 'pid', 'seq']);
    // a clean simulation: the host and the auditor agree on every result and counter
    expect(a.findings.filter((f: { code: string }) => f.code === 'RESULT_DIVERGENCE' || f.code === 'ACCOUNTING_DRIFT')).toEqual([]);
    const modern = JSON.parse(await ok('audit', '--store', db, '--profile', 'linux-modern', '--json'));
    expect(modern.findings.some((f: { code: string }) => f.code === 'RESULT_DIVERGENCE')).toBe(true);
  });

  it('gives one clear line for a bad store URL', async () => {
    const r = await run('audit', '--store', 'postgres://x');
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('--store postgres://x');
    expect((await run('audit', '--file', fleetFile, '--store', db)).err).toContain('give exactly one of --store URL and --file FILE.jsonl');
  });
});
