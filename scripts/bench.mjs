#!/usr/bin/env node
// Runs one benchmark: `npm run bench -- NAME [args]` runs test/bench/NAME.ts with tsx and --expose-gc
// (benchmarks that report memory call global.gc()). `npm run bench` alone lists the benchmarks.
//
// The workspace is built first (tsc -b): a benchmark imports '@lockline/*', which at run time
// resolves to each package's compiled dist/ (tsx does not apply the "lockline-source" condition), and
// the compiled JS is what we want to measure — a stale dist would measure old code.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'test', 'bench');
const usage = 'usage: npm run bench -- NAME [args]   (runs test/bench/NAME.ts)';

/** What the benchmarks share (support.ts) is not a benchmark. */
const notBenchmarks = new Set(['support.ts']);
const available = existsSync(benchDir)
  ? readdirSync(benchDir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !notBenchmarks.has(f))
      .map((f) => f.slice(0, -'.ts'.length))
      .sort()
  : [];
const list = available.length > 0 ? available.join(', ') : '(none: test/bench has no .ts file)';

const [arg, ...rest] = process.argv.slice(2);
if (arg === undefined || arg === '-h' || arg === '--help') {
  console.error(usage);
  console.error(`benchmarks: ${list}`);
  process.exit(arg === undefined ? 2 : 0);
}

// Accept "kernel" or "kernel.ts"; anything else must be one of the listed names (no paths).
const name = arg.endsWith('.ts') ? arg.slice(0, -'.ts'.length) : arg;
if (!available.includes(name)) {
  console.error(`unknown benchmark "${arg}"; valid: ${list}`);
  console.error(usage);
  process.exit(2);
}

console.error('bench: building the workspace (npx tsc -b)…');
const build = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`bench: the build failed (tsc -b exited ${build.status ?? build.signal}); not running "${name}"`);
  process.exit(build.status || 1);
}

const file = join(benchDir, `${name}.ts`);
console.error(`bench: running test/bench/${name}.ts`);
const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file, ...rest], {
  cwd: root,
  stdio: 'inherit',
});
if (run.error) {
  console.error(`bench: could not start node: ${run.error.message}`);
  process.exit(1);
}
if (run.signal) {
  console.error(`bench: "${name}" was killed by ${run.signal}`);
  process.exit(1);
}
process.exit(run.status ?? 1);
