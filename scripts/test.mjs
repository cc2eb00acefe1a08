#!/usr/bin/env node
// Type-checks, lints, then runs every test with vitest and ends with one plain summary line
// ("N passed, N failed, N skipped") that CI and humans can read; exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const tsc = spawnSync('npx', ['tsc', '-b'], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('type check failed (tsc -b); not running tests');
  process.exit(tsc.status ?? 1);
}
// The tests themselves (excluded from the packages' builds) are type-checked too.
const tscTests = spawnSync('npx', ['tsc', '-p', 'test/tsconfig.json'], { stdio: 'inherit' });
if (tscTests.status !== 0) {
  console.error('type check of the tests failed (tsc -p test/tsconfig.json); not running tests');
  process.exit(tscTests.status ?? 1);
}
const lint = spawnSync('npx', ['eslint', '.'], { stdio: 'inherit' });
if (lint.status !== 0) {
  console.error('lint failed (eslint .); not running tests');
  process.exit(lint.status ?? 1);
}
const dir = mkdtempSync(join(tmpdir(), 'lockline-test-'));
const report = join(dir, 'report.json');
const run = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], {
  stdio: 'inherit',
});
let summary;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  summary = { passed: r.numPassedTests, failed: r.numFailedTests, skipped, suitesFailed: r.numFailedTestSuites };
} catch (err) {
  console.error(`could not read the test report: ${err.message}`);
}
rmSync(dir, { recursive: true, force: true });
if (!summary) process.exit(run.status || 1);
console.log(`\n${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
const ok = run.status === 0 && summary.failed === 0 && summary.suitesFailed === 0 && summary.passed > 0;
process.exit(ok ? 0 : 1);
