/**
 * Wakes live subscriptions when an append is committed. `version` changes on every notify, so a
 * subscription that read nothing new compares versions before waiting and cannot miss an append that
 * landed between its read and its wait.
 */
export class AppendSignal {
  #version = 0;
  #waiters = new Set<() => void>();

  get version(): number {
    return this.#version;
  }

  notify(): void {
    this.#version++;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * Resolves when the version differs from `seen`, after `pollMs` (when given: appends made by other
   * processes are seen only by polling), or when `cancelled` resolves.
   */
  wait(seen: number, pollMs: number | undefined, cancelled: Promise<void>): Promise<void> {
    if (this.#version !== seen) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        this.#waiters.delete(wake);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.#waiters.add(wake);
      if (pollMs !== undefined) timer = setTimeout(wake, pollMs);
      void cancelled.then(wake);
    });
  }
}
