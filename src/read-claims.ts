// A read sent to a reader may be copied to a second reader that has come free (see
// worker-pool.ts). Each read in flight gets a flag in memory shared with every reader; the
// reader that flips it from 0 to 1 runs the read and the other answers "skipped", so a read
// runs once and is answered once, whichever reader gets to it first.

import type { WorkerReply } from "./messages";

/** Flags for this many reads in flight; reads beyond it go without one and are never copied. */
const CLAIM_SLOTS = 65_536;

/** The flags every reader shares, and which of them are free to hand out. */
export class Claims {
  readonly buffer = new SharedArrayBuffer(CLAIM_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  readonly #flags = new Int32Array(this.buffer);
  readonly #free: number[] = [];
  #unused = 0;

  /** A cleared flag, or -1 if all are in use. */
  take(): number {
    const slot = this.#free.pop() ?? (this.#unused < CLAIM_SLOTS ? this.#unused++ : -1);
    if (slot >= 0) Atomics.store(this.#flags, slot, 0);
    return slot;
  }

  give(slot: number): void {
    if (slot >= 0) this.#free.push(slot);
  }

  claimed(slot: number): boolean {
    return Atomics.load(this.#flags, slot) !== 0;
  }
}

/** A read in flight: in one reader's inbox, or in two once copied; answered by the one that claims it. */
export class Read {
  /** How many readers' inboxes hold it. */
  copies = 0;
  #answered = false;
  /** Why a copy was lost, should no copy answer (the reader that claimed it died). */
  #error: Error | null = null;

  constructor(
    readonly db: string,
    /** The request, as sent to every reader that gets a copy. */
    readonly message: string,
    /** A write (see Sessions.shared), not only a read. */
    readonly write: boolean,
    readonly claim: number,
    readonly claims: Claims,
    readonly resolve: (reply: WorkerReply) => void,
    readonly reject: (error: Error) => void,
  ) {}

  /** Queued and not yet taken by any reader: another reader may run it instead. */
  get unclaimed(): boolean {
    return !this.#answered && this.claim >= 0 && !this.claims.claimed(this.claim);
  }

  /** A reader answered its copy. */
  settle(reply: WorkerReply): void {
    if (reply.kind !== "skipped" && !this.#answered) {
      this.#answered = true;
      this.resolve(reply);
    }
    this.#dropCopy();
  }

  /** A reader died with its copy. */
  fail(error: Error): void {
    this.#error = error;
    this.#dropCopy();
  }

  #dropCopy(): void {
    if (--this.copies > 0) return;
    this.claims.give(this.claim);
    if (!this.#answered) this.reject(this.#error ?? new Error("a read was skipped by every reader"));
  }
}
