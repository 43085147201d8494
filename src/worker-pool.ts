// The database Worker threads, and where and when each statement runs.
//
// A bun:sqlite handle cannot leave the thread that opened it, and a Worker runs one statement
// at a time, so two sessions sharing a Worker could hold each other up. Two kinds of Worker:
//
// - Readers, one per permit (`--workers`), each with its own handles shared by all sessions.
//   A query from a session that holds no connection state (no transaction, PRAGMA, TEMP
//   object or attachment, and not asking for last_insert_rowid() or changes()) runs on a
//   reader, if SQLite deems it read-only. So does an autocommit INSERT, UPDATE or DELETE
//   from such a session, to a database it has not needed its own handle for: the reader
//   sets its handle to the session's counters first and sends back the new ones, which the
//   session keeps, and hands to its own handle should it ever need one (counters.ts).
// - Session Workers, for everything else: a session gets one of its own the first time it
//   needs its own handle, keeps it for life, and shares one only past `maxThreads`.
//
// At most `--workers` statements run at once; the rest wait in FIFO order. A statement on a
// session Worker holds a permit while it runs. A reader holds one permit while it has reads
// queued or running. A read takes a free permit and an idle reader; with no permit free and
// nobody waiting for one, it queues behind the least-loaded busy reader, which then finds its
// next read already in its inbox instead of sleeping through a round trip to this thread.
// Should a permit come free while reads wait behind a busy reader (a slow statement, say), an
// idle reader takes that permit and copies of those reads; whichever reader claims a read
// first runs it (read-claims.ts). So while a permit is free, no read waits: that is the rule
// that no statement holds up another below the cap. And while a statement waits for a permit,
// a read waits too, never overtaking it; reads that arrive one after another meanwhile wait
// as one group, for one permit and one reader.
// A write to a database lines up right behind a write to it on a reader, if there is one
// and nothing waits for a permit: it would only wait for that write's lock anyway.
// One exception to "a free permit is taken at once": a read may queue behind a reader at
// work on quick reads (QUICK_READ_MS) whose queue should be done within HOLD_UP_MS, since
// waking a sleeping reader costs about as much as such a read; should that reader then
// answer nothing for HOLD_UP_MS, the reads queued behind it are copied to an idle reader.

import { formatCounters, ZERO_COUNTERS } from "./counters";
import { decodeReply, encodeRequest, type InitRequest, type WorkerReply, type WorkerRequest } from "./messages";
import { PollingFlag, PostedCount } from "./poll";
import { Queue } from "./queue";
import { Claims, Read } from "./read-claims";
import type { Permit, Semaphore } from "./semaphore";
import { mayReadAnywhere, mayWriteAnywhere } from "./sql-statements";
import { WriteGate } from "./write-gate";

/**
 * Bounds how long a read is held up behind a busy reader while a permit is free: the most a
 * reader's queue may be expected to take for a read to join it, and how long the reader may
 * then go without answering before that read is copied to an idle reader (found by a check
 * every HOLD_UP_MS, so the read waits about twice this at most).
 */
export const HOLD_UP_MS = 2;
/**
 * Reads shorter than this on average are worth queueing behind each other: waking a sleeping
 * reader for one costs about as much (a round trip to it is ~60 µs here, docs/performance.md).
 */
export const QUICK_READ_MS = 0.1;

/** Time, and a callback later: performance.now and setTimeout, or a test's own. */
export interface Clock {
  now(): number;
  after(ms: number, callback: () => void): void;
}

const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  after: (ms, callback) => void setTimeout(callback, ms).unref(),
};

export class WorkerCrashedError extends Error {
  readonly code = "WORKER_CRASHED";
}

export interface PoolOptions {
  folder: string;
  busyTimeoutMs: number;
  /** Caps how many statements run at once; also the number of readers. */
  statements: Semaphore;
  readers: number;
  /** Above this many session Workers, new sessions share the least-loaded one. */
  maxThreads: number;
  /** Told when new sessions start sharing session Workers, once each time the cap is reached. */
  onShared?: (sessionWorkers: number) => void;
  /** Session Workers kept alive with no session, ready for the next one. */
  keepIdle: number;
  createWorker: () => Worker;
  /** How long a Worker polls for its next request before sleeping (poll.ts); 0: never. */
  pollMs: number;
  clock?: Clock;
}

/**
 * The right to run one statement: `run` it once, or dispose of it unused. On a reader,
 * `counters` lets it write too (see Sessions.shared).
 */
