// A Worker that has answered looks for its next request before it goes to sleep. On this
// machine a sleeping thread costs some 22 µs of CPU on each side to wake, and an idle virtual
// CPU is slower still to wake, while the next request often arrives within a few µs of an
// answer at load, and within one client round trip (~70 µs) at one connection. So a Worker
// polls its channel for up to POLL_MS, on two conditions:
// - only one Worker of the process polls at a time (a flag in shared memory): threads that
//   spin must never crowd out the main thread (with 4 or 8 readers polling at once on 2
//   cores, point_16c fell by a third to a half);
// - only while it pays: a Worker woken from sleep by a request that came later than POLL_MS
//   after its last answer (so a poll would have missed it) stops polling until one comes
//   sooner (with 8 readers sharing the reads, polls that rarely found anything cost point_16c
//   a third).

import { receiveMessageOnPort } from "node:worker_threads";

/** How long a Worker polls for its next request before it sleeps until one arrives. */
export const POLL_MS = 0.1;

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

export class RequestPoller {
  /** Whether the last request that woke this Worker came within pollMs of its going idle. */
  #pays = true;
  /** When this Worker last ran out of requests. */
  #idleSince = 0;

  constructor(
    readonly port: MessagePort,
    readonly flag: PollingFlag,
    /** This Worker's owner number (see PollingFlag). */
    readonly owner: number,
    readonly pollMs = POLL_MS,
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The next request: one already queued, or one that arrives while this Worker polls;
   * undefined if neither (the Worker then sleeps in its event loop until `onmessage`).
   */
  next(): unknown {
    const queued = receiveMessageOnPort(this.port);
    if (queued) return queued.message;
    this.#idleSince = this.now();
    if (!this.#pays || !this.flag.tryTake(this.owner)) return undefined;
    try {
      const until = this.#idleSince + this.pollMs;
      let next;
      do next = receiveMessageOnPort(this.port);
      while (!next && this.now() < until);
      return next?.message;
    } finally {
      this.flag.release(this.owner);
    }
  }

  /** A request woke this Worker from sleep: would a poll have found it? */
  woken(): void {
    this.#pays = this.now() - this.#idleSince < this.pollMs * WOKEN_SLACK;
  }
}
