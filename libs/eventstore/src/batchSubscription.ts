import type { BatchHandler, RecordedEvent, Subscription } from './port.js';

/** Where a subscription's batches come from: a store read (catchUpSubscription) or a server's push (esdb). */
export interface BatchSource {
  /** The next batch after `checkpoint`, or [] when there is none yet; throwing ends the subscription with that error. */
  next(checkpoint: number | undefined): readonly RecordedEvent[] | Promise<readonly RecordedEvent[]>;
  /** Resolves when there may be more to take, or soon after `interrupt`. */
  wait(): Promise<void>;
  /** Called by stop(): ends a `wait` in progress. */
  interrupt(): void;
  /** Called once the loop has ended, for whatever reason; `done` settles after it. */
  close?(): Promise<void>;
}

/**
 * The loop every subscription runs: take the next batch, hand it to the handler, and move the
 * checkpoint only once the handler returned; wait when there is nothing. One loop, so handler calls
 * never overlap. `onEnd` is called when it has ended (a store forgets the subscription then).
 */
export function batchSubscription(after: number | undefined, source: BatchSource, handler: BatchHandler, onEnd: (s: Subscription) => void): Subscription {
  let checkpoint = after;
  let stopping = false;

  const run = async (): Promise<void> => {
    while (!stopping) {
      const next = source.next(checkpoint);
      // A batch already at hand (esdb's queue) goes to the handler at once: no await in which a
      // stop() could come between taking it off the queue and delivering it.
      const batch = next instanceof Promise ? await next : next;
      if (stopping) return;
      if (batch.length > 0) {
        await handler(batch);
        checkpoint = (batch[batch.length - 1] as RecordedEvent).position;
        continue;
      }
      await source.wait();
    }
  };

  const running = run();
  const done = source.close === undefined ? running : running.finally(() => source.close?.());
  const subscription: Subscription = {
    stop: async () => {
      stopping = true;
      source.interrupt();
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
