/**
 * The dashboard's figures: `npm run bench -- dashboard` (scripts/bench.mjs builds the workspace first).
 *
 * A SQLite store holding HOSTS simulated hosts (default 1,000, `simulateFleet`, about 100 events each)
 * and one more, host-big, whose scenario forks a tree of TREE processes (default 10,000) under an
 * mlockall(MCL_INHERIT|MCL_RECURSIVE), folded by the real model. The API (services/api/dist/main.js)
 * serves it offline (LOCKLINE_STORE, no NATS: the store backend folds it once, before measuring).
 * Headless Chromium (Debian's `chromium`, playwright-core) then, in a fresh browser context each run:
 *
 *   - opens the dashboard with its token: time from navigation to the first render of the fleet with
 *     every host (the rows in view in the DOM), and to the frame after it (painted); the /v1/fleet
 *     answer's own time; the rows in the DOM (the list is virtual); the longest task in the 3 s after,
 *     while the stream's first burst (one summary per host) is applied;
 *   - opens host-big: time from the hash change to its tree drawn (the 10,000-process tree fetched,
 *     built and flattened), the tree rows in the DOM, the size of the answer;
 *   - steps the replay back one event: time until the tree at that seq is drawn.
 *
 * Options: --hosts=N (1000), --tree=N (10000), --runs=N (5). About a minute with the defaults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '@lockline/bus/testing';
import type { HostEvent } from '@lockline/events';
import { appendHostEvents, openEventStore, type EventStore } from '@lockline/eventstore';
import type { Scenario, ScenarioStep } from '@lockline/kernel';
import { scenarioHost, simulateFleet } from '@lockline/sim';
import { chromium } from 'playwright-core';
import { fmt, loadNote, median, otherLoad, parseArgs, positiveInt, row, say } from './support.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = 'bench-dashboard-viewer-0123456789';

const { args, unknown } = parseArgs(['hosts', 'tree', 'runs']);
if (unknown.length > 0) {
  console.error(`unknown option(s) ${unknown.map((k) => `--${k}`).join(' ')}; options: --hosts=N --tree=N --runs=N`);
  process.exit(2);
}
const num = (key: string, fallback: number): number => {
  const v = args.get(key);
  const n = v === undefined ? fallback : Number(v);
  if (!positiveInt(n)) {
    console.error(`--${key}: expected a positive whole number, got ${v}`);
    process.exit(2);
  }
  return n;
};
const HOSTS = num('hosts', 1000);
const TREE = num('tree', 10_000);
const RUNS = num('runs', 5);

const chromiumPath = [process.env.LOCKLINE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => p !== undefined && p !== '' && existsSync(p));
if (!chromiumPath) {
  console.error('no Chromium: install Debian\'s package (apt-get install -y chromium) or set LOCKLINE_CHROMIUM to its path');
  process.exit(2);
}
const CHROMIUM: string = chromiumPath;

/** A host whose pid 2 calls mlockall(…MCL_INHERIT|MCL_RECURSIVE), then a 6-ary tree of `size` processes forks under pids 1 and 2. */
function bigTreeScenario(size: number): Scenario {
  const steps: ScenarioStep[] = [{ op: 'mlockall', pid: 2, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'] }];
  const nodes = [1, 2];
  for (let i = 2; i < size; i++) {
    const child = 100 + i;
    steps.push({ op: 'fork', pid: nodes[Math.floor(i / 6)]!, child });
    nodes.push(child);
  }
  return {
    name: `a tree of ${size} processes`,
    profile: 'linux-2008-patch',
    processes: [
      { pid: 1, ppid: 0, capIpcLock: true },
      { pid: 2, ppid: 1 },
    ],
    steps,
  };
}

/** Appends as ingest does: one stream per host boot, batches of 500 with the expected revision. */
function appendEvents(store: EventStore, events: Iterable<HostEvent>): Promise<number> {
  return appendHostEvents(store, events, { batchEvents: 500 });
}

function* fleetEvents(): Generator<HostEvent> {
  for (const r of simulateFleet({ hosts: HOSTS, seed: 1, events: HOSTS * 100 })) if (r.event) yield r.event;
  const big = scenarioHost(bigTreeScenario(TREE), { hostId: 'host-big', seed: 1 });
  while (!big.done) for (const r of big.take(1000)) if (r.event) yield r.event;
}

interface FleetRun {
  rendered: number;
  painted: number;
  fleetFetch: number;
  domContentLoaded: number;
  rowsInDom: number;
  domNodes: number;
  longestTask: number;
  hostsShown: string;
}

interface HostRun {
  treeDrawn: number;
  treeBytes: number;
  treeRowsInDom: number;
  processes: string;
  replayStep: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lockline-bench-dashboard-'));
  let api: ChildProcess | undefined;
  let apiLog = '';
  try {
    // 1. The store
    const storeUrl = `sqlite:${join(dir, 'events.db')}`;
    const t0 = performance.now();
    const store = await openEventStore(storeUrl);
    const events = await appendEvents(store, fleetEvents());
    await store.close();
    say(`store: ${fmt(events)} events of ${fmt(HOSTS)} simulated hosts and host-big (${fmt(TREE)} processes), written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // 2. The API, offline on that store
    const port = await freePort();
    api = spawn(process.execPath, [join(REPO, 'services/api/dist/main.js')], {
      env: { ...process.env, LOCKLINE_STORE: storeUrl, LOCKLINE_API_PORT: String(port), LOCKLINE_API_TOKENS: `viewer:${TOKEN}`, LOCKLINE_API_RATE_LIMIT: '10000000', LOCKLINE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    api.stderr?.on('data', (d: Buffer) => (apiLog = (apiLog + d.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const t1 = performance.now();
    for (;;) {
      const ok = await fetch(`${url}/v1/fleet`, { headers: { authorization: `Bearer ${TOKEN}` } })
        .then(async (r) => r.ok && ((await r.json()) as { hosts: unknown[] }).hosts.length === HOSTS + 1)
        .catch(() => false);
      if (ok) break;
      if (api.exitCode !== null || performance.now() - t1 > 120_000) throw new Error(`the API did not serve the fleet of ${HOSTS + 1} hosts:\n${apiLog}`);
      await sleep(200);
    }
    say(`API (offline backend) up, the store folded, in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

    // 3. The browser
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    say(`Chromium ${browser.version()} (headless), ${RUNS} runs each in a fresh context, viewport 1400×1000`);
    const load = otherLoad();
    const fleetRuns: FleetRun[] = [];
    const hostRuns: HostRun[] = [];
    try {
      for (let run = 0; run < RUNS; run++) {
        // bypassCSP: the measuring scripts below are strings, which the API's CSP (no eval) would refuse
        const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, bypassCSP: true });
        const page = await context.newPage();
        await page.addInitScript({
          content: "window.__longTasks = []; window.__longTaskSupported = PerformanceObserver.supportedEntryTypes.includes('longtask'); try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push([e.startTime, e.duration]); }).observe({ type: 'longtask', buffered: true }); } catch {}",
        });
        await page.goto(`${url}/#token=${TOKEN}`);
        await page.waitForFunction('document.documentElement.dataset.fleetPainted !== undefined', undefined, { timeout: 30_000 });
        await sleep(3000); // the stream's first burst: one summary per host
        fleetRuns.push(
          await page.evaluate<FleetRun>(`(() => {
            const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
            const rendered = mark('lockline:fleet-rendered');
            const fleet = performance.getEntriesByType('resource').find((r) => r.name.includes('/v1/fleet'));
            const nav = performance.getEntriesByType('navigation')[0];
            const after = window.__longTasks.filter(([t]) => t >= rendered);
            return {
              rendered,
              painted: mark('lockline:fleet-painted'),
              fleetFetch: fleet ? fleet.responseEnd - fleet.startTime : NaN,
              domContentLoaded: nav ? nav.domContentLoadedEventEnd : NaN,
              rowsInDom: document.querySelectorAll('.host-rows .host-row:not([hidden])').length,
              domNodes: document.getElementsByTagName('*').length,
              longestTask: window.__longTaskSupported ? after.reduce((m, [, d]) => Math.max(m, d), 0) : NaN,
              hostsShown: document.querySelector('.hosts [role=status]')?.textContent ?? '',
            };
          })()`),
        );

        hostRuns.push(
          await page.evaluate<HostRun>(`(async () => {
            const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
            const until = async (check) => { const t = performance.now(); while (!check()) { if (performance.now() - t > 60000) throw new Error('timed out'); await frame(); } };
            const t0 = performance.now();
            location.hash = '#/hosts/host-big';
            await until(() => document.querySelector('section.host[data-seq] .tree-row'));
            const treeDrawn = performance.now() - t0;
            const tree = performance.getEntriesByType('resource').filter((r) => r.name.includes('/v1/hosts/host-big/tree')).pop();
            const processes = document.querySelector('section.host .figures .figure:nth-child(2) dd')?.textContent ?? '';
            const treeRowsInDom = document.querySelectorAll('.tree .tree-row:not([hidden])').length;
            const seq = document.querySelector('section.host').dataset.seq;
            const t1 = performance.now();
            document.querySelector('button[aria-label$="back 1 event"]').click();
            await until(() => document.querySelector('section.host').dataset.seq !== seq && document.querySelector('.tree-row'));
            await frame();
            return { treeDrawn, treeBytes: tree ? tree.encodedBodySize || tree.transferSize : NaN, treeRowsInDom, processes, replayStep: performance.now() - t1 };
          })()`),
        );
        await context.close();
      }
    } finally {
      await browser.close();
    }
    const others = load();

    // 4. Figures
    const stat = (xs: number[]): string[] => [fmt(median(xs)), fmt(Math.min(...xs)), fmt(Math.max(...xs))];
    const w = [70, 7, 7, 7];
    say();
    say(row(['', 'median', 'min', 'max'], w));
    const f = (k: keyof FleetRun): number[] => fleetRuns.map((r) => r[k] as number);
    const hr = (k: keyof HostRun): number[] => hostRuns.map((r) => r[k] as number);
    say(row([`fleet of ${fmt(HOSTS + 1)} hosts: first render (ms from navigation)`, ...stat(f('rendered'))], w));
    say(row(['  … painted (the frame after)', ...stat(f('painted'))], w));
    say(row(['  the page parsed (DOMContentLoaded, ms)', ...stat(f('domContentLoaded'))], w));
    say(row(['  GET /v1/fleet, request to last byte (ms)', ...stat(f('fleetFetch'))], w));
    say(row(['  longest task ≥ 50 ms during the stream\'s first burst (ms; 0: none)', ...stat(f('longestTask'))], w));
    say(row(['  host rows in the DOM (the list is virtual)', ...stat(f('rowsInDom'))], w));
    say(row(['  elements in the whole page', ...stat(f('domNodes'))], w));
    say(row([`host-big, ${fmt(TREE)} processes: tree drawn (ms from the click)`, ...stat(hr('treeDrawn'))], w));
    say(row(['  the tree\'s answer (KiB, uncompressed)', ...stat(hr('treeBytes').map((b) => b / 1024))], w));
    say(row(['  tree rows in the DOM', ...stat(hr('treeRowsInDom'))], w));
    say(row(['  replay one event back: the tree at that seq drawn (ms)', ...stat(hr('replayStep'))], w));
    say();
    say(`shown: "${fleetRuns[0]?.hostsShown}" on the fleet page, "${hostRuns[0]?.processes}" processes on host-big`);
    say(loadNote(others));
    const med = (xs: number[]): number => Math.round(median(xs));
    say(
      `RESULT ${JSON.stringify({
        benchmark: 'dashboard',
        hosts: HOSTS + 1,
        treeProcesses: TREE,
        runs: RUNS,
        fleetFirstRenderMs: med(f('rendered')),
        fleetPaintedMs: med(f('painted')),
        fleetFetchMs: med(f('fleetFetch')),
        longestTaskMs: med(f('longestTask')),
        hostRowsInDom: med(f('rowsInDom')),
        treeDrawnMs: med(hr('treeDrawn')),
        treeRowsInDom: med(hr('treeRowsInDom')),
        replayStepMs: med(hr('replayStep')),
        otherCores: others === null ? null : Number(others.toFixed(2)),
      })}`,
    );
  } finally {
    if (api && api.exitCode === null) {
      const exited = new Promise((r) => api!.once('exit', r));
      api.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
