import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { run } from './testing/run.js';

const root = resolve(import.meta.dirname, '../../..');
const example = (name: string): string => join(root, 'examples', name);


function scenarioFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockline-cli-'));
  const file = join(dir, 'scenario.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('lockline', () => {
  it('prints the commands with --help, and usage with exit 2 when called bare', async () => {
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('model run');
    expect((await run()).code).toBe(2);
  });

  it('rejects an unknown command with exit 2 and the list of commands', async () => {
    const r = await run('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command "frobnicate"');
    expect(r.err).toContain('model run');
  });

  it('has --help on every command', async () => {
    const r = await run('model', 'run', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: lockline model run FILE');
    expect(r.out).toContain('--profile');
    expect((await run('model', '--help')).out).toContain('model run');
  });
});

describe('lockline model run', () => {
  it('runs an example and prints the documented JSON, exit 0', async () => {
    const r = await run('model', 'run', example('mlock-r-make.json'));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ name: 'mlock -r make -j8', profile: 'linux-2008-patch', ok: true, failedExpectations: [] });
    expect(report.steps[0]).toEqual({ i: 0, op: 'mlockall', pid: 1, errno: null });
    expect(report.processes['17']).toMatchObject({
      alive: true,
      lockedVmPages: 3594,
      defFlags: ['VM_LOCKED'],
      mclInherit: ['MCL_INHERIT', 'MCL_RECURSIVE'],
      capIpcLock: true,
      rlimitMemlock: { cur: 'unlimited', max: 'unlimited' },
    });
    expect(report.processes['10'].alive).toBe(false);
    expect(report.processes['17'].vmas[0]).toEqual({ start: '0x400000', end: '0xd60000', prot: 'r-x', lockFlags: ['VM_LOCKED'], special: false });
  });

  it('--profile overrides the file, and a failed expectation exits 1 with the list', async () => {
    const r = await run('model', 'run', example('as-written-vs-intended.json'), '--profile', 'linux-2008-patch-fixed');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report.profile).toBe('linux-2008-patch-fixed');
    expect(report.ok).toBe(false);
    expect(report.failedExpectations).toContainEqual({ step: 4, field: 'lockedVmPages', expected: 27, actual: 0 });
  });

  it('shows a wrapped locked_vm as a decimal string', async () => {
    const file = scenarioFile({
      name: 'wrap',
      profile: 'linux-2008-patch',
      processes: [{ pid: 1, image: { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 } }],
      steps: [
        { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_INHERIT'] },
        { op: 'exec', pid: 1, image: { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 } },
        { op: 'munlockall', pid: 1, expect: { lockedVmPages: '18446744073709551615' } },
      ],
    });
    const r = await run('model', 'run', file, '--no-vmas');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).processes['1']).toMatchObject({ lockedVmPages: '18446744073709551615', vmas: [] });
  });

  it('exits 2 naming the file, the step and the field for an invalid scenario', async () => {
    const file = scenarioFile({
      name: 'bad',
      profile: 'linux-modern',
      processes: [{ pid: 1 }],
      steps: [{ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'] }, { op: 'mlockall', pid: 1, flags: ['MCL_FOO'] }],
    });
    const r = await run('model', 'run', file);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(file);
    expect(r.err).toContain('steps[1]');
    expect(r.err).toContain('MCL_FOO');
  });

  it('exits 2 with one clear line for a missing file, bad JSON, or a bad profile', async () => {
    const missing = await run('model', 'run', '/nonexistent/scenario.json');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('/nonexistent/scenario.json: cannot read: no such file');
    const bad = await run('model', 'run', scenarioFile('{ "name": '));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/not valid JSON/);
    const profile = await run('model', 'run', example('mlock-r-make.json'), '--profile', 'linux-3000');
    expect(profile.code).toBe(2);
    expect(profile.err).toContain('unknown profile "linux-3000"');
    expect((await run('model', 'run')).code).toBe(2);
    expect((await run('model', 'run', 'a.json', '--frob')).err).toContain("Unknown option '--frob'");
  });

  it('works as the installed `npx lockline` binary', async () => {
    const { stdout } = await promisify(execFile)('npx', ['lockline', 'model', 'run', example('inherit-bypasses-limit.json'), '--no-vmas'], {
      cwd: root,
    });
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(true);
    expect(report.processes['2'].lockedVmPages).toBe(0);
  });
});
