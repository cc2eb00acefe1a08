/**
 * Section C of spec/kernel-semantics.md ("Test scenarios (37)"), as scenario files.
 *
 * Every `C##-<slug>.<profile>.json` in this folder is parsed with the scenario parser of
 * @lockline/events and run through the model of @lockline/kernel; every `expect` in it must hold.
 * An expectation that fails here is a disagreement between the model and the spec: fix the model
 * (or, if the file misreads the spec, the file), never weaken the expectation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '@lockline/events';
import { runScenario } from '@lockline/kernel';

const DIR = dirname(fileURLToPath(import.meta.url));
const PROFILES = ['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'] as const;
const FILE_RE = /^(C\d\d)-[a-z0-9-]+\.(linux-2008-patch|linux-2008-patch-fixed|linux-modern)\.json$/;
const EXPECT_FIELDS = ['errno', 'signal', 'lockedVmPages', 'totalVmPages', 'defFlags', 'mclInherit', 'alive'];

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

interface RawStep {
  op?: unknown;
  pid?: unknown;
  expect?: Record<string, unknown>;
}
interface RawFile {
  name?: unknown;
  profile?: unknown;
  steps?: RawStep[];
}

function readRaw(file: string): RawFile {
  return JSON.parse(readFileSync(join(DIR, file), 'utf8')) as RawFile;
}

function show(v: unknown): string {
  return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
}

describe('spec section C scenario files', () => {
  it('the folder holds scenario files named C##-slug.<profile>.json', () => {
    expect(files.length).toBeGreaterThan(0);
    const badNames = files.filter((f) => !FILE_RE.test(f));
    expect(badNames, `badly named files: ${badNames.join(', ')}`).toEqual([]);
  });

  it('every scenario C01..C37 has at least one file', () => {
    const ids = new Set(files.map((f) => FILE_RE.exec(f)?.[1]).filter((x): x is string => x !== undefined));
    const missing: string[] = [];
    for (let i = 1; i <= 37; i++) {
      const id = `C${String(i).padStart(2, '0')}`;
      if (!ids.has(id)) missing.push(id);
    }
    expect(missing, `scenarios without a file: ${missing.join(', ')}`).toEqual([]);
  });

  describe.each(files)('%s', (file) => {
    it('names its profile and asserts something', () => {
      const raw = readRaw(file);
      const m = FILE_RE.exec(file);
      expect(m, `${file}: file name does not match C##-slug.<profile>.json`).not.toBeNull();
      expect(PROFILES).toContain(raw.profile);
      expect(raw.profile, `${file}: "profile" differs from the profile in the file name`).toBe(m?.[2]);
      expect(String(raw.name ?? ''), `${file}: "name" should start with the scenario id`).toMatch(new RegExp(`^${m?.[1]} `));
      const steps = Array.isArray(raw.steps) ? raw.steps : [];
      const asserted = steps.filter(
        (s) => s.expect !== undefined && EXPECT_FIELDS.some((k) => Object.prototype.hasOwnProperty.call(s.expect, k)),
      );
      expect(asserted.length, `${file}: no step carries an expectation`).toBeGreaterThan(0);
      const emptyChecks = steps
        .map((s, i) => ({ s, i }))
        .filter(({ s }) => s.op === 'check' && (s.expect === undefined || Object.keys(s.expect).length === 0));
      expect(emptyChecks.map(({ i }) => i), `${file}: check steps without an expectation`).toEqual([]);
    });

    it('parses and every expectation holds under the model', () => {
      const raw = readRaw(file);
      const parsed = parseScenario(raw);
      if (!parsed.ok) {
        const problems = parsed.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
        expect.fail(`${file}: not a valid scenario:\n${problems}`);
      }
      const scenario = parsed.scenario;
      const report = runScenario(scenario);
      const lines = report.failedExpectations.map((f) => {
        const step = scenario.steps[f.step];
        const got = report.steps[f.step];
        const outcome = got ? ` [errno ${show(got.errno)}${got.signal ? `, signal ${got.signal}` : ''}]` : '';
        return (
          `  step ${f.step} ${step?.op ?? '?'} pid ${step?.pid ?? '?'}${outcome}: ${f.field} ` +
          `expected ${show(f.expected)}, actual ${show(f.actual)}`
        );
      });
      const message =
        `${file} (${scenario.name}, ${scenario.profile}): ${report.failedExpectations.length} failed expectation(s)\n` +
        lines.join('\n');
      expect(report.failedExpectations.length === 0 ? [] : lines, message).toEqual([]);
      expect(report.ok, message).toBe(true);
    });
  });
});
