// A database Worker as the main thread sees it: the replies it owes, in order, and, for a
// reader, how quickly it answers (which worker-pool.ts uses to decide whether a read may wait
// behind it rather than wake another reader).

import { decodeReply, encodeRequest, type InitRequest, type WorkerReply, type WorkerRequest } from "./messages";
import { PostedCount } from "./poll";
import { Queue } from "./queue";
import { Read } from "./read-claims";
import type { Permit } from "./semaphore";

/**
 * Bounds how long a read is held up behind a busy reader while a permit is free: the most a
 * reader's queue may be expected to take for a read to join it, and how long the reader may
 * then go without answering before that read is copied to an idle reader (found by a check
 * every HOLD_UP_MS, so the read waits about twice this at most).
 */
export const HOLD_UP_MS = 2;
/**
 * Reads shorter than this on average are worth queueing behind each other: waking a sleeping
 * reader for one costs about as much (a round trip to it is ~60 µs here, docs/performance-log.md).
 */
export const QUICK_READ_MS = 0.1;
/**
 * One gap between answers counts at most this in a reader's average: enough for reads slower
 * than QUICK_READ_MS to make it slow, while one long gap (a WAL checkpoint, the thread losing
 * its core for a few ms) no longer marks a reader of quick reads slow for its next ~32
 * answers, waking the other reader meanwhile. A statement that stays slow is the stall
 * check's (HOLD_UP_MS). Measured by hand: mixed_16c +13%, point_16c +18% (docs/performance-log.md).
 */
export const MAX_COUNTED_GAP_MS = 0.5;

/** Time, and a callback later: performance.now and setTimeout, or a test's own. */
export interface Clock {
  now(): number;
  after(ms: number, callback: () => void): void;
}

export const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  after: (ms, callback) => void setTimeout(callback, ms).unref(),
};

export class WorkerCrashedError extends Error {
  readonly code = "WORKER_CRASHED";
}

/** Bun's error text quotes the source around the throw; keep the error line only. */
function summarize(message: string): string {
  const lines = message.split("\n").map((line) => line.trim());
  const error = lines.find((line) => /^[A-Za-z]*Error:/.test(line) || line.startsWith("error:"));
  return (error ?? lines[0] ?? "").slice(0, 300);
}

/** A Worker's inbox entry, settled by the Worker's reply or by its death. */
interface Pending {
  settle(reply: WorkerReply): void;
  fail(error: Error): void;
}

export class Thread {
  sessions = 0;
  dead = false;
  /** Readers: reads queued or running here, plus turns about to send one. */
  load = 0;
  /** Readers: the permit held while `load` > 0. */
  permit: Permit | null = null;
  /** Readers: when the read now running began, as seen from here (the last answer, or new work while idle). */
  #lastProgress = 0;
  /**
   * Readers: a moving average of the time between answers, over about the last 32 (fewer
   * would let one late turn of this thread's event loop count as a slow read); long until measured.
   */
  #msPerRead = HOLD_UP_MS;
  readonly #inbox = new Queue<Pending>();
  /** Shared with the Worker, which polls it (poll.ts). */
  readonly posted = new PostedCount();

  constructor(
    readonly worker: Worker,
    readonly reader: boolean,
    /** Whose write gates and polling flag are this Worker's (see write-gate.ts, poll.ts). */
    readonly owner: number,
    readonly clock: Clock,
    onCrash: (thread: Thread, error: Error) => void,
    onReadDone: (thread: Thread) => void,
  ) {
    worker.onmessage = (event: MessageEvent<string | ArrayBuffer | ArrayBuffer[]>) => {
      const pending = this.#inbox.shift();
      pending?.settle(decodeReply(event.data));
      if (pending instanceof Read) {
        const now = clock.now();
        this.#msPerRead += (Math.min(now - this.#lastProgress, MAX_COUNTED_GAP_MS) - this.#msPerRead) / 32;
        this.#lastProgress = now;
        onReadDone(this);
      }
    };
    worker.onerror = (event) => onCrash(this, new WorkerCrashedError(`database worker failed: ${summarize(event.message)}`));
    worker.addEventListener("close", () => onCrash(this, new WorkerCrashedError("database worker exited")));
  }

  /** Readers: `reads` more queued or about to be sent here. */
  addLoad(reads: number): void {
    if (this.load === 0) this.#lastProgress = this.clock.now();
    this.load += reads;
  }

  /** Readers: at work on quick reads, and expected to answer all it holds within HOLD_UP_MS. */
  keepsUp(now: number): boolean {
    const msPerRead = this.#msPerRead;
    return this.load > 0 && msPerRead < QUICK_READ_MS && this.load * msPerRead < HOLD_UP_MS && !this.stalled(now);
  }

  /** Readers: has answered nothing for HOLD_UP_MS. */
  stalled(now: number): boolean {
    return now - this.#lastProgress >= HOLD_UP_MS;
  }

  request(request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((settle, fail) => this.#send(encodeRequest(request), { settle, fail }));
  }

  sendRead(read: Read): void {
    read.copies++;
    this.#send(read.message, read);
  }

  /** Copies of reads another reader holds, now counted in this reader's load too. */
  takeOver(reads: readonly Read[]): void {
    this.addLoad(reads.length);
    for (const read of reads) this.sendRead(read);
  }

  /** Reads in this reader's inbox that no reader has taken yet (behind the first entry, if `behindFirst`). */
  unclaimedReads(behindFirst = false): Read[] {
    return [...this.#inbox].filter((pending, i): pending is Read => pending instanceof Read && pending.unclaimed && !(i === 0 && behindFirst));
  }

  /**
   * The unclaimed reads another reader would run sooner. Not a write right behind a write to
   * the same database: it would only wait for that one's lock elsewhere.
   */
  heldUpReads(): Read[] {
    const reads: Read[] = [];
    let before: Pending | null = null;
    for (const pending of this.#inbox) {
      const waitsForLock = pending instanceof Read && pending.write && isWriteTo(before, pending.db);
      if (pending instanceof Read && pending.unclaimed && !waitsForLock) reads.push(pending);
      before = pending;
    }
    return reads;
  }

  /** Whether the newest entry of this reader's inbox is a write to `db`. */
  endsWithWriteTo(db: string): boolean {
    return isWriteTo(this.#inbox.last() ?? null, db);
  }

  /** Fails every request still waiting for a reply. */
  fail(error: Error): void {
    this.dead = true;
    for (let p = this.#inbox.shift(); p; p = this.#inbox.shift()) p.fail(error);
  }

  #send(message: string | InitRequest, pending: Pending): void {
    if (this.dead) return pending.fail(new WorkerCrashedError("database worker is gone"));
    this.#inbox.push(pending);
    this.posted.add();
    this.worker.postMessage(message);
  }
}

function isWriteTo(pending: Pending | null, db: string): boolean {
  return pending instanceof Read && pending.write && pending.db === db;
}
