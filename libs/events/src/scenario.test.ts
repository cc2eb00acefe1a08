import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runScenario, type Scenario } from '@lockline/kernel';
import { formatProblems, type Problem } from './problems.js';
import { parseScenario } from './scenario.js';

const IMAGE = { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 } as const;

/** The example of spec/scenario-format.md, verbatim. */
const SPEC_EXAMPLE = {
  name: 'inherit-across-fork',
  profile: 'linux-2008-patch',
  pageSize: 4096,
  processes: [
    {
      pid: 1,
      capIpcLock: false,
      capSysResource: false,
      rlimitMemlock: { cur: 262144, max: 262144 },
      image: { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 },
    },
  ],
  steps: [
    { op: 'mmap', pid: 1, addr: '0x10000000', length: 32768, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
    { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'], expect: { errno: null } },
    { op: 'fork', pid: 1, child: 2 },
    { op: 'check', pid: 2, expect: { lockedVmPages: 35, defFlags: ['VM_LOCKED'], mclInherit: ['MCL_INHERIT'] } },
  ],
};

/** A one-process scenario with the given steps (and process overrides). */
function file(steps: unknown[], process: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 't', profile: 'linux-modern', processes: [{ pid: 1, image: IMAGE, ...process }], steps };
}

function parsed(json: unknown): Scenario {
  const r = parseScenario(json);
  if (!r.ok) throw new Error(formatProblems(r.problems, 'test.json'));
  return r.scenario;
}

function problems(json: unknown): Problem[] {
  const r = parseScenario(json);
  if (r.ok) throw new Error('expected the scenario to be rejected');
  return r.problems;
}

const paths = (json: unknown): string[] => problems(json).map((p) => p.path);

describe('parseScenario: valid files', () => {
  it('parses the example of the spec into the kernel Scenario', () => {
    expect(parsed(SPEC_EXAMPLE)).toEqual({
      name: 'inherit-across-fork',
      profile: 'linux-2008-patch',
      pageSize: 4096,
      processes: [{ pid: 1, capIpcLock: false, capSysResource: false, rlimitMemlock: { cur: 262144, max: 262144 }, image: IMAGE }],
      steps: [
        { op: 'mmap', pid: 1, addr: 0x10000000, length: 32768, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
        { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'], expect: { errno: null } },
        { op: 'fork', pid: 1, child: 2 },
        { op: 'check', pid: 2, expect: { lockedVmPages: 35, defFlags: ['VM_LOCKED'], mclInherit: ['MCL_INHERIT'] } },
      ],
    });
  });

  it('gives a result the model runs, with the outcome the spec shows', () => {
    const report = runScenario(parsed(SPEC_EXAMPLE));
    expect(report.failedExpectations).toEqual([]);
    expect(report.processes['2']?.lockedVmPages).toBe(35);
  });

  it('accepts the JSON text as well as the parsed value', () => {
    expect(parsed(JSON.stringify(SPEC_EXAMPLE))).toEqual(parsed(SPEC_EXAMPLE));
  });

  it('leaves optional top-level fields out when absent, and keeps a description', () => {
    const s = parsed({ ...file([]), description: 'why' });
    expect(s).toEqual({ name: 't', profile: 'linux-modern', description: 'why', processes: [{ pid: 1, image: IMAGE }], steps: [] });
    expect('pageSize' in s).toBe(false);
  });

  it('parses every operation into the kernel Op', () => {
    const steps = [
      { op: 'fork', pid: 1, child: 2 },
      { op: 'vfork', pid: 1, child: 3 },
      { op: 'clone', pid: 1, child: 4, shareVm: true },
      { op: 'exec', pid: 2, image: { ...IMAGE, format: 'script', interpPages: 30 } },
      { op: 'exec', pid: 3, image: { vmas: [{ start: '0x400000', end: '0x401000', prot: 'r-x' }], brk: '0x402000' } },
      { op: 'exit', pid: 3 },
      { op: 'mmap', pid: 1, length: '0x2000', prot: 'r--', flags: ['MAP_SHARED', 'MAP_LOCKED'] },
      { op: 'munmap', pid: 1, addr: '0x10000000', length: 4096 },
      { op: 'brk', pid: 1, addr: '0x500000' },
      { op: 'brk', pid: 1, increment: '-0x5000' },
      { op: 'mlock', pid: 1, addr: 268435456, length: '0xfffffffffffff000' },
      { op: 'mlock2', pid: 1, addr: '0x10000000', length: 8192, flags: ['MLOCK_ONFAULT'] },
      { op: 'munlock', pid: 1, addr: '0x10000000', length: 8192 },
      { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_ONFAULT'] },
      { op: 'munlockall', pid: 1 },
      { op: 'setrlimit', pid: 1, cur: '0x10000', max: 'unlimited' },
      { op: 'capset', pid: 1, capIpcLock: true },
      { op: 'madvise', pid: 1, addr: '0x10000000', length: 8192, advice: 'MADV_DONTFORK' },
      { op: 'mremap', pid: 1, addr: '0x10000000', oldLength: 8192, newLength: '0x4000' },
      { op: 'growstack', pid: 1, length: 524288 },
      { op: 'check', pid: 1 },
    ];
    expect(parsed(file(steps)).steps).toEqual([
      { op: 'fork', pid: 1, child: 2 },
      { op: 'vfork', pid: 1, child: 3 },
      { op: 'clone', pid: 1, child: 4, shareVm: true },
      { op: 'exec', pid: 2, image: { ...IMAGE, format: 'script', interpPages: 30 } },
      { op: 'exec', pid: 3, image: { vmas: [{ start: 0x400000, end: 0x401000, prot: 'r-x' }], brk: 0x402000 } },
      { op: 'exit', pid: 3 },
      { op: 'mmap', pid: 1, length: 0x2000, prot: 'r--', flags: ['MAP_SHARED', 'MAP_LOCKED'] },
      { op: 'munmap', pid: 1, addr: 0x10000000, length: 4096 },
      { op: 'brk', pid: 1, addr: 0x500000 },
      { op: 'brk', pid: 1, increment: -0x5000 },
      { op: 'mlock', pid: 1, addr: 268435456, length: 2 ** 64 - 4096 },
      { op: 'mlock2', pid: 1, addr: 0x10000000, length: 8192, flags: ['MLOCK_ONFAULT'] },
      { op: 'munlock', pid: 1, addr: 0x10000000, length: 8192 },
      { op: 'mlockall', pid: 1, flags: ['MCL_FUTURE', 'MCL_ONFAULT'] },
      { op: 'munlockall', pid: 1 },
      { op: 'setrlimit', pid: 1, cur: 0x10000, max: Number.POSITIVE_INFINITY },
      { op: 'capset', pid: 1, capIpcLock: true },
      { op: 'madvise', pid: 1, addr: 0x10000000, length: 8192, advice: 'MADV_DONTFORK' },
      { op: 'mremap', pid: 1, addr: 0x10000000, oldLength: 8192, newLength: 0x4000 },
      { op: 'growstack', pid: 1, length: 524288 },
      { op: 'check', pid: 1 },
    ]);
  });

  it('maps a process given as explicit vmas + brk to an ExplicitImage, and allows a kernel thread without one', () => {
    const s = parsed({
      name: 't',
      profile: 'linux-modern',
      processes: [
        {
          pid: 100,
          ppid: 1,
          rlimitMemlock: { cur: 'unlimited', max: 'unlimited' },
          vmas: [
            { start: '0x7ffffffde000', end: '0x7ffffffff000', prot: 'rw-', growsDown: true },
            { start: '0x400000', end: '0x404000', prot: 'r-x' },
            { start: '0x7ffff7ffd000', end: '0x7ffff7ffe000', prot: 'r-x', special: true },
          ],
          brk: '0x406000',
        },
        { pid: 2, ppid: 0, kernelThread: true },
      ],
      steps: [],
    });
    expect(s.processes).toEqual([
      {
        pid: 100,
        ppid: 1,
        rlimitMemlock: { cur: Number.POSITIVE_INFINITY, max: Number.POSITIVE_INFINITY },
        image: {
          vmas: [
            { start: 0x7ffffffde000, end: 0x7ffffffff000, prot: 'rw-', growsDown: true },
            { start: 0x400000, end: 0x404000, prot: 'r-x' },
            { start: 0x7ffff7ffd000, end: 0x7ffff7ffe000, prot: 'r-x', special: true },
          ],
          brk: 0x406000,
        },
      },
      { pid: 2, ppid: 0, kernelThread: true },
    ]);
  });

  it('reads every expectation, keeping a wrapped lockedVmPages as a decimal string', () => {
    const expectAll = {
      errno: 'ENOMEM',
      signal: null,
      lockedVmPages: '18446744073709551615',
      totalVmPages: 28,
      defFlags: ['VM_LOCKED', 'VM_LOCKONFAULT'],
      mclInherit: ['MCL_INHERIT', 'MCL_RECURSIVE'],
      alive: true,
    };
    expect(parsed(file([{ op: 'check', pid: 1, expect: expectAll }])).steps[0]?.expect).toEqual(expectAll);
    expect(parsed(file([{ op: 'check', pid: 1, expect: { lockedVmPages: '35', signal: 'SIGKILL' } }])).steps[0]?.expect).toEqual({
      lockedVmPages: 35,
      signal: 'SIGKILL',
    });
  });

  it('accepts a flag the vocabulary knows even where the profile does not (the model says EINVAL)', () => {
    const s = parsed(file([{ op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_INHERIT'], expect: { errno: 'EINVAL' } }]));
    expect(runScenario(s).failedExpectations).toEqual([]);
  });
});

describe('parseScenario: problems', () => {
  it('names an unknown flag, with its path and the names it expected', () => {
    const p = problems(file([{ op: 'check', pid: 1 }, { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FOO'] }]));
    expect(p).toEqual([
      {
        path: 'steps[1].flags[1]',
        message: 'unknown flag "MCL_FOO" (expected one of MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MCL_INHERIT, MCL_RECURSIVE)',
      },
    ]);
    expect(formatProblems(p, 'examples/x.json')).toBe(
      'examples/x.json: steps[1].flags[1]: unknown flag "MCL_FOO" (expected one of MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MCL_INHERIT, MCL_RECURSIVE)',
    );
  });

  it('refuses flags given as numbers', () => {
    const [p] = problems(file([{ op: 'mmap', pid: 1, length: 4096, prot: 'rw-', flags: [34] }]));
    expect(p?.path).toBe('steps[0].flags[0]');
    expect(p?.message).toContain('flags are names, never numbers');
  });

  it('rejects unknown keys in a step, suggesting the key meant, and still checks the rest', () => {
    expect(problems(file([{ op: 'mmap', pid: 1, lenght: 4096, prot: 'rw-', flags: ['MAP_PRIVATE'] }]))).toEqual([
      { path: 'steps[0].lenght', message: 'unknown field "lenght" in mmap step (did you mean "length"?)' },
      { path: 'steps[0].length', message: 'required field is missing' },
    ]);
  });

  it('lists the fields of the op when an unknown key resembles none of them', () => {
    expect(problems(file([{ op: 'fork', pid: 1, child: 2, comment: 'x' }]))).toEqual([
      { path: 'steps[0].comment', message: 'unknown field "comment" in fork step (expected one of op, pid, expect, child)' },
    ]);
  });

  it('rejects unknown keys everywhere else too: top level, process, image, rlimit, expect, vma', () => {
    const json = {
      name: 't',
      profile: 'linux-modern',
      procesess: [],
      processes: [
        {
          pid: 1,
          rlimitMemLock: { cur: 1, max: 1 },
          rlimitMemlock: { cur: 4096, max: 4096, soft: 1 },
          image: { ...IMAGE, textpages: 3 },
        },
        { pid: 2, vmas: [{ start: 0, end: 4096, prot: 'rw-', locked: true }], brk: 4096 },
      ],
      steps: [{ op: 'check', pid: 1, expect: { lockedVMPages: 1 } }],
    };
    expect(problems(json)).toEqual([
      { path: 'procesess', message: 'unknown field "procesess" in scenario (did you mean "processes"?)' },
      { path: 'processes[0].rlimitMemLock', message: 'unknown field "rlimitMemLock" in process (did you mean "rlimitMemlock"?)' },
      { path: 'processes[0].rlimitMemlock.soft', message: 'unknown field "soft" in rlimitMemlock (expected one of cur, max)' },
      { path: 'processes[0].image.textpages', message: 'unknown field "textpages" in image (did you mean "textPages"?)' },
      {
        path: 'processes[1].vmas[0].locked',
        message: 'unknown field "locked" in vma (expected one of start, end, prot, special, growsDown)',
      },
      { path: 'steps[0].expect.lockedVMPages', message: 'unknown field "lockedVMPages" in expect (did you mean "lockedVmPages"?)' },
    ]);
  });

  it('rejects an unknown or missing op, naming the ops it knows', () => {
    const p = problems(file([{ op: 'mmapp', pid: 1 }, { pid: 1 }]));
    expect(p.map((x) => x.path)).toEqual(['steps[0].op', 'steps[1].op']);
    expect(p[0]?.message).toMatch(/^unknown op "mmapp" \(expected one of fork, vfork, clone, exec, exit, mmap, .*check\)$/);
    expect(p[1]?.message).toMatch(/^required field is missing \(expected one of fork, /);
  });

  it('requires exactly one of addr and increment for brk', () => {
    expect(problems(file([{ op: 'brk', pid: 1 }, { op: 'brk', pid: 1, addr: 0, increment: 4096 }]))).toEqual([
      { path: 'steps[0]', message: 'needs either "addr" (brk to an address) or "increment" (sbrk by a byte count)' },
      { path: 'steps[1].increment', message: 'give either "addr" (brk) or "increment" (sbrk), not both' },
    ]);
  });

  it('allows a negative value only for the brk increment', () => {
    expect(paths(file([{ op: 'munmap', pid: 1, addr: -4096, length: '-0x1000' }]))).toEqual(['steps[0].addr', 'steps[0].length']);
    expect(parsed(file([{ op: 'brk', pid: 1, increment: -4096 }])).steps[0]).toEqual({ op: 'brk', pid: 1, increment: -4096 });
  });

  it('checks prot, pageSize, pids and the profile', () => {
    const json = { ...file([{ op: 'mmap', pid: 0, length: 4096, prot: 'rwx-', flags: [] }]), pageSize: 65536, profile: 'linux-2.6' };
    expect(problems(json)).toEqual([
      { path: 'profile', message: 'unknown profile "linux-2.6" (expected one of linux-2008-patch, linux-2008-patch-fixed, linux-modern)' },
      { path: 'pageSize', message: 'must be 4096 (the model has 4 KiB pages only), got number 65536' },
      { path: 'steps[0].pid', message: 'must be at least 1, got 0' },
      {
        path: 'steps[0].prot',
        message: 'expected a protection like "rw-" or "r-x" (r, w, x or - in that order), got string "rwx-"',
      },
    ]);
  });

  it('checks expectations: errno and signal names, counts, flag names', () => {
    const expectBad = { errno: 'EFOO', signal: 'SIGTERM', lockedVmPages: '-1', totalVmPages: 1.5, defFlags: ['MCL_FUTURE'], mclInherit: ['MCL_CURRENT'], alive: 'yes' };
    expect(paths(file([{ op: 'check', pid: 1, expect: expectBad }]))).toEqual([
      'steps[0].expect.errno',
      'steps[0].expect.signal',
      'steps[0].expect.lockedVmPages',
      'steps[0].expect.totalVmPages',
      'steps[0].expect.defFlags[0]',
      'steps[0].expect.mclInherit[0]',
      'steps[0].expect.alive',
    ]);
  });

  it('checks that a process has exactly one layout, or none as a kernel thread', () => {
    const json = {
      name: 't',
      profile: 'linux-modern',
      processes: [
        { pid: 1 },
        { pid: 2, image: IMAGE, vmas: [], brk: 0 },
        { pid: 3, vmas: [] },
        { pid: 4, brk: '0x1000' },
        { pid: 5, kernelThread: true, image: IMAGE },
      ],
      steps: [],
    };
    expect(problems(json)).toEqual([
      { path: 'processes[0]', message: 'a process needs an "image", or "vmas" + "brk", or "kernelThread": true' },
      { path: 'processes[1].vmas', message: 'give either "image" or "vmas" + "brk", not both' },
      { path: 'processes[2].brk', message: 'required with "vmas" (the program break of the explicit layout)' },
      { path: 'processes[3].vmas', message: 'required with "brk" (the mappings of the explicit layout)' },
      { path: 'processes[4].image', message: 'a kernel thread ("kernelThread": true) has no memory map; remove this field' },
    ]);
  });

  it('checks explicit vmas: aligned, non-empty, non-overlapping', () => {
    const vmas = [
      { start: '0x400000', end: '0x404000', prot: 'r-x' },
      { start: '0x403000', end: '0x405000', prot: 'rw-' },
      { start: '0x500001', end: '0x501000', prot: 'rw-' },
      { start: '0x600000', end: '0x600000', prot: 'rw-' },
    ];
    const json = { name: 't', profile: 'linux-modern', processes: [{ pid: 1, vmas, brk: '0x405000' }], steps: [] };
    expect(problems(json)).toEqual([
      { path: 'processes[0].vmas[2].start', message: 'must be page aligned (a multiple of 4096), got 0x500001' },
      { path: 'processes[0].vmas[3].end', message: 'must be above start (0x600000), got 0x600000' },
      { path: 'processes[0].vmas[1]', message: 'overlaps vmas[0] (0x400000-0x404000)' },
    ]);
  });

  it('reports a pid used twice, and a starting rlimit with cur above max', () => {
    const json = {
      name: 't',
      profile: 'linux-modern',
      processes: [
        { pid: 1, image: IMAGE, rlimitMemlock: { cur: 'unlimited', max: 4096 } },
        { pid: 1, image: IMAGE },
      ],
      steps: [],
    };
    expect(problems(json)).toEqual([
      { path: 'processes[0].rlimitMemlock.cur', message: 'must not exceed max (4096)' },
      { path: 'processes[1].pid', message: 'pid 1 is already used by processes[0]' },
    ]);
  });

  it('reports every problem of a file at once', () => {
    const json = {
      profile: 'linux-modern',
      processes: [],
      steps: [
        { op: 'mmap', pid: 1, addr: '0x1g', length: 4096, prot: 'rw-', flags: ['MAP_PRIVATE', 'MCL_FOO'] },
        { op: 'setrlimit', pid: 1, cur: '0xffffffffffffffff', max: 1.5 },
        { op: 'exec', pid: 1, image: { format: 'elfx', argPages: -1 } },
      ],
    };
    expect(paths(json)).toEqual([
      'name',
      'processes',
      'steps[0].addr',
      'steps[0].flags[1]',
      'steps[1].cur',
      'steps[1].max',
      'steps[2].image.format',
      'steps[2].image.argPages',
      'steps[2].image.textPages',
      'steps[2].image.dataPages',
      'steps[2].image.bssPages',
      'steps[2].image.vdsoPages',
    ]);
  });

  it('reports JSON syntax errors and values that are not a scenario at the root', () => {
    const [syntax] = problems('{"name": ');
    expect(syntax?.path).toBe('');
    expect(syntax?.message).toMatch(/^not valid JSON: /);
    expect(problems(null)).toEqual([{ path: '', message: 'expected an object, got null' }]);
    expect(problems([])).toEqual([{ path: '', message: 'expected an object, got an array' }]);
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withDate: true }), (value) => {
        const r = parseScenario(value);
        expect(r.ok || r.problems.length > 0).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on a valid file with one value replaced by anything', () => {
    const steps = SPEC_EXAMPLE.steps;
    fc.assert(
      fc.property(fc.nat(steps.length - 1), fc.constantFrom('op', 'pid', 'addr', 'length', 'flags', 'expect', 'prot'), fc.anything(), (i, key, value) => {
        const json = { ...SPEC_EXAMPLE, steps: steps.map((s, j) => (j === i ? { ...s, [key]: value } : s)) };
        const r = parseScenario(json);
        if (!r.ok) for (const p of r.problems) expect(p.path === '' || p.path.startsWith(`steps[${i}]`)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("the repository's own scenario files", () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dirs = ['examples', 'test/spec-c'];
  const files = dirs.flatMap((dir) => {
    try {
      return readdirSync(root + dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => `${dir}/${f}`);
    } catch {
      return [];
    }
  });

  it.skipIf(files.length === 0)('all parse (skipped when the repository has none)', () => {
    const failures = files.flatMap((f) => {
      const r = parseScenario(readFileSync(root + f, 'utf8'));
      return r.ok ? [] : [formatProblems(r.problems, f)];
    });
    expect(failures).toEqual([]);
  });
});
