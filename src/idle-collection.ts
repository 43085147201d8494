// A Worker that has gone quiet collects its garbage, once. JavaScriptCore collects as a heap
// grows, and a Worker that stops getting requests stops growing: what its last burst left
// behind would stay for as long as its connection stays open and idle (about 0.6 MB per
// session Worker after 300 statements; docs/performance.md). Collecting during a burst
// instead cost a tenth to a fifth of the throughput, so it waits for a quiet interval; a
// request that arrives during the collection waits for it (2-4 ms for such a Worker).

/** A repeating timer, and how to stop it. */
export type Every = (ms: number, tick: () => void) => { stop(): void };

const REAL_EVERY: Every = (ms, tick) => {
  const timer = setInterval(tick, ms);
  timer.unref();
  return { stop: () => clearInterval(timer) };
};

export class IdleCollection {
  #handled = 0;
  /** `#handled` at the last check. */
  #checked = 0;
  /** Checking: set by a request, cleared once the Worker has collected. An idle Worker has no timer. */
  #timer: { stop(): void } | null = null;

  /** After `quietMs` to `2 × quietMs` without a request, `collect` runs. */
  constructor(
    readonly collect: () => void = () => Bun.gc(true),
    readonly quietMs = 1000,
    readonly every: Every = REAL_EVERY,
  ) {}

  /** A request was handled. */
  handled(): void {
    this.#handled++;
    this.#timer ??= this.every(this.quietMs, () => this.#check());
  }

  #check(): void {
    if (this.#handled !== this.#checked) {
      this.#checked = this.#handled;
      return;
    }
    this.#timer?.stop();
    this.#timer = null;
    this.collect();
  }
}
