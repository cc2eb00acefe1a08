import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROFILES, processReport, runScenario, type Scenario } from '@lockline/kernel';
import { parseEvent, parseScenario } from '@lockline/events';
import { scenarioHost } from './simHost.js';
import { replayBoot } from './testing/replay.js';

const root = new URL('../../../', import.meta.url);
const files = [
  ...readdirSync(new URL('examples/', root)).filter((f) => f.endsWith('.json')).map((f) => new URL(`examples/${f}`, root)),
  ...readdirSync(new URL('test/spec-c/', root))
    .filter((f) => f.endsWith('.json'))
    .map((f) => new URL(`test/spec-c/${f}`, root)),
];

function load(url: URL): Scenario {
  const parsed = parseScenario(readFileSync(url, 'utf8'));
  if (!parsed.ok) throw new Error(`${url.pathname}: ${JSON.stringify(parsed.problems)}`);
  return parsed.scenario;
}

describe('scenarioHost', () => {
  it('has scenario files to run', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it.each(files.map((url) => [url.pathname.split('/').slice(-2).join('/'), url] as const))('%s: one event per step, results from the model', (_name, url) => {
    const scenario = load(url);
    const host = scenarioHost(scenario, { hostId: 'scenario-host', seed: 1 });
    const records = host.take(100_000);
    expect(host.done).toBe(true);
    const events = records.map((r) => {
      const parsed = parseEvent(r.payload);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      return parsed.event;
    });
    expect(events[0]?.type).toBe('host.booted');
    expect(events[1]?.type).toBe('process.table');
    events.forEach((e, i) => expect(e.seq).toBe(i + 1));

    // The step events, in order, report what runScenario reports for the same steps.
    const run = runScenario(scenario);
    const expected = scenario.steps.flatMap((step, i) => (step.op === 'check' ? [] : [{ op: step.op, pid: step.pid, report: run.steps[i]! }]));
    const reported = events.slice(2).filter((e) => !(e.type === 'process.exited' && e.data.signal !== undefined));
    expect(reported.length).toBe(expected.length);
    reported.forEach((e, i) => {
      const want = expected[i]!;
      if (want.op === 'exit') {
        expect(e).toMatchObject({ type: 'process.exited', data: { pid: want.pid, code: 0 } });
        return;
      }
      expect(e.type).toBe(`syscall.${want.op}`);
      if (!('result' in e.data)) throw new Error(`no result in ${e.type}`);
      expect(e.data.result.errno).toBe(want.report.errno);
      expect(e.data.result.signal).toBe(want.report.signal);
    });

    // Replaying the events gives the scenario's final state, pid by pid.
    const replay = replayBoot(events);
    expect(replay.resultMismatches).toEqual([]);
    for (const [pid, report] of Object.entries(run.processes)) {
      expect(processReport(replay.state!.tasks.get(Number(pid))!)).toEqual(report);
      expect(processReport(host.kernel.tasks.get(Number(pid))!)).toEqual(report);
    }
  });

  it('runs under another profile when asked, as `lockline model run --profile` does', () => {
    const scenario = load(new URL('examples/mlock-r-make.json', root));
    for (const profile of PROFILES) {
      const host = scenarioHost(scenario, { hostId: 'h', profile });
      const events = host.take(1000).map((r) => r.event!);
      expect(events[0]).toMatchObject({ type: 'host.booted', data: { profile } });
      const mlockall = events.find((e) => e.type === 'syscall.mlockall');
      expect(mlockall && 'result' in mlockall.data ? mlockall.data.result.errno : 'missing').toBe(profile === 'linux-modern' ? 'EINVAL' : null);
    }
  });

  it('gives a process without an image (a scenario built in code) the default image of the model', () => {
    const scenario: Scenario = {
      name: 'x',
      profile: 'linux-modern',
      processes: [{ pid: 7, kernelThread: true }, { pid: 8 }],
      steps: [{ op: 'fork', pid: 8, child: 9 }, { op: 'check', pid: 9 }, { op: 'exit', pid: 9 }],
    };
    const host = scenarioHost(scenario, { hostId: 'h', bootId: 'b1', counterSampleEvery: 1 });
    const events = host.take(100).map((r) => r.event!);
    expect(events.map((e) => e.type)).toEqual(['host.booted', 'process.table', 'counters.sampled', 'syscall.fork', 'counters.sampled', 'process.exited']);
    const table = events[1]!;
    if (table.type !== 'process.table') throw new Error('no process.table');
    expect(table.data.processes.map((p) => p.image ?? null)).toEqual([null, { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 }]);
    expect(processReport(host.kernel.tasks.get(8)!)).toEqual(runScenario(scenario).processes['8']);
    expect(events.every((e) => e.bootId === 'b1')).toBe(true);
    expect(host.next()).toEqual([]);
    expect(host.done).toBe(true);
  });

  it('restarts the scenario after an injected reboot, once, and ends', () => {
    const scenario = load(new URL('examples/mlock-r-make.json', root));
    const host = scenarioHost(scenario, { hostId: 'h', seed: 1, faults: { reboot: 0.5 } });
    const records = host.take(100_000);
    expect(host.done).toBe(true);
    expect(host.stats.reboots).toBe(1);
    const boots = [...new Set(records.map((r) => r.bootId))];
    expect(boots.length).toBe(2);
    const last = records.filter((r) => r.bootId === boots[1]);
    expect(last.map((r) => r.seq)).toEqual(last.map((_, i) => i + 1));
    expect(replayBoot(last.map((r) => r.event!)).resultMismatches).toEqual([]);
    expect(last.length).toBe(scenario.steps.filter((s) => s.op !== 'check').length + 2);
  });

  it('is deterministic, and its ids and times follow the seed', () => {
    const scenario = load(new URL('examples/inherit-bypasses-limit.json', root));
    const a = scenarioHost(scenario, { hostId: 'h', seed: 3 }).take(1000).map((r) => r.payload);
    const b = scenarioHost(scenario, { hostId: 'h', seed: 3 }).take(1000).map((r) => r.payload);
    const c = scenarioHost(scenario, { hostId: 'h', seed: 4 }).take(1000).map((r) => r.payload);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});
