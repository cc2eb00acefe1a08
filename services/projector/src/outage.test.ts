import { FINDINGS_STREAM, ensureStreams } from '@lockline/bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedFindings, fleetEvents, referenceFold } from './testing/fixture.js';
import { forgetSummaries, startHarness, type Harness } from './testing/harness.js';

const events = fleetEvents({ hosts: 3, seed: 5, events: 6000 });
const expected = expectedFindings(referenceFold(events));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ partitions: 1 });
  await h.append(events);
});
afterAll(async () => {
  await h?.close();
});

describe('when the findings stream cannot take a finding', () => {
  it('the fold waits (not ready, the store keeps the events) and loses nothing once the stream is back', async () => {
    expect(expected.size).toBeGreaterThan(0);
    const jsm = await h.admin.jetstreamManager();
    await jsm.streams.delete(FINDINGS_STREAM);
    const { projector } = await h.projector();
    await projector.start();
    await new Promise((r) => setTimeout(r, 700));
    expect(projector.ready).toBe(false);
    expect(projector.status().findings.stored).toBe(0);
    expect(projector.status().eventsRead).toBeLessThan(events.length);

    await ensureStreams(jsm, { partitions: 1, storage: 'memory' });
    await projector.whenReady();
    expect(projector.status()).toMatchObject({ eventsRead: events.length, findings: { stored: expected.size, duplicate: 0, suppressed: 0 } });
    const stored = await h.findings();
    expect(stored.map((m) => m.msgId).sort()).toEqual([...expected.keys()].sort());
    await projector.stop();
  });

  it('stop() does not wait for a stream that is not coming back', async () => {
    const jsm = await h.admin.jetstreamManager();
    await jsm.streams.delete(FINDINGS_STREAM);
    await forgetSummaries(h.admin); // so that this run has findings to publish
    const { projector } = await h.projector();
    await projector.start();
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await projector.stop();
    expect(performance.now() - t0).toBeLessThan(2000);
    await expect(projector.done).resolves.toBeUndefined();
  });
});
