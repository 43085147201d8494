// A byte budget shared by all connections for request bodies that arrive in pieces. A
// connection reserves a frame's announced size before buffering it; when the budget is
// spent it stops reading its socket and waits here, in order, until another frame
// completes or its connection closes.

export class MemoryBudget {
  #used = 0;
  #waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  reserve(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used -= bytes;
    // Each waiter retries; one that still does not fit calls wait() again.
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Calls `retry` once, after the next release. */
  wait(retry: () => void): void {
    this.#waiters.push(retry);
  }

  /** Forgets a waiter (its connection closed). */
  cancel(retry: () => void): void {
    this.#waiters = this.#waiters.filter((waiter) => waiter !== retry);
  }
}
