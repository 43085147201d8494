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

import { encodeRequest, type WorkerReply } from "./messages";
import { PollingFlag } from "./poll";
import { Claims, Read } from "./read-claims";
import type { Permit, Semaphore } from "./semaphore";
import { Session } from "./session";
import { HOLD_UP_MS, REAL_CLOCK, Thread, WorkerCrashedError, type Clock } from "./thread";
import { WriteGate } from "./write-gate";

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

/** Reads that wait together for one permit, and the reader they will all run on. */
type ReadGroup = { reads: number; reader: Promise<Thread> };

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
  /** Sessions not yet ended: told when a database's handles are all closed (DELETE_DB). */
  readonly #sessions = new Set<Session>();
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
    const session = new Session(this.#nextSession++, this);
    this.#sessions.add(session);
    return session;
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

  /**
   * Called by Session.end(): forgets the session, closes its handles on its Worker (if it had
   * one), and retires that Worker if it is surplus.
   */
  release(thread: Thread | null, ended: Session): void {
    this.#sessions.delete(ended);
    if (!thread) return;
    const session = ended.id;
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

  /** Every handle to `db` (readers' and sessions') is closed when this resolves. */
  async closeDatabase(db: string): Promise<void> {
    for (const session of this.#sessions) session.databaseClosed(db); // their counters from before are void
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