export interface Turn extends Disposable {
  run(db: string, sql: string, counters?: string | null): Promise<WorkerReply>;
}

/** Bun's error text quotes the source around the throw; keep the error line only. */
function summarize(message: string): string {
  const lines = message.split("\n").map((line) => line.trim());
  const error = lines.find((line) => /^[A-Za-z]*Error:/.test(line) || line.startsWith("error:"));
  return (error ?? lines[0] ?? "").slice(0, 300);
}

/** SQLite's busy handler's pauses between attempts at a lock, in ms; then the last, again. */
const BUSY_PAUSES_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
const SQLITE_BUSY = 5;

type QueryRequest = Extract<WorkerRequest, { kind: "query" }>;

/** Reads that wait together for one permit, and the reader they will all run on. */
type ReadGroup = { reads: number; reader: Promise<Thread> };

/** A Worker's inbox entry, settled by the Worker's reply or by its death. */
interface Pending {
  settle(reply: WorkerReply): void;
  fail(error: Error): void;
}

class Thread {
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
        this.#msPerRead += (now - this.#lastProgress - this.#msPerRead) / 32;
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

export class Session {
  #thread: Thread | null = null;
  /** The session holds state only its own handles have (as its Worker last reported). */
  #pinned = false;
  #ended = false;
  /** Databases the session has used its own handle for: their writes stay on it. */
  readonly #ownDbs = new Set<string>();
  /**
   * Per database the session wrote on readers' handles: the counters its own handle would
   * show, valid while the database is not deleted (deleting it resets them, as it closes handles).
   */
  readonly #counters = new Map<string, { text: string; generation: number }>();

  constructor(
    readonly id: number,
    readonly pool: WorkerPool,
  ) {}

  /**
   * Waits for the right to run `sql` on `db`: on a reader when that is allowed (see above),
   * else on the session's own Worker. A reply of notReadOnly means "take a turn again with
   * own = true".
   */
  async turn(db: string, sql: string, own: boolean): Promise<Turn> {
    if (!own && !this.#pinned) {
      if (!this.#ownDbs.has(db) && mayWriteAnywhere(sql)) return this.#sharedWriteTurn(await this.pool.writeTurn(db));
      if (mayReadAnywhere(sql)) return this.pool.readTurn();
    }
    return this.pool.permitTurn((db, sql) => this.#runOwn(db, sql));
  }

  /** A reader's turn that may write: it carries the session's counters there and back. */
  #sharedWriteTurn(turn: Turn): Turn {
    return {
      run: async (db, sql) => {
        const generation = this.pool.generation(db);
        const reply = await turn.run(db, sql, this.#keptCounters(db, generation) ?? formatCounters(ZERO_COUNTERS));
        if ((reply.kind === "rows" || reply.kind === "sqlError") && reply.counters !== null) {
          this.#counters.set(db, { text: reply.counters, generation });
        }
        return reply;
      },
      [Symbol.dispose]: () => turn[Symbol.dispose](),
    };
  }

  #keptCounters(db: string, generation: number): string | null {
    const kept = this.#counters.get(db);
    return kept && kept.generation === generation ? kept.text : null;
  }

  async #runOwn(db: string, sql: string): Promise<WorkerReply> {
    const thread = (this.#thread ??= this.pool.place());
    // Its first statement on `db` sets the new handle to the counters kept so far.
    const seed = this.#ownDbs.has(db) ? null : this.#keptCounters(db, this.pool.generation(db));
    this.#ownDbs.add(db);
    this.#counters.delete(db);
    const reply = await this.#untilNotBusy(thread, { kind: "query", session: this.id, db, sql, seed, sharedSince: null });
    if (reply.kind === "rows" || reply.kind === "sqlError") this.#pinned = reply.pinned;
    return reply;
  }

  /**
   * Sends a statement for the session's own handle. On a Worker other sessions share, it must
   * not wait there for a lock (see Sessions.query): it comes back `busy`, and goes again after
   * the pause SQLite's busy handler would take, holding its permit meanwhile, until it runs or
   * the Worker says busy_timeout is over. Not once the session has ended, nor once its
   * database is being deleted: either closes its handle, and sending the statement again
   * would open the file anew (while it is being removed, for a deletion; the check and the
   * send are one synchronous step, as in Connection's dispatch). It fails as a lock wait
   * that timed out would.
   */
  async #untilNotBusy(thread: Thread, query: QueryRequest): Promise<WorkerReply> {
    const request = thread.sessions > 1 ? { ...query, sharedSince: Date.now() } : query;
    const generation = this.pool.generation(query.db);
    let reply = await thread.request(request);
    for (let attempt = 0; reply.kind === "busy"; attempt++) {
      await this.pool.pause(Math.min(BUSY_PAUSES_MS[Math.min(attempt, BUSY_PAUSES_MS.length - 1)]!, reply.leftMs));
      if (this.#ended || this.pool.generation(query.db) !== generation) {
        return { kind: "sqlError", code: SQLITE_BUSY, message: "database is locked", pinned: this.#pinned, counters: null };
      }
      reply = await thread.request({ ...request, seed: null }); // the first attempt set the counters
    }
    return reply;
  }

  /** Closes the session's handles (rolling back an open transaction). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#thread) this.pool.release(this.#thread, this.id);
  }
}

export class WorkerPool {
  readonly #options: PoolOptions;
  readonly #statements: Semaphore;
  readonly #claims = new Claims();
  readonly #gates = new WriteGate();
  readonly #polling = new PollingFlag();
  /** Numbers the Workers for the write gates and polling flag they hold (0 is nobody). */
  #nextOwner = 1;
  readonly #readers: Thread[] = [];
  readonly #threads = new Set<Thread>();
  /** The reads waiting together for a permit (see readTurn); null once another statement waits behind them. */
  #waitingReads: ReadGroup | null = null;
  /** Databases whose handles are being closed: their reads are not copied to another reader. */
  readonly #closingDbs = new Map<string, number>();
  /** How many times each database's handles were all closed (by DELETE_DB). */
  readonly #generations = new Map<string, number>();
  #nextSession = 1;
  #closing = false;
  readonly #clock: Clock;
  /** A stall check is due (see #watchStalls). */
  #watching = false;
  /** New sessions share session Workers: the cap was reached, and there has been no room since. */
  #sharing = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#statements = options.statements;
    for (let i = 0; i < options.readers; i++) this.#spawn(true);
    for (let i = 0; i < options.keepIdle; i++) this.#spawn(false);
  }

