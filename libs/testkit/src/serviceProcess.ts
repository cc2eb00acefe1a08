import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { waitFor } from './wait.js';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));
const MAX_LOG = 256 * 1024;

/** Every service process started in this process and still running: killAllServices() ends them. */
const live = new Set<ServiceProcess>();

/**
 * One Lockline service as a child process (`node services/<name>/dist/main.js` with its LOCKLINE_*
 * environment): stderr kept (the last 256 KiB), /metrics and /healthz on its metrics port, and the
 * real signals — SIGTERM for a clean stop, SIGKILL, SIGSTOP. Where setpriv exists, the kernel kills
 * the service if the test process dies, even by SIGKILL.
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #log = '';

  constructor(
    readonly name: string,
    /** Where /metrics and /healthz answer (on 127.0.0.1). */
    readonly metricsPort: number,
    main: string,
    env: Record<string, string>,
  ) {
    const args = [main];
    this.child =
      SETPRIV === undefined
        ? spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString('utf8')).slice(-MAX_LOG);
    });
    this.exited = new Promise((resolveExit) => this.child.once('exit', (code, signal) => resolveExit({ code, signal })));
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid (it did not start)`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The service's stderr (pino JSON lines), the last 256 KiB. */
  logs(): string {
    return this.#log;
  }

  /** Log lines whose text contains `text`, parsed. */
  logRecords(text: string): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.#log.split('\n')) {
      if (!line.includes(text)) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the tail
      }
    }
    return out;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a clean stop) and the exit status; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return await this.exited;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** GET /metrics, parsed: the sum over label sets of each sample's value, by metric name. */
  async metrics(): Promise<Map<string, number>> {
    const response = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await response.text();
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (match === null) continue;
      const value = Number(match[3]);
      if (Number.isFinite(value)) out.set(match[1]!, (out.get(match[1]!) ?? 0) + value);
    }
    return out;
  }

  async metric(name: string): Promise<number> {
    return (await this.metrics()).get(name) ?? 0;
  }

  async healthy(): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.metricsPort}/healthz`, { signal: AbortSignal.timeout(1000) });
      return response.ok;
    } catch {
      return false;
    }
  }

  /** Waits for /healthz to say ready (fails at once if the process exits meanwhile). */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      `${this.name} to be ready (/healthz)`,
      async () => {
        if (!this.running) throw new Error(`${this.name} exited before it was ready (${this.child.exitCode ?? this.child.signalCode}):\n${this.logs().slice(-4000)}`);
        return await this.healthy();
      },
      timeoutMs,
      () => this.logs().slice(-4000),
    );
  }

  /** The process's state letter and word from /proc/<pid>/status (`S (sleeping)`, `T (stopped)` …). */
  async procState(): Promise<string> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    return /^State:\s+(.+)$/m.exec(status)?.[1] ?? '?';
  }

  /** Resident memory from /proc/<pid>/status, in MiB. */
  async rssMiB(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (match === null) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]) / 1024;
  }
}

/** Kills every service process still running (an afterEach: also after a failed test). */
export async function killAllServices(): Promise<void> {
  await Promise.all([...live].map((s) => s.kill()));
}
