import { describe, expect, it } from 'vitest';
import { HostEntry } from './hostEntry.js';

/** An entry whose previous run's last finding on the stream was `msgId`, raised at store position 50. */
function entryAfter(last: { position: number; msgId: string }, summaryThrough?: number): HostEntry {
  const entry = new HostEntry('h1', 0, { profile: 'linux-2008-patch' }, 0);
  entry.lastPublishedFinding = { ...last, passed: false };
  if (summaryThrough !== undefined) entry.stored = { position: summaryThrough, findingsPublishedThrough: summaryThrough };
  return entry;
}

describe('HostEntry.publishedBefore', () => {
  it('suppresses every finding up to and including the last one on the stream, across the event that raised it', () => {
    const entry = entryAfter({ position: 50, msgId: 'b' });
    // fold order: findings a (pos 40), then the event at 50 raised a2, b, c; then d at 60
    expect(entry.publishedBefore(40, 'a')).toBe(true);
    expect(entry.publishedBefore(50, 'a2')).toBe(true);
    expect(entry.publishedBefore(50, 'b')).toBe(true);
    expect(entry.publishedBefore(50, 'c')).toBe(false);
    expect(entry.publishedBefore(60, 'd')).toBe(false);
    expect(entry.lastPublishedFinding).toBeUndefined();
  });

  it('uses the summary where it reaches further, and publishes everything with neither', () => {
    const entry = entryAfter({ position: 50, msgId: 'b' }, 70);
    expect(entry.publishedBefore(65, 'x')).toBe(true);
    expect(entry.publishedBefore(71, 'y')).toBe(false);
    const fresh = new HostEntry('h2', 0, { profile: 'linux-2008-patch' }, 0);
    expect(fresh.publishedBefore(1, 'z')).toBe(false);
  });
});