  openSession(): Session {
    return new Session(this.#nextSession++, this);
  }

  /** A turn on a reader: a free permit and an idle reader, a place behind a busy one, or a wait. */
  async readTurn(): Promise<Turn> {
    if (this.#statements.waiting === 0) {
      // A reader at work and keeping up finds the read in its inbox; an idle one would have to be woken.
      const now = this.#clock.now();
      // The busiest such reader: spreading reads over several would keep waking each of them.
      let quick: Thread | null = null;
      for (const reader of this.#readers) {
        if (!reader.dead && reader.keepsUp(now) && (!quick || reader.load > quick.load)) quick = reader;
      }
      if (quick) {
        const turn = this.#readTurnOn(quick);
        this.#watchStalls();
        return turn;
      }
    }
    const free = this.#statements.tryAcquire();
    if (free) return this.#readTurnOn(this.#startReader(free));
    if (this.#statements.waiting === 0) {
      const busy = this.#leastLoadedReader((reader) => reader.load > 0);
      if (busy) return this.#readTurnOn(busy);
    }
    // Behind a statement that waits for a permit. Reads that arrive one after another, with
    // no other statement between them, wait together for one permit and one reader.
    const group = (this.#waitingReads ??= this.#waitForReader());
    group.reads++;
    return this.#reservedTurn(await group.reader);
  }

  /**
   * A turn on a reader for a statement that may write `db`: right behind a write to `db`
   * that a reader has queued or running, if any and if no statement waits for a permit.
   * Waiting there is waiting for the database's lock, without a second reader sleeping at
   * the write gate and being woken for each write.
   */
  writeTurn(db: string): Promise<Turn> {
    if (this.#statements.waiting === 0) {
      const writer = this.#readers.find((reader) => !reader.dead && reader.load > 0 && reader.endsWithWriteTo(db));
      if (writer) return Promise.resolve(this.#readTurnOn(writer));
    }
    return this.readTurn();
  }

  /** A turn holding a permit of its own, for a statement on a session Worker. */
  async permitTurn(run: Turn["run"]): Promise<Turn> {
    this.#waitingReads = null; // reads from now on wait behind this statement
    const permit = await this.#statements.acquire();
    return {
      run,
      [Symbol.dispose]: () => {
        permit.release();
        this.#rebalance();
      },
    };
  }

  /** A session Worker for a new session: an unused one, a new one, or past the cap the least loaded. */
  place(): Thread {
    let least: Thread | null = null;
    for (const thread of this.#threads) {
      if (thread.sessions === 0) {
        thread.sessions++;
        return thread;
      }
      if (!least || thread.sessions < least.sessions) least = thread;
    }
    if (!least || this.#threads.size < this.#options.maxThreads) {
      this.#sharing = false; // the cap can only be reached again through here
      const thread = this.#spawn(false);
      thread.sessions++;
      return thread;
    }
    if (!this.#sharing) this.#options.onShared?.(this.#threads.size);
    this.#sharing = true;
    least.sessions++;
    return least;
  }

  /** Called by Session.end(): closes its handles, and retires the Worker if it is surplus. */
  release(thread: Thread, session: number): void {
    thread.sessions--;
    if (thread.dead) return;
    // Retire only after the handles are closed: a Worker terminated with a handle open
    // would keep that handle's file locks for the life of the process.
    thread.request({ kind: "endSession", session }).then(
      () => {
        if (thread.sessions === 0 && !thread.dead && this.#idleCount() > this.#options.keepIdle) this.#retire(thread);
      },
      () => {},
    );
  }

  /** Resolves after `ms`, on the pool's clock. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.after(ms, resolve));
  }

  /** Counts the times every handle to `db` was closed: a session's counters from before are void. */
  generation(db: string): number {
    return this.#generations.get(db) ?? 0;
  }

  /** Every handle to `db` (readers' and sessions') is closed when this resolves. */
  async closeDatabase(db: string): Promise<void> {
    this.#generations.set(db, this.generation(db) + 1);
    this.#closingDbs.set(db, (this.#closingDbs.get(db) ?? 0) + 1);
    try {
      const holders = [...this.#readers, ...[...this.#threads].filter((t) => t.sessions > 0)];
      await Promise.all(holders.map((t) => t.request({ kind: "closeDatabase", db }).catch(() => {})));
    } finally {
      const count = this.#closingDbs.get(db)! - 1;
      if (count === 0) this.#closingDbs.delete(db);
      else this.#closingDbs.set(db, count);
    }
  }

  /**
   * Closes every handle (checkpointing WAL) and stops every Worker. A Worker still busy
   * after `waitMs` (a statement that will not end) is stopped with its handles open;
   * SQLite's journal keeps its database consistent.
   */
  async close(waitMs: number): Promise<void> {
    this.#closing = true;
    const threads = [...this.#readers, ...this.#threads];
    const closed = Promise.all(threads.map((t) => t.request({ kind: "closeAll" }).catch(() => {})));
    await Promise.race([closed, Bun.sleep(waitMs)]);
    for (const thread of threads) this.#retire(thread);
  }

  #waitForReader(): ReadGroup {
    const group: ReadGroup = {
      reads: 0,
      reader: this.#statements.acquire().then((permit) => {
        if (this.#waitingReads === group) this.#waitingReads = null;
        const reader = this.#startReader(permit);
        reader.addLoad(group.reads); // reserved for every read of the group before anything else runs
        return reader;
      }),
    };
    return group;
  }

  /** An idle reader, now holding `permit`. */
  #startReader(permit: Permit): Thread {
    const idle = this.#idleReader();
    if (idle) {
      idle.permit = permit;
      return idle;
    }
    // Not reached while every permit holder is accounted for; should it be, stay under the cap.
    permit.release();
    const any = this.#leastLoadedReader(() => true);
    if (!any) throw new WorkerCrashedError("no database worker is running");
    return any;
  }

  #readTurnOn(reader: Thread): Turn {
    reader.addLoad(1); // keeps the reader, and its permit, busy until the read is answered
    return this.#reservedTurn(reader);
  }

  /** A turn on `reader`, whose load already counts it. */
  #reservedTurn(reader: Thread): Turn {
    let used = false;
    return {
      run: (db, sql, counters = null) => {
        used = true;
        return new Promise((resolve, reject) => {
          const claim = this.#claims.take();
          const write = counters === null ? null : { counters, since: Date.now() };
          const message = encodeRequest({ kind: "read", claim, db, sql, write });
          reader.sendRead(new Read(db, message, counters !== null, claim, this.#claims, resolve, reject));
        });
      },
      [Symbol.dispose]: () => {
        if (!used) this.#readDone(reader);
        used = true;
      },
    };
  }

  #readDone(reader: Thread): void {
    if (--reader.load > 0) return;
    reader.permit?.release();
    reader.permit = null;
    this.#rebalance();
  }

  /**
   * A permit came free, or is free while a reader stalls: reads still waiting behind a busy
   * reader that is not keeping up get copied to an idle one.
   */
  #rebalance(): void {
    const now = this.#clock.now();
    while (this.#statements.waiting === 0 && this.#statements.available > 0) {
      const idle = this.#idleReader();
      if (!idle) break;
      let stuck: Read[] = [];
      for (const reader of this.#readers) {
        if (reader.load === 0 || reader.dead || reader.keepsUp(now)) continue;
        const reads = reader.heldUpReads().filter((read) => !this.#closingDbs.has(read.db));
        if (reads.length > stuck.length) stuck = reads;
      }
      if (stuck.length === 0) break;
      idle.permit = this.#statements.tryAcquire();
      idle.takeOver(stuck);
    }
    this.#watchStalls(); // reads may be left behind a reader that keeps up: watch that it goes on doing so
  }

  /**
   * While reads wait behind a reader with a permit free, rebalances in HOLD_UP_MS: the reads
   * behind a reader that has answered nothing since then move.
   */
  #watchStalls(): void {
    if (this.#watching || this.#statements.available === 0) return;
    if (!this.#readers.some((reader) => !reader.dead && reader.load > 1)) return;
    this.#watching = true;
    this.#clock.after(HOLD_UP_MS, () => {
      this.#watching = false;
      this.#rebalance();
    });
  }

  /** A reader with nothing to do, and so without a permit. */
  #idleReader(): Thread | undefined {
    return this.#readers.find((reader) => reader.load === 0 && !reader.dead);
  }

  #leastLoadedReader(eligible: (reader: Thread) => boolean): Thread | null {
    let least: Thread | null = null;
    for (const reader of this.#readers) {
      if (!reader.dead && eligible(reader) && (!least || reader.load < least.load)) least = reader;
    }
    return least;
  }

