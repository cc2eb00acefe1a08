import type { AppendSignal } from './appendSignal.js';
import { checkMaxCount } from './appendDecision.js';
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
 * left (catch-up), then wait for an append signal or the poll timer and read again (live). One loop,
 * so handler calls never overlap, and the checkpoint moves only after the handler returned.
 */
export function catchUpSubscription(source: CatchUpSource, options: SubscribeOptions, handler: BatchHandler, onEnd: (s: Subscription) => void): Subscription {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  checkMaxCount('subscribeToAll', maxBatch);
  if (options.after !== undefined && (!Number.isSafeInteger(options.after) || options.after < 0)) {
    throw new TypeError(`subscribeToAll: after must be an integer ≥ 0, got ${options.after}`);
  }
  let checkpoint = options.after;
  let stopping = false;
  let cancel!: () => void;
  const cancelled = new Promise<void>((resolve) => (cancel = resolve));

  const run = async (): Promise<void> => {
    while (!stopping) {
      const seen = source.signal.version;
      const page = await source.readAll(checkpoint === undefined ? { maxCount: maxBatch } : { after: checkpoint, maxCount: maxBatch });
      if (stopping) return;
      if (page.length > 0) {
        await handler(page);
        checkpoint = (page[page.length - 1] as RecordedEvent).position;
        continue;
      }
      await source.signal.wait(seen, source.pollMs, cancelled);
    }
  };

  const done = run();
  const subscription: Subscription = {
    stop: async () => {
      stopping = true;
      cancel();
      await done.catch(() => undefined);
    },
    done,
    get checkpoint() {
      return checkpoint;
    },
  };
  // Nobody has to listen to `done`: mark a rejection handled here (awaiting `done` still sees it).
  done.catch(() => undefined).finally(() => onEnd(subscription));
  return subscription;
}
