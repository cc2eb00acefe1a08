// A consumer project's integration test: "our launcher must never leave a worker locked over its
// limit unnoticed". It runs a whole Lockline (local processes, or containers where a Docker engine
// answers), drives a host with the project's own scenario, and asserts on what Lockline found.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLockline, type Lockline } from '@lockline/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';

const scenario = join(dirname(fileURLToPath(import.meta.url)), 'scenarios', 'launcher.json');
let lockline: Lockline;

beforeAll(async () => {
  lockline = await startLockline({ hosts: 0, profile: 'linux-2008-patch' });
}, 120_000);
afterAll(async () => {
  await lockline?.stop();
});

it('flags both workers the launcher pinned with MCL_INHERIT', async () => {
  const host = await lockline.driveScenario(scenario, { hostId: 'launcher-1' });
  await lockline.waitForSeq(host.hostId, host.lastSeq);
  for (const pid of [2, 3]) {
    const finding = await lockline.expectFinding({ code: 'LOCKED_OVER_LIMIT', hostId: host.hostId, pid });
    expect(finding.bootId).toBe(host.bootId);
  }
  // ... and says why: the lock came from the launcher's mlockall, through the fork.
  const why = await lockline.client.explain(host.hostId, 3);
  expect(why.text.join(' ')).toMatch(/mlockall/);
}, 60_000);
