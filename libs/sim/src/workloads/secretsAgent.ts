import { PROGRAMS } from '../programs.js';
import type { ProcessRun, Self } from '../script.js';
import { KiB, PAGE, anon, growHeap, spawn, waitOne } from './common.js';
import type { Workload } from './workload.js';

/**
 * A secrets agent (gpg-agent, ssh-agent): no capability, the default 64 KiB RLIMIT_MEMLOCK. Each
 * secret lives in a page of its own, locked (mlock2 with MLOCK_ONFAULT where the kernel has it —
 * ENOSYS on 2.6.28, where it falls back to mlock, as glibc callers do) and marked MADV_DONTFORK so
 * the helpers it forks (pinentry) never get a copy. Now and then it tries to lock a larger cache and
 * hits the limit (ENOMEM).
 */
export interface SecretsAgentOptions {
  /** Secret pages it keeps at most (default 10). */
  maxSecrets?: number;
  weight?: number;
}

export function secretsAgent(options: SecretsAgentOptions = {}): Workload {
  const maxSecrets = options.maxSecrets ?? 10;

  const pinentry = spawn(PROGRAMS.pinentry, function* (self) {
    yield* growHeap(self, 2, 16 * KiB);
    yield { op: 'exit', code: 0 };
  });

  function* agent(self: Self): ProcessRun {
    const secrets: number[] = [];
    for (;;) {
      const u = self.rng.float();
      if (u < 0.4 && secrets.length < maxSecrets) {
        const m = yield anon(PAGE);
        if (m.errno !== null || m.addr === undefined) continue;
        let l = yield { op: 'mlock2', addr: m.addr, length: PAGE, flags: ['MLOCK_ONFAULT'] };
        if (l.errno === 'ENOSYS' || l.errno === 'EINVAL') l = yield { op: 'mlock', addr: m.addr, length: PAGE };
        if (l.errno !== null) {
          yield { op: 'munmap', addr: m.addr, length: PAGE };
          continue;
        }
        yield { op: 'madvise', addr: m.addr, length: PAGE, advice: 'MADV_DONTFORK' };
        secrets.push(m.addr);
      } else if (u < 0.75 && secrets.length > 0) {
        const [addr] = secrets.splice(self.rng.int(secrets.length), 1);
        if (addr === undefined) continue;
        yield { op: 'munlock', addr, length: PAGE };
        yield { op: 'munmap', addr, length: PAGE };
      } else if (u < 0.9) {
        const r = yield { op: 'fork', run: pinentry, job: true };
        if (r.errno === null) yield* waitOne();
      } else {
        // a key cache larger than the limit allows: ENOMEM once the secrets already hold most of it
        const length = 12 * PAGE;
        const m = yield anon(length);
        if (m.errno !== null || m.addr === undefined) continue;
        yield { op: 'mlock', addr: m.addr, length };
        yield { op: 'munmap', addr: m.addr, length };
      }
    }
  }

  return {
    kind: 'secretsAgent',
    weight: options.weight ?? 1,
    label: `secretsAgent(${maxSecrets} pages)`,
    roots: () => [{ program: PROGRAMS.gpgAgent, run: agent }],
  };
}
