/**
 * Paces the whole process to `ratePerSecond` events: every host takes tokens for a batch before it
 * generates the batch. Takers are served in the order they asked (a take reserves its tokens at once,
 * going into debt if need be, and waits until the debt is paid), so no host starves another, and a
 * burst is bounded by `capacity`.
 */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;
  #cancelled = false;
  readonly #waiting = new Set<{ timer: ReturnType<typeof setTimeout>; resolve: (ok: boolean) => void }>();

  constructor(ratePerSecond: number, capacity: number, now: () => number = () => performance.now()) {
    if (!(ratePerSecond > 0 && Number.isFinite(ratePerSecond))) throw new RangeError(`the rate must be a positive number, got ${ratePerSecond}`);
    if (!(capacity >= 1)) throw new RangeError(`the capacity must be at least 1, got ${capacity}`);
    this.#ratePerMs = ratePerSecond / 1000;
    this.#capacity = capacity;
    this.#now = now;
    this.#tokens = capacity;
    this.#last = now();
  }

  /** Resolves true once `n` tokens are this caller's, or false if the bucket was cancelled meanwhile. */
  take(n: number): Promise<boolean> {
    if (this.#cancelled) return Promise.resolve(false);
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#ratePerMs);
    this.#last = now;
    this.#tokens -= n;
    if (this.#tokens >= 0) return Promise.resolve(true);
    const waitMs = -this.#tokens / this.#ratePerMs;
    return new Promise((resolve) => {
      const waiter = {
        timer: setTimeout(() => {
          this.#waiting.delete(waiter);
          resolve(true);
        }, waitMs),
        resolve,
      };
      this.#waiting.add(waiter);
    });
  }

  /** Wakes every waiting taker with false; later takes resolve false at once (a stop). */
  cancel(): void {
    this.#cancelled = true;
    for (const waiter of this.#waiting) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.#waiting.clear();
  }
}
