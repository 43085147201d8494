// A Worker that has answered looks for its next request before it goes to sleep. On this
// machine a sleeping thread costs some 22 µs of CPU on each side to wake, and an idle virtual
// CPU is slower still to wake, while the next request often arrives within a few µs of an
// answer at load, and within one client round trip (~70 µs) at one connection. So a Worker
// with nothing on its way spins for up to POLL_MS, watching a counter of the requests posted
// to it (shared memory, bumped by the main thread before each postMessage); once one is on
// its way it returns to its event loop, which delivers it without sleeping. Three conditions:
// - only one Worker of the process polls at a time (a flag in shared memory): threads that
//   spin must never crowd out the main thread (with 4 or 8 readers polling at once on 2
//   cores, point_16c fell by a third to a half);
// - only while it pays: a Worker woken from sleep by a request that came later than a poll
//   would have waited stops polling until one comes sooner (with 8 readers sharing the reads,
//   polls that rarely found anything cost point_16c a third);
// - not with more readers than cores, nor on one core (pollMsFor): with more readers the reads
//   spread over them, and the one spinning competes with the one at work, the main thread
//   and the clients (with --workers 4 or 8 on 2 cores, 4 connections reading fell by 15-50%);
//   on one core the spinner holds the core the main thread needs to send it work (the server
//   and clients pinned to one core: -28% at 1 and 4 connections).
// (`receiveMessageOnPort` would take the message itself, but it needs node:worker_threads,
// which costs each Worker about 1.1 MB.)

/** How long a Worker polls for its next request before it sleeps until one arrives. */
export const POLL_MS = 0.1;

/** How long Workers poll (0: never), for `--workers` readers on `cores` cores. */
export function pollMsFor(workers: number, cores: number): number {
  return cores > 1 && workers <= cores ? POLL_MS : 0;
}

/**
 * A Worker learns of a request only once it is awake, so the gap it sees includes its own
 * wake-up (tens of µs here): a gap of up to this many times POLL_MS counts as one a poll would
 * have found. Were the wake-up counted against the poll, one missed poll at one connection
 * could stop polling for good, as every later gap would include a wake-up.
 */
const WOKEN_SLACK = 2;

/**
 * Which Worker polls now, by its owner number (> 0), or 0 for none: one flag shared by every
 * Worker of the process. A Worker stopped or dead while it polls cannot free it, so the pool
 * does (`release`), as it does a write gate.
 */
export class PollingFlag {
  readonly #flag: Int32Array;

  /** `buffer`: the flag, shared with every Worker (a new one if omitted). */
  constructor(readonly buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)) {
    this.#flag = new Int32Array(buffer);
  }

  tryTake(owner: number): boolean {
    return Atomics.compareExchange(this.#flag, 0, 0, owner) === 0;
  }

  /** Frees the flag if `owner` holds it. */
  release(owner: number): void {
    Atomics.compareExchange(this.#flag, 0, owner, 0);
  }

  holder(): number {
    return Atomics.load(this.#flag, 0);
  }
}

/** Requests posted to one Worker: the main thread counts each before it posts it. */
export class PostedCount {
  readonly #count: Int32Array;

  constructor(readonly buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)) {
    this.#count = new Int32Array(buffer);
  }

  add(): void {
    Atomics.add(this.#count, 0, 1);
  }

  /** Wraps around as an int32, like `add`. */
  get value(): number {
    return Atomics.load(this.#count, 0);
  }
}

export class RequestPoller {
  /** Requests this Worker has received, wrapping around as PostedCount does (so `!==` stays right). */
  #received = 0;
  /** Whether the last request that woke this Worker came soon enough for a poll to find it. */
  #pays = true;
  /** When this Worker last ran out of requests, or null while it has some. */
  #idleSince: number | null = null;

  constructor(
    readonly posted: PostedCount,
    readonly flag: PollingFlag,
    /** This Worker's owner number (see PollingFlag). */
    readonly owner: number,
    readonly pollMs = POLL_MS,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** A request was delivered to this Worker. */
  received(): void {
    this.#received = (this.#received + 1) | 0;
    if (this.#idleSince === null) return;
    this.#pays = this.now() - this.#idleSince < this.pollMs * WOKEN_SLACK;
    this.#idleSince = null;
  }

  /**
   * Called after answering: whether another request is on its way, now or after polling for
   * up to pollMs. Either way the Worker then returns to its event loop, which delivers it.
   */
  awaitNext(): boolean {
    if (this.#onItsWay()) return true;
    this.#idleSince = this.now();
    if (this.pollMs <= 0 || !this.#pays || !this.flag.tryTake(this.owner)) return false;
    try {
      const until = this.#idleSince + this.pollMs;
      while (!this.#onItsWay()) if (this.now() >= until) return false;
      return true;
    } finally {
      this.flag.release(this.owner);
    }
  }

  #onItsWay(): boolean {
    return this.posted.value !== this.#received;
  }
}
