import { describe, expect, it } from 'vitest';
import { TokenBucket } from './tokenBucket.js';

describe('TokenBucket', () => {
  it('paces takers to the rate after the initial burst', async () => {
    const bucket = new TokenBucket(2000, 50);
    const started = performance.now();
    // 50 (burst) + 10 × 50: 500 tokens beyond the burst take 250 ms at 2000/s
    for (let i = 0; i < 11; i++) expect(await bucket.take(50)).toBe(true);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(240);
    expect(elapsed).toBeLessThan(400);
  });

  it('serves concurrent takers in the order they asked', async () => {
    const bucket = new TokenBucket(1000, 10);
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => bucket.take(10).then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('wakes every taker with false when cancelled', async () => {
    const bucket = new TokenBucket(10, 1);
    await bucket.take(1);
    const waiting = bucket.take(100);
    bucket.cancel();
    expect(await waiting).toBe(false);
    expect(await bucket.take(1)).toBe(false);
  });
});
