import { describe, expect, it } from 'vitest';
import { Feed, parsePosition, positionText, type FeedEvent } from './feed.js';
import type { Finding, HostSummary } from './schemas.js';

const finding = (hostId: string, seq: number, code = 'LOCKED_OVER_LIMIT'): Finding => ({ code, hostId, bootId: 'b1', pid: seq, seq, message: `${code} at ${seq}` });
const summary = (hostId: string, seq: number): HostSummary => ({
  hostId,
  bootId: 'b1',
  seq,
  stateHash: 'h',
  processes: 1,
  lockedPages: 0,
  findingsByCode: {},
  eventRate: 0,
  lastEventTime: null,
  uncertainSince: null,
  updatedAt: new Date(0).toISOString(),
  partition: 0,
  partitions: 1,
  position: seq,
});

describe('Feed', () => {
  it('pages findings newest first and oldest first, filtered, with a cursor that never skips one', () => {
    const feed = new Feed(1000);
    for (let i = 1; i <= 25; i++) feed.addFinding(i * 2, finding(i % 2 ? 'a' : 'b', i));
    const newest = feed.findingsPage({ limit: 10 });
    expect(newest.items.map((x) => x.cursor)).toEqual([50, 48, 46, 44, 42, 40, 38, 36, 34, 32]);
    expect(newest.nextCursor).toBe(32);
    const next = feed.findingsPage({ limit: 10, before: 32 });
    expect(next.items[0]!.cursor).toBe(30);
    const oldest = feed.findingsPage({ limit: 3, after: 3 });
    expect(oldest.items.map((x) => x.cursor)).toEqual([4, 6, 8]);
    const onlyA = feed.findingsPage({ limit: 100, hostId: 'a' });
    expect(onlyA.items.every((x) => x.finding.hostId === 'a')).toBe(true);
    expect(onlyA.items).toHaveLength(13);
    expect(onlyA.nextCursor).toBeNull();
    expect(feed.findingsPage({ limit: 5, codes: new Set(['ACCOUNTING_DRIFT']) }).items).toEqual([]);
    // The last full page has no next when nothing is left.
    expect(feed.findingsPage({ limit: 25 }).nextCursor).toBeNull();
  });

  it('keeps only the most recent findings, and ignores one it has', () => {
    const feed = new Feed(100);
    for (let i = 1; i <= 500; i++) feed.addFinding(i, finding('a', i));
    feed.addFinding(500, finding('a', 9999));
    expect(feed.findingsPage({ limit: 500, after: 0 }).items.length).toBeLessThanOrEqual(110);
    expect(feed.oldestHeld).toBeGreaterThan(390);
    expect(feed.position.findingCursor).toBe(500);
  });

  it('gives a resuming client exactly what it missed; live events carry the position after them', () => {
    const feed = new Feed(1000);
    feed.putHost(1, summary('a', 1));
    feed.putHost(2, summary('b', 1));
    feed.addFinding(7, finding('a', 1));
    const seen: string[] = [];
    const events: FeedEvent[] = [];
    const unsubscribe = feed.subscribe((e, p) => {
      events.push(e);
      seen.push(positionText(p));
    });
    feed.addFinding(9, finding('b', 2));
    feed.putHost(5, summary('a', 2));
    unsubscribe();
    feed.addFinding(11, finding('a', 3));
    expect(seen).toEqual(['9.2', '9.5']);
    expect(events.map((e) => e.kind)).toEqual(['finding', 'host']);

    const kinds = new Set(['finding', 'host'] as const);
    // From scratch: every host's current summary, no past findings.
    expect(feed.backlog(undefined, { kinds }).map((e) => (e.kind === 'host' ? `h:${e.summary.hostId}@${e.revision}` : 'f'))).toEqual(['h:b@2', 'h:a@5']);
    // From "7.2": findings 9 and 11, then host a (revision 5 > 2).
    const missed = feed.backlog(parsePosition('7.2'), { kinds });
    expect(missed.map((e) => (e.kind === 'host' ? `h:${e.summary.hostId}` : `f:${e.cursor}`))).toEqual(['f:9', 'f:11', 'h:a']);
    expect(feed.backlog(parsePosition('11.5'), { kinds })).toEqual([]);
    expect(feed.backlog(parsePosition('0.0'), { kinds, hostId: 'b' }).map((e) => e.kind)).toEqual(['finding', 'host']);
  });

  it('parses positions strictly', () => {
    expect(parsePosition('12.40')).toEqual({ findingCursor: 12, hostRevision: 40 });
    for (const bad of [undefined, '', '12', '12.', 'a.b', '1.2.3', '-1.2']) expect(parsePosition(bad)).toBeUndefined();
  });
});
