/**
 * The dashboard in a real browser: `lockline up` starts the whole system (NATS, ingest, projector,
 * the API serving the dashboard, simulated hosts); headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens the URL and token `up` prints, sees the hosts, opens a host whose build farm
 * ran `mlock -r make` (mlockall with MCL_INHERIT), finds a process with an inherited lock, traces it to
 * the mlockall, moves the replay slider back before that call and sees the lock gone, then steps
 * forward onto the mlockall and sees it come back. Screenshots are kept in .artifacts/dashboard/.
 *
 * Chromium is installed with apt-get where it is missing and this runs as root; otherwise the suite
 * is skipped and says why.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@lockline/bus/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'services/cli/bin/lockline.js');
const artifacts = join(root, '.artifacts', 'dashboard');
const HOSTS = 6;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const findChromium = (): string | undefined => [process.env.LOCKLINE_CHROMIUM, ...CHROMIUM_PATHS].find((p): p is string => p !== undefined && p !== '' && existsSync(p));

/** Debian's chromium: found, or installed (as root, non-interactive), or the reason it cannot be. */
function chromiumOrReason(): { path: string; reason?: undefined } | { path?: undefined; reason: string } {
  const found = findChromium();
  if (found) return { path: found };
  if (process.platform !== 'linux') return { reason: 'no Chromium, and it is installed with apt-get on Linux only' };
  if (process.getuid?.() !== 0) return { reason: 'Chromium is not installed, and installing it (apt-get install -y chromium) needs root' };
  if (!existsSync('/usr/bin/apt-get')) return { reason: 'Chromium is not installed and there is no apt-get to install it with' };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], { env, encoding: 'utf8', timeout: 600_000 });
  let r = install();
  if (r.status !== 0) {
    // an old or empty package list: update it once and try again
    spawnSync('apt-get', ['update', '-q'], { env, encoding: 'utf8', timeout: 300_000 });
    r = install();
  }
  const path = findChromium();
  if (path) return { path };
  return { reason: `Chromium could not be installed (apt-get install -y chromium exited ${r.status ?? r.signal}: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-2).join(' ')})` };
}

const browserFound = chromiumOrReason();
if (browserFound.reason) console.warn(`[dashboard] the browser tests are SKIPPED: ${browserFound.reason}`);

interface Up {
  proc: ChildProcess;
  output: () => string;
  url: string;
  token: string;
}

/** `lockline up`, until it prints the dashboard's URL and token. */
async function startUp(data: string, apiPort: number): Promise<Up> {
  // --duration: a safety net, should this process die before afterAll stops it
  const proc = spawn(process.execPath, [bin, 'up', '--hosts', String(HOSTS), '--rate', '3000', '--data', data, '--api-port', String(apiPort), '--duration', '300'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-64 * 1024)));
  const deadline = Date.now() + 45_000;
  for (;;) {
    const m = /^Dashboard: (http:\/\/\S+?)\/?\s+token \(viewer\): (\S+)/m.exec(out);
    if (m) return { proc, output: () => out, url: m[1]!, token: m[2]! };
    if (proc.exitCode !== null) throw new Error(`lockline up exited (${proc.exitCode}) before printing the dashboard's address:\n${out}`);
    if (Date.now() > deadline) throw new Error(`lockline up printed no dashboard address within 45 s:\n${out}`);
    await sleep(100);
  }
}

/**
 * Ctrl-C, as a person would stop it; done when `up` exits or says it has stopped everything (its
 * --duration timer may keep the process itself around a little longer: then it is killed).
 */