  #spawn(reader: boolean): Thread {
    const thread = new Thread(
      this.#options.createWorker(),
      reader,
      this.#nextOwner++,
      this.#clock,
      (t, error) => this.#onCrash(t, error),
      (t) => this.#readDone(t),
    );
    const { folder, busyTimeoutMs, pollMs } = this.#options;
    const shared = { claims: this.#claims.buffer, gates: this.#gates.buffer, owner: thread.owner, polling: this.#polling.buffer, posted: thread.posted.buffer };
    thread.request({ kind: "init", folder, busyTimeoutMs, pollMs, ...shared });
    if (reader) this.#readers.push(thread);
    else this.#threads.add(thread);
    return thread;
  }

  #retire(thread: Thread): void {
    this.#threads.delete(thread);
    thread.dead = true;
    thread.worker.terminate();
    this.#releaseHeld(thread); // a Worker stopped may be inside a write, or polling
  }

  /** Frees the write gates and the polling flag a Worker that can no longer free them holds. */
  #releaseHeld(thread: Thread): void {
    this.#gates.releaseAll(thread.owner);
    this.#polling.release(thread.owner);
  }

  #idleCount(): number {
    let idle = 0;
    for (const thread of this.#threads) if (thread.sessions === 0) idle++;
    return idle;
  }

  #onCrash(thread: Thread, error: Error): void {
    if (thread.dead) return;
    if (thread.reader) {
      this.#readers.splice(this.#readers.indexOf(thread), 1);
      const replacement = this.#closing ? null : this.#spawn(true);
      // The reads queued behind the one it died on were never started: its replacement runs
      // them, with its permit. The one it was on fails with it (it may be the cause).
      const untouched = thread.unclaimedReads(true).filter((read) => !this.#closingDbs.has(read.db));
      if (replacement && thread.permit && untouched.length > 0) {
        replacement.permit = thread.permit;
        thread.permit = null;
        replacement.takeOver(untouched);
      }
      thread.fail(error);
      this.#releaseHeld(thread); // it may have died inside a write, or polling
      thread.load = 0;
      thread.permit?.release();
      thread.permit = null;
      this.#rebalance();
      return;
    }
    thread.fail(error);
    this.#releaseHeld(thread); // it may have died inside a write, or polling
    this.#threads.delete(thread);
    if (!this.#closing && this.#idleCount() < this.#options.keepIdle) this.#spawn(false);
  }
}
