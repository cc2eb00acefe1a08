import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

/**
 * Running a nats-server binary as a child of the test process, for startNatsServer and
 * startNatsCluster alike: spawned under setpriv where there is one (the kernel then kills the server
 * when its parent dies, even by SIGKILL — an 'exit' hook alone misses a test worker killed by a
 * signal), killed and its folder removed when the test process exits, output kept.
 */

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));

/** How much of a server's output is kept. */
export const MAX_SERVER_LOG = 64 * 1024;

const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill and remove, no waiting.
  process.once('exit', () => {
    for (const [child, dir] of live) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return await new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });
}

/**
 * Starts `binary args` and resolves once `readyUrl` answers 2xx. `dir` is removed if the test
 * process exits with the server still running; `onOutput` gets its stdout and stderr. `name` names
 * the server in errors ("nats-server", "nats-server lockline-test-2"); `log()` is quoted in them.
 */
export async function startServerProcess(options: {
  binary: string;
  args: readonly string[];
  dir: string;
  readyUrl: string;
  timeoutMs: number;
  name: string;
  onOutput: (chunk: Buffer) => void;
  log: () => string;
}): Promise<ChildProcess> {
  const { binary, args, readyUrl, timeoutMs, name, log } = options;
  installExitHook();
  const proc = SETPRIV === undefined ? spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.set(proc, options.dir);
  proc.stdout?.on('data', options.onOutput);
  proc.stderr?.on('data', options.onOutput);
  proc.once('exit', () => live.delete(proc));
  let spawnError: Error | undefined;
  proc.once('error', (error) => {
    spawnError = error;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${name} exited during start (${proc.exitCode ?? proc.signalCode}):\n${log()}`);
    if (spawnError !== undefined) throw new Error(`could not start ${binary}: ${spawnError.message}`);
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${name} was not answering ${readyUrl} within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Sends `signal` and waits for the exit; SIGKILL after 10 s. */
export async function haltServerProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  proc.kill(signal);
  if (!(await waitForExit(proc, 10_000))) {
    proc.kill('SIGKILL');
    await waitForExit(proc, 5_000);
  }
}
