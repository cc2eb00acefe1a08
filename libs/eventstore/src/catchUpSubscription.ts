import type { AppendSignal } from './appendSignal.js';
import { checkMaxCount } from './appendDecision.js';
import { batchSubscription } from './batchSubscription.js';
import type { BatchHandler, ReadAllOptions, RecordedEvent, SubscribeOptions, Subscription } from './port.js';

export const DEFAULT_MAX_BATCH = 1000;

export interface CatchUpSource {
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  readonly signal: AppendSignal;
  /** Also look for new events this often (ms): appends by other processes raise no signal here. */
  readonly pollMs?: number;
}

/**
 * A subscription for stores that can read everything after a checkpoint: read pages until nothing is
 * left (catch-up), then wait for an append signal or the poll timer and read again (live).
 */
export function catchUpSubscription(source: CatchUpSource, options: SubscribeOptions, handler: BatchHandler, onEnd: (s: Subscription) => void): Subscription {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  checkMaxCount('subscribeToAll', maxBatch);
  if (options.after !== undefined && (!Number.isSafeInteger(options.after) || options.after < 0)) {
    throw new TypeError(`subscribeToAll: after must be an integer ≥ 0, got ${options.after}`);
  }
  // The signal's version before each read: an append that lands between the read and the wait is not missed.
  let seen = 0;
  let cancel!: () => void;
  const cancelled = new Promise<void>((resolve) => (cancel = resolve));
  return batchSubscription(
    options.after,
    {
      next: (checkpoint) => {
        seen = source.signal.version;
        return source.readAll(checkpoint === undefined ? { maxCount: maxBatch } : { after: checkpoint, maxCount: maxBatch });
      },
      wait: () => source.signal.wait(seen, source.pollMs, cancelled),
      interrupt: () => cancel(),
    },
    handler,
    onEnd,
  );
}