async function stopUp(up: Up | undefined): Promise<void> {
  const proc = up?.proc;
  if (!up || !proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  const deadline = Date.now() + 45_000;
  while (proc.exitCode === null && proc.signalCode === null && !/^stopped\b/m.test(up.output()) && Date.now() < deadline) await sleep(100);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  await exited;
}

interface Tree {
  processes: Array<{ pid: number; lockState: string }>;
}

/** The API's answer, as the dashboard would get it. */
async function api<T>(up: Up, path: string): Promise<T> {
  const r = await fetch(`${up.url}${path}`, { headers: { authorization: `Bearer ${up.token}` } });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** A host holding an inherited lock right now (the build farm's `mlock -r make` gets there within seconds). */
async function hostWithInheritedLock(up: Up): Promise<string> {
  const deadline = Date.now() + 60_000;
  let last = '';
  for (;;) {
    try {
      const fleet = await api<{ hosts: Array<{ hostId: string }> }>(up, '/v1/fleet');
      for (const { hostId } of fleet.hosts) {
        const tree = await api<Tree>(up, `/v1/hosts/${hostId}/tree?only=locked`);
        if (tree.processes.some((p) => p.lockState === 'inherited')) return hostId;
      }
      last = `${fleet.hosts.length} hosts, none with an inherited lock yet`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`no host held an inherited lock within 60 s (${last}):\n${up.output()}`);
    await sleep(500);
  }
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

describe.skipIf(browserFound.reason !== undefined)(`the dashboard in headless Chromium${browserFound.reason ? ` — SKIPPED: ${browserFound.reason}` : ''}`, () => {
  let up: Up | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let data: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    for (const svc of ['ingest', 'projector', 'host-sim', 'api']) {
      const main = join(root, 'services', svc, 'dist/main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: build first (npx tsc -b)`);
    }
    mkdirSync(artifacts, { recursive: true });
    data = join(mkdtempSync(join(tmpdir(), 'lockline-dashboard-')), 'data');
    up = await startUp(data, await freePort());
    browser = await chromium.launch({
      executablePath: browserFound.path!,
      headless: true,
      // Chromium's sandbox refuses to run as root (CI here runs as root)
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stopUp(up);
    if (data) rmSync(resolve(data, '..'), { recursive: true, force: true });
  }, 60_000);

  it('shows the hosts, a process with an inherited lock traced to its mlockall, and replays back before it', async () => {
    const u = up!;
    const hostId = await hostWithInheritedLock(u);

    // The address `lockline up` printed, with its token: the dashboard logs in by itself.
    await page.goto(`${u.url}/#token=${u.token}`);
    await page.getByRole('link', { name: hostId, exact: true }).waitFor();
    await expect.poll(() => page.locator('.host-table .host-row[role="row"]:not(.header):not([hidden])').count(), { timeout: 15_000 }).toBe(HOSTS);
    expect(await page.locator('#live-status').textContent()).toMatch(/live|connecting/);
    expect(page.url(), 'the token is taken out of the address bar').not.toContain(u.token);
    await shot(page, '1-fleet');

    // The host: its tree, and the next process holding an inherited lock.
    await page.getByRole('link', { name: hostId, exact: true }).click();
    await page.locator('.tree-row').first().waitFor();
    await page.getByRole('button', { name: /inherited: find the next/ }).click();
    const detail = page.locator('aside.detail');
    await page.locator('aside.detail[data-lock-state="inherited"]').waitFor();
    const pid = Number(await detail.getAttribute('data-pid'));
    expect(await page.locator(`.tree-row[data-pid="${pid}"]`).getAttribute('data-lock-state')).toBe('inherited');

    // Traced back to the mlockall that set MCL_INHERIT: its pid and seq.
    const trace = page.locator('.trace[data-origin-seq]:not([data-origin-seq=""])');
    await trace.waitFor();
    const originSeq = Number(await trace.getAttribute('data-origin-seq'));
    const originPid = Number(await trace.getAttribute('data-origin-pid'));
    expect(await trace.locator('.origin').textContent()).toMatch(/mlockall\(.*MCL_INHERIT.*\)/);
    // the origin is marked in the tree when it is drawn
    const originRow = page.locator(`.tree-row[data-pid="${originPid}"]`);
    if ((await originRow.count()) > 0) expect(await originRow.getAttribute('class')).toContain('chain-origin');
    await shot(page, '2-host-inherited-lock');

    // Replay: the slider to the mlockall, then one step back with the keyboard.
    const slider = page.locator('#replay-slider');
    await slider.fill(String(originSeq)); // sets a range input's value and fires its input event
    await slider.focus();
    await page.keyboard.press('ArrowLeft');
    await page.locator(`section.host[data-mode="replay"][data-seq="${originSeq - 1}"]`).waitFor();
    expect(await slider.inputValue()).toBe(String(originSeq - 1));
    // the process with the inherited lock: not there yet, or holding nothing
    expect(['absent', 'none']).toContain(await detail.getAttribute('data-lock-state'));
    // the event under the cursor is the one before the mlockall
    await page.locator(`.event-list li.current[data-seq="${originSeq - 1}"]`).waitFor();
    // the process that will call mlockall holds no lock yet
    await page.fill('#find-process', String(originPid));
    await page.press('#find-process', 'Enter');
    await page.locator(`aside.detail[data-pid="${originPid}"]`).waitFor();
    expect(await detail.getAttribute('data-lock-state')).toBe('none');
    await shot(page, '3-before-the-mlockall');

    // One step forward: the mlockall is the event under the cursor, and its caller holds the lock.
    await page.getByRole('button', { name: '+1: forward 1 event', exact: true }).click();
    await page.locator(`section.host[data-seq="${originSeq}"]`).waitFor();
    const current = page.locator(`.event-list li.current[data-seq="${originSeq}"]`);
    await current.waitFor();
    expect(await current.getAttribute('data-type')).toBe('syscall.mlockall');
    await page.locator(`aside.detail[data-pid="${originPid}"][data-lock-state="own"]`).waitFor();
    await shot(page, '4-at-the-mlockall');

    expect(pageErrors, 'errors thrown in the page').toEqual([]);
  }, 90_000);
});
