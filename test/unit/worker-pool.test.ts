// The pool's scheduling, with fake Workers that run a message only when the test says so:
// which Worker gets each read, when a permit is held, and how a queued read moves.

import { describe, expect, test } from "bun:test";
import { decodeRequest, encodeReply, type InitRequest, type WorkerReply, type WorkerRequest } from "../../src/messages";
import { PollingFlag } from "../../src/poll";
import { Semaphore } from "../../src/semaphore";
import type { Session } from "../../src/session";
import { HOLD_UP_MS, type Clock } from "../../src/thread";
import { WorkerPool, type PoolOptions } from "../../src/worker-pool";
import { WriteGate } from "../../src/write-gate";

class FakeWorker {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: { message: string }) => void) | null = null;
  readonly inbox: string[] = [];
  #claims: Int32Array | null = null;
  init: InitRequest | null = null;

  postMessage(message: string | InitRequest): void {
    if (typeof message !== "string") {
      this.init = message;
      this.#claims = new Int32Array(message.claims);
      this.onmessage!({ data: "D" });
    } else {
      this.inbox.push(message);
    }
  }

  addEventListener(): void {}

  /** Dies as a Worker does when its code throws. */
  crash(): void {
    this.onerror!({ message: "Error: injected" });
  }
  terminated = false;
  terminate(): void {
    this.terminated = true;
  }

  /** The SQL (or kind) of each message waiting here. */
  get waiting(): string[] {
    return this.inbox.map((message) => {
      const request = decodeRequest(message);
      return "sql" in request ? request.sql : request.kind;
    });
  }

  #started = false;

  /** The oldest message starts running (a read is claimed) and goes on until step(). */
  begin(): void {
    if (!this.#claim()) throw new Error("began a read another Worker had claimed");
    this.#started = true;
  }

  /** Runs the oldest message to its end as a real Worker would; a read answers with its SQL as an error message. */
  step(): string {
    const claimed = this.#started || this.#claim();
    this.#started = false;
    const request = decodeRequest(this.inbox.shift()!);
    const ran = "sql" in request ? request.sql : request.kind;
    if (!claimed) {
      this.onmessage!({ data: encodeReply({ kind: "skipped" }) });
      return `skipped ${ran}`;
    }
    this.onmessage!({ data: "sql" in request ? encodeReply({ kind: "sqlError", code: 1, message: ran, pinned: false, counters: null }) : "D" });
    return ran;
  }

  /** Runs the oldest message as a real Worker would, answering `reply`; returns the request. */
  answer(reply: Exclude<WorkerReply, { kind: "rows" }>): WorkerRequest {
    if (!this.#claim()) throw new Error("answered a read another Worker had claimed");
    const request = decodeRequest(this.inbox.shift()!);
    this.onmessage!({ data: encodeReply(reply) });
    return request;
  }

  /** Whether this Worker may run its oldest message: a read must win its claim flag. */
  #claim(): boolean {
    const request = decodeRequest(this.inbox[0]!);
    return request.kind !== "read" || request.claim < 0 || Atomics.compareExchange(this.#claims!, request.claim, 0, 1) === 0;
  }
}

/** Time stands still until the test moves it with tick(), which also runs the callbacks due by then. */
class FakeClock implements Clock {
  time = 0;
  #timers: { at: number; callback: () => void }[] = [];
  now(): number {
    return this.time;
  }
  after(ms: number, callback: () => void): void {
    this.#timers.push({ at: this.time + ms, callback });
  }
  tick(ms: number): void {
    this.time += ms;
    const due = this.#timers.filter((timer) => timer.at <= this.time);
    this.#timers = this.#timers.filter((timer) => timer.at > this.time);
    for (const timer of due) timer.callback();
  }
}

function setup(permits: number, options: Partial<PoolOptions> = {}) {
  const workers: FakeWorker[] = [];
  const statements = new Semaphore(permits);
  const clock = new FakeClock();
  const pool = new WorkerPool({
    clock,
    folder: "/nowhere",
    busyTimeoutMs: 100,
    statements,
    readers: permits,
    maxThreads: 8,
    keepIdle: 0,
    pollMs: 0.1,
    createWorker: () => {
      const worker = new FakeWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    },
    ...options,
  });
  /** Starts `sql` on a session of its own and resolves with the SQL of the reply. */
  const start = async (sql: string, db = "a.db") => {
    const turn = await pool.openSession().turn(db, sql, false);
    return {
      answer: turn.run(db, sql).then((reply: WorkerReply) => {
        turn[Symbol.dispose]();
        return reply.kind === "sqlError" ? reply.message : reply.kind;
      }),
    };
  };
  /** Both readers busy: reader 0 running "SELECT slow", reader 1 sent "SELECT quick", a third read queued behind the slow one. */
  const slowQuickQueued = async (queuedDb = "a.db") => {
    const [reader0, reader1] = workers as [FakeWorker, FakeWorker];
    const slow = await start("SELECT slow");
    reader0.begin();
    const quick = await start("SELECT quick");
    const queued = await start("SELECT queued", queuedDb); // behind "slow", on a tie
    return { reader0, reader1, slow, quick, queued };
  };
  /** Reader 0 answers `count` reads at once, as a reader does under a load of quick reads. */
  const warmUp = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const read = await start("SELECT warm");
      workers[0]!.step();
      await read.answer;
    }
  };
  return { pool, workers, statements, clock, start, slowQuickQueued, warmUp };
}

describe("WorkerPool scheduling", () => {
  test("reads take a free permit and an idle reader, then queue behind the least-loaded busy one", async () => {
    const { workers, statements, clock, start } = setup(2);
    const [reader0, reader1] = workers as [FakeWorker, FakeWorker];
    const first = await start("SELECT 1");
    const second = await start("SELECT 2");
    expect([reader0.waiting, reader1.waiting]).toEqual([["SELECT 1"], ["SELECT 2"]]);
    expect(statements.available).toBe(0);
    const third = await start("SELECT 3");
    const fourth = await start("SELECT 4");
    expect([reader0.waiting, reader1.waiting]).toEqual([["SELECT 1", "SELECT 3"], ["SELECT 2", "SELECT 4"]]);
    expect(workers.length).toBe(2); // no session Worker for stateless reads
    reader0.step();
    reader1.step();
    clock.tick(HOLD_UP_MS);
    reader0.step();
    // reader0 went idle while "SELECT 4" waited behind reader1, silent for HOLD_UP_MS: it got a copy, and the permit.
    expect(reader0.waiting).toEqual(["SELECT 4"]);
    expect(reader1.step()).toBe("SELECT 4");
    expect(reader0.step()).toBe("skipped SELECT 4");
    expect(await Promise.all([first, second, third, fourth].map((s) => s.answer))).toEqual(["SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4"]);
    expect(statements.available).toBe(2);
  });

  test("when a permit frees, reads queued behind a busy reader are copied to the idle one and run once", async () => {
    const { statements, slowQuickQueued } = setup(2);
    const { reader0, reader1, slow, quick, queued } = await slowQuickQueued();
    expect(reader0.waiting).toEqual(["SELECT slow", "SELECT queued"]);
    expect(reader1.step()).toBe("SELECT quick");
    expect(await quick.answer).toBe("SELECT quick");
    // reader1 went idle and gave back its permit; it took it again, with a copy.
    expect(reader1.waiting).toEqual(["SELECT queued"]);
    expect(statements.available).toBe(0);
    expect(reader1.step()).toBe("SELECT queued");
    expect(await queued.answer).toBe("SELECT queued");
    expect(reader0.step()).toBe("SELECT slow");
    expect(reader0.step()).toBe("skipped SELECT queued");
    expect(await slow.answer).toBe("SELECT slow");
    expect(statements.available).toBe(2);
  });

  test("a read waits behind a statement that waits for a permit, with the reads right after it", async () => {
    const { workers, statements, start } = setup(1);
    const reader = workers[0]!;
    const slow = await start("SELECT slow");
    const write = start("CREATE TABLE t1(x)"); // waits for the only permit
    const readA = start("SELECT a");
    const readB = start("SELECT b");
    const secondWrite = start("CREATE TABLE t2(x)");
    const readC = start("SELECT c"); // behind the second write, not with a and b
    await Bun.sleep(0);
    expect(reader.waiting).toEqual(["SELECT slow"]); // nothing queued behind it
    reader.step();
    await slow.answer;
    await Bun.sleep(0);
    const sessionWorker = workers[1]!;
    expect(sessionWorker.waiting).toEqual(["CREATE TABLE t1(x)"]);
    expect(reader.waiting).toEqual([]);
    sessionWorker.step();
    await (await write).answer;
    await Bun.sleep(0);
    expect(reader.waiting).toEqual(["SELECT a", "SELECT b"]); // one permit, one reader, both reads
    reader.step();
    reader.step();
    expect([await (await readA).answer, await (await readB).answer]).toEqual(["SELECT a", "SELECT b"]);
    await Bun.sleep(0);
    expect(reader.waiting).toEqual([]);
    const secondSessionWorker = workers[2]!;
    expect(secondSessionWorker.step()).toBe("CREATE TABLE t2(x)");
    await (await secondWrite).answer;
    await Bun.sleep(0);
    expect(reader.step()).toBe("SELECT c");
    expect(await (await readC).answer).toBe("SELECT c");
    expect(statements.available).toBe(1);
  });

  test("a read queues behind a reader that keeps up, even with a permit free, and moves when it stalls", async () => {
    const { workers, statements, clock, start, warmUp } = setup(2);
    const [reader0, reader1] = workers as [FakeWorker, FakeWorker];
    await warmUp(100);
    const a = await start("SELECT a");
    const b = await start("SELECT b"); // reader0 at work and quick: no need to wake reader1
    expect([reader0.waiting, reader1.waiting, statements.available]).toEqual([["SELECT a", "SELECT b"], [], 1]);
    reader0.begin(); // "SELECT a" turns out slow
    clock.tick(HOLD_UP_MS / 2);
    expect(reader1.waiting).toEqual([]);
    clock.tick(HOLD_UP_MS / 2); // silent for HOLD_UP_MS: "SELECT b" is copied to reader1, with the free permit
    expect([reader1.waiting, statements.available]).toEqual([["SELECT b"], 0]);
    expect(reader1.step()).toBe("SELECT b");
    expect(await b.answer).toBe("SELECT b");
    expect([reader0.step(), reader0.step()]).toEqual(["SELECT a", "skipped SELECT b"]);
    expect(await a.answer).toBe("SELECT a");
    expect(statements.available).toBe(2);
  });

  test("a permit that frees leaves the reads queued behind a reader that keeps up where they are, until it stalls", async () => {
    const { workers, statements, clock, start, warmUp } = setup(2);
    const [reader0, reader1] = workers as [FakeWorker, FakeWorker];
    await warmUp(100);
    const a = await start("SELECT a");
    const ddl = await start("CREATE TABLE t(x)"); // the other permit, on a session Worker
    const b = await start("SELECT b");
    expect(reader0.waiting).toEqual(["SELECT a", "SELECT b"]);
    expect(workers[2]!.step()).toBe("CREATE TABLE t(x)");
    await ddl.answer;
    // Copying "SELECT b" would wake reader1 for a read reader0 is about to run.
    expect([reader1.waiting, statements.available]).toEqual([[], 1]);
    reader0.begin(); // but "SELECT a" turns out slow
    clock.tick(HOLD_UP_MS);
    expect(reader1.waiting).toEqual(["SELECT b"]);
    expect([reader1.step(), reader0.step(), reader0.step()]).toEqual(["SELECT b", "SELECT a", "skipped SELECT b"]);
    expect([await a.answer, await b.answer]).toEqual(["SELECT a", "SELECT b"]);
  });

  /** After `warmUp`, reader 0 answers `count` reads that each took `ms`. */
  const slowReads = async ({ workers, clock, start }: ReturnType<typeof setup>, count: number, ms: number) => {
    for (let i = 0; i < count; i++) {
      const slow = await start("SELECT slow");
      clock.tick(ms);
      workers[0]!.step();
      await slow.answer;
    }
  };

  test("a read does not queue behind a reader whose reads have been taking long while a permit is free", async () => {
    const pool = setup(2);
    const [reader0, reader1] = pool.workers as [FakeWorker, FakeWorker];
    await pool.warmUp(100);
    await slowReads(pool, 16, 10 * HOLD_UP_MS);
    const a = await pool.start("SELECT a");
    const b = await pool.start("SELECT b");
    expect([reader0.waiting, reader1.waiting]).toEqual([["SELECT a"], ["SELECT b"]]);
    expect([reader0.step(), reader1.step()]).toEqual(["SELECT a", "SELECT b"]);
    expect([await a.answer, await b.answer]).toEqual(["SELECT a", "SELECT b"]);
  });

  test("one long gap between a quick reader's answers does not make it slow: reads still gather behind it", async () => {
    const pool = setup(2);
    const [reader0, reader1] = pool.workers as [FakeWorker, FakeWorker];
    await pool.warmUp(100);
    await slowReads(pool, 1, 10 * HOLD_UP_MS); // a WAL checkpoint, say, or the thread losing its core
    const a = await pool.start("SELECT a");
    const b = await pool.start("SELECT b"); // reader0 at work and quick: no need to wake reader1
    expect([reader0.waiting, reader1.waiting]).toEqual([["SELECT a", "SELECT b"], []]);
    expect([reader0.step(), reader0.step()]).toEqual(["SELECT a", "SELECT b"]);
    expect([await a.answer, await b.answer]).toEqual(["SELECT a", "SELECT b"]);
  });

  test("a reader that dies takes only the read it was on; its replacement runs the rest", async () => {
    const { workers, statements, start } = setup(1);
    const reader = workers[0]!;
    const fatal = await start("SELECT fatal");
    reader.begin();
    const queued = await start("SELECT queued");
    const failed = fatal.answer.catch((error: Error) => `failed: ${error.message}`);
    reader.crash();
    expect(await failed).toBe("failed: database worker failed: Error: injected");
    const replacement = workers[1]!;
    expect(replacement.waiting).toEqual(["SELECT queued"]);
    expect(statements.available).toBe(0); // the dead reader's permit went with its reads
    expect(replacement.step()).toBe("SELECT queued");
    expect(await queued.answer).toBe("SELECT queued");
    expect(statements.available).toBe(1);
  });

  test("reads of a database being deleted are not copied to a reader that has closed it", async () => {
    const { pool, slowQuickQueued } = setup(2);
    const { reader0, reader1, slow, quick, queued } = await slowQuickQueued("d.db");
    const closed = pool.closeDatabase("d.db");
    expect(reader1.waiting).toEqual(["SELECT quick", "closeDatabase"]);
    reader1.step();
    reader1.step();
    await quick.answer;
    expect(reader1.waiting).toEqual([]); // not copied: it would reopen d.db after closing it
    expect(reader0.waiting).toEqual(["SELECT slow", "SELECT queued", "closeDatabase"]);
    for (let i = 0; i < 3; i++) reader0.step();
    await closed;
    expect([await slow.answer, await queued.answer]).toEqual(["SELECT slow", "SELECT queued"]);
  });

  test("a write queues right behind a write to the same database, even with a permit free", async () => {
    const { workers, statements, start } = setup(2);
    const [reader0, reader1] = workers as [FakeWorker, FakeWorker];
    const first = await start("INSERT INTO t VALUES (1)");
    reader0.begin(); // running
    const second = await start("INSERT INTO t VALUES (2)");
    const other = await start("INSERT INTO t VALUES (3)", "b.db"); // another database: a reader of its own
    expect([reader0.waiting, reader1.waiting]).toEqual([["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"], ["INSERT INTO t VALUES (3)"]]);
    expect(reader1.step()).toBe("INSERT INTO t VALUES (3)");
    expect(await other.answer).toBe("INSERT INTO t VALUES (3)");
    // A permit is free, but the write waiting for the first one's lock is not copied to use it.
    expect([statements.available, reader1.waiting]).toEqual([1, []]);
    expect([reader0.step(), reader0.step()]).toEqual(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]);
    expect([await first.answer, await second.answer]).toEqual(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]);
    expect(statements.available).toBe(2);
  });

  test("a reader that dies running a write hands the writes lined up behind it to its replacement", async () => {
    const { workers, start } = setup(1);
    const first = await start("INSERT INTO t VALUES (1)");
    workers[0]!.begin();
    const second = await start("INSERT INTO t VALUES (2)");
    workers[0]!.crash();
    expect(await first.answer.catch((error: Error) => error.message)).toBe("database worker failed: Error: injected");
    const replacement = workers[1]!;
    expect(replacement.step()).toBe("INSERT INTO t VALUES (2)");
    expect(await second.answer).toBe("INSERT INTO t VALUES (2)");
  });

  test("a write does not queue behind a read, and is copied away from one when a permit frees", async () => {
    const { workers, start } = setup(2);
    const [reader0, reader1] = workers as [FakeWorker, FakeWorker];
    const slow = await start("SELECT slow");
    reader0.begin();
    const quick = await start("SELECT quick");
    const write = await start("INSERT INTO t VALUES (1)"); // no permit free: behind a busy reader
    expect(reader0.waiting).toEqual(["SELECT slow", "INSERT INTO t VALUES (1)"]);
    reader1.step();
    await quick.answer;
    expect(reader1.waiting).toEqual(["INSERT INTO t VALUES (1)"]);
    expect(reader1.step()).toBe("INSERT INTO t VALUES (1)");
    expect(await write.answer).toBe("INSERT INTO t VALUES (1)");
    reader0.step();
    reader0.step();
    expect(await slow.answer).toBe("SELECT slow");
  });

  test("a write does not join a writer while a statement waits for a permit", async () => {
    const { workers, start } = setup(1);
    const reader = workers[0]!;
    const first = await start("INSERT INTO t VALUES (1)");
    const ddl = start("CREATE TABLE u(x)"); // waits for the only permit
    const second = start("INSERT INTO t VALUES (2)");
    await Bun.sleep(0);
    expect(reader.waiting).toEqual(["INSERT INTO t VALUES (1)"]);
    reader.step();
    await first.answer;
    await Bun.sleep(0);
    workers[1]!.step();
    await (await ddl).answer;
    await Bun.sleep(0);
    expect(reader.step()).toBe("INSERT INTO t VALUES (2)");
    expect(await (await second).answer).toBe("INSERT INTO t VALUES (2)");
  });

  test("a session Worker that dies inside a write frees the write gate it held", async () => {
    const { pool, workers } = setup(1);
    const session = pool.openSession();
    const turn = await session.turn("a.db", "CREATE TABLE t(x)", false);
    const answer = turn.run("a.db", "CREATE TABLE t(x)").catch((error: Error) => error.message);
    const [reader, own] = workers as [FakeWorker, FakeWorker];
    expect(reader.init!.owner).not.toBe(own.init!.owner);
    const gates = new WriteGate(own.init!.gates);
    gates.enter("a.db", own.init!.owner, 0); // as the Worker does around the write
    expect(gates.holder("a.db")).toBe(own.init!.owner);
    own.crash();
    expect(await answer).toBe("database worker failed: Error: injected");
    expect(gates.holder("a.db")).toBe(0);
    turn[Symbol.dispose]();
  });

  test("a reader that dies inside a write frees the write gate it held", async () => {
    const { pool, workers } = setup(1);
    const turn = await pool.openSession().turn("a.db", "INSERT INTO t VALUES (1)", false);
    const answer = turn.run("a.db", "INSERT INTO t VALUES (1)").catch((error: Error) => error.message);
    const [reader] = workers as [FakeWorker];
    expect(decodeRequest(reader.inbox[0]!)).toMatchObject({ kind: "read", write: { counters: "0,0,0" } });
    const gates = new WriteGate(reader.init!.gates);
    gates.enter("a.db", reader.init!.owner, 0);
    reader.crash();
    expect(await answer).toBe("database worker failed: Error: injected");
    expect(gates.holder("a.db")).toBe(0);
    turn[Symbol.dispose]();
  });
});

describe("session Workers", () => {
  test("past the cap, new sessions share the least-loaded one, and the pool says so once each time it fills", async () => {
    const shared: number[] = [];
    const { pool, workers } = setup(2, { maxThreads: 3, onShared: (count) => shared.push(count) });
    /** A new session runs one statement on its own handle; returns it and the Worker that ran it. */
    const ownStatement = async () => {
      const session = pool.openSession();
      using turn = await session.turn("a.db", "PRAGMA foreign_keys=ON", true);
      const reply = turn.run("a.db", "PRAGMA foreign_keys=ON");
      const worker = workers.find((w) => w.inbox.length > 0)!;
      worker.step();
      await reply;
      return { session, worker };
    };
    const first = [await ownStatement(), await ownStatement(), await ownStatement()];
    expect(new Set(first.map((s) => s.worker)).size).toBe(3); // a Worker each, up to the cap
    expect(shared).toEqual([]);
    const fourth = await ownStatement();
    const fifth = await ownStatement();
    expect(workers.length).toBe(2 + 3); // the readers and the three session Workers, no more
    expect([fourth.worker, fifth.worker]).toEqual([first[0]!.worker, first[1]!.worker]);
    expect(shared).toEqual([3]); // once, not per session
    // The third session ends: its Worker, alone, retires and leaves room.
    first[2]!.session.end();
    first[2]!.worker.step();
    await Bun.sleep(0);
    expect(first[2]!.worker.terminated).toBe(true);
    const sixth = await ownStatement();
    expect(workers.length).toBe(2 + 4);
    expect(sixth.worker).toBe(workers.at(-1)!);
    expect(shared).toEqual([3]);
    await ownStatement(); // full again
    expect(shared).toEqual([3, 3]);
  });

  test("on a shared Worker, a statement that finds a lock taken goes again after the busy handler's pauses", async () => {
    const { pool, workers, clock, statements } = setup(2, { maxThreads: 1 });
    const alone = pool.openSession();
    const turnAlone = await alone.turn("a.db", "BEGIN IMMEDIATE", true);
    const answerAlone = turnAlone.run("a.db", "BEGIN IMMEDIATE");
    const worker = workers[2]!;
    expect(worker.answer({ kind: "done" })).toMatchObject({ kind: "query", sharedSince: null }); // alone: SQLite waits
    await answerAlone;
    turnAlone[Symbol.dispose]();

    const sharing = pool.openSession();
    using turn = await sharing.turn("a.db", "INSERT INTO t VALUES (1)", true);
    const answer = turn.run("a.db", "INSERT INTO t VALUES (1)");
    const first = worker.answer({ kind: "busy", leftMs: 1000 });
    expect(first).toMatchObject({ kind: "query", session: sharing.id, sharedSince: expect.any(Number) });
    /** Moves the clock `ms` (once the reply is in), and says whether the statement was sent again by then. */
    const sentAgainAfter = async (ms: number) => {
      await Bun.sleep(0);
      clock.tick(ms);
      await Bun.sleep(0);
      return worker.inbox.length > 0;
    };
    expect(await sentAgainAfter(0.5)).toBe(false);
    expect(await sentAgainAfter(0.5)).toBe(true); // 1 ms
    expect(worker.answer({ kind: "busy", leftMs: 990 })).toEqual({ ...first, seed: null } as WorkerRequest); // the first set the counters
    expect(await sentAgainAfter(1)).toBe(false);
    expect(await sentAgainAfter(1)).toBe(true); // 2 ms
    worker.answer({ kind: "busy", leftMs: 3 });
    expect(await sentAgainAfter(3)).toBe(true); // 5 ms, but only 3 were left
    expect(statements.available).toBe(1); // its permit held all along
    worker.answer({ kind: "sqlError", code: 5, message: "database is locked", pinned: false, counters: null });
    expect(await answer).toMatchObject({ kind: "sqlError", code: 5 });
  });

  /** Two sessions on one session Worker; the second's INSERT came back busy and waits to go again. */
  const waitingToGoAgain = async () => {
    const { pool, workers, clock } = setup(1, { maxThreads: 1 });
    const [first, second] = [pool.openSession(), pool.openSession()];
    for (const session of [first, second]) {
      using turn = await session.turn("a.db", "PRAGMA foreign_keys=ON", true);
      const answer = turn.run("a.db", "PRAGMA foreign_keys=ON");
      workers[1]!.step();
      await answer;
    }
    const turn = await second.turn("a.db", "INSERT INTO t VALUES (1)", true);
    const answer = turn.run("a.db", "INSERT INTO t VALUES (1)").finally(() => turn[Symbol.dispose]());
    workers[1]!.answer({ kind: "busy", leftMs: 1000 });
    await Bun.sleep(0); // the reply is in: the pause has begun
    return { pool, worker: workers[1]!, clock, second, answer };
  };

  test("a statement waiting to go again is dropped when its session ends: its handles are closed", async () => {
    const { worker, clock, second, answer } = await waitingToGoAgain();
    second.end();
    expect(worker.waiting).toEqual(["endSession"]);
    clock.tick(1);
    expect(await answer).toMatchObject({ kind: "sqlError", code: 5 });
    expect(worker.waiting).toEqual(["endSession"]); // not sent again
  });

  test("a statement waiting to go again is dropped when its database is being deleted", async () => {
    const { pool, worker, clock, answer } = await waitingToGoAgain();
    void pool.closeDatabase("a.db");
    expect(worker.waiting).toEqual(["closeDatabase"]);
    clock.tick(1);
    expect(await answer).toMatchObject({ kind: "sqlError", code: 5 });
    expect(worker.waiting).toEqual(["closeDatabase"]); // not sent again: it would reopen the file
  });
});

describe("the polling flag (poll.ts)", () => {
  test("a session Worker stopped while it polls frees the flag", async () => {
    const { pool, workers } = setup(1);
    const session = pool.openSession();
    const turn = await session.turn("a.db", "CREATE TABLE t(x)", false);
    const answer = turn.run("a.db", "CREATE TABLE t(x)");
    const own = workers[1]!;
    own.step();
    await answer;
    turn[Symbol.dispose]();
    session.end();
    const polling = new PollingFlag(own.init!.polling);
    expect(polling.tryTake(own.init!.owner)).toBe(true); // polls after answering endSession
    own.step();
    await Bun.sleep(0);
    expect(own.terminated).toBe(true);
    expect(polling.holder()).toBe(0);
  });

  test("a reader that dies while it polls frees the flag", () => {
    const { workers } = setup(1);
    const reader = workers[0]!;
    const polling = new PollingFlag(reader.init!.polling);
    expect(polling.tryTake(reader.init!.owner)).toBe(true);
    reader.crash();
    expect(polling.holder()).toBe(0);
  });
});

describe("a session's counters while it writes on readers", () => {
  /** Runs one statement of `session` and has whichever Worker got it answer `reply`; returns the request it got. */
  const runOne = async (workers: FakeWorker[], session: Session, db: string, sql: string, counters: string | null) => {
    using turn = await session.turn(db, sql, false);
    const answered = turn.run(db, sql);
    const worker = workers.find((w) => w.inbox.length > 0)!;
    const request = worker.answer({ kind: "sqlError", code: 19, message: "m", pinned: false, counters });
    await answered;
    return { request, reader: worker === workers[0] };
  };

  test("are carried to each shared write, and handed to the own handle once it is needed", async () => {
    const { pool, workers } = setup(1);
    const session = pool.openSession();
    const first = await runOne(workers, session, "a.db", "INSERT INTO t VALUES (1)", "1,1,1");
    expect(first).toEqual({ request: expect.objectContaining({ kind: "read", write: expect.objectContaining({ counters: "0,0,0" }) }), reader: true });
    const second = await runOne(workers, session, "a.db", "UPDATE t SET x = 2", "1,3,4");
    expect(second.request).toMatchObject({ kind: "read", write: { counters: "1,1,1" } });
    // Another database has counters of its own.
    expect((await runOne(workers, session, "b.db", "DELETE FROM t", "0,0,0")).request).toMatchObject({ write: { counters: "0,0,0" } });
    // A reply without counters (a read, or a statement that never ran) leaves them as they were.
    await runOne(workers, session, "a.db", "WITH x AS (SELECT 1) SELECT * FROM x", null);
    const own = await runOne(workers, session, "a.db", "SELECT last_insert_rowid()", null);
    expect(own).toEqual({ request: expect.objectContaining({ kind: "query", seed: "1,3,4" }), reader: false });
    // From now on its writes to a.db stay on its own handle, and are not seeded again.
    const after = await runOne(workers, session, "a.db", "INSERT INTO t VALUES (3)", null);
    expect(after).toEqual({ request: expect.objectContaining({ kind: "query", seed: null }), reader: false });
    expect((await runOne(workers, session, "b.db", "INSERT INTO t VALUES (3)", null)).reader).toBe(true);
  });

  test("are void once the database is deleted, as its handles are closed", async () => {
    const { pool, workers } = setup(1);
    const session = pool.openSession();
    await runOne(workers, session, "a.db", "INSERT INTO t VALUES (1)", "7,1,1");
    const closed = pool.closeDatabase("a.db");
    workers[0]!.step();
    await closed;
    expect((await runOne(workers, session, "a.db", "INSERT INTO t VALUES (1)", "1,1,1")).request).toMatchObject({ write: { counters: "0,0,0" } });
    await runOne(workers, session, "a.db", "INSERT INTO t VALUES (2)", "2,1,2");
    const closedAgain = pool.closeDatabase("a.db");
    workers[0]!.step();
    await closedAgain;
    const own = await runOne(workers, session, "a.db", "BEGIN", null);
    expect(own.request).toMatchObject({ kind: "query", seed: null });
  });

  test("a write answered after its database's handles were closed leaves no counters behind", async () => {
    const { pool, workers } = setup(1);
    const session = pool.openSession();
    await runOne(workers, session, "a.db", "INSERT INTO t VALUES (1)", "7,1,1");
    using turn = await session.turn("a.db", "INSERT INTO t VALUES (2)", false);
    const answered = turn.run("a.db", "INSERT INTO t VALUES (2)");
    const closed = pool.closeDatabase("a.db"); // while the write is on its way
    workers[0]!.answer({ kind: "sqlError", code: 19, message: "m", pinned: false, counters: "8,1,2" });
    await answered;
    workers[0]!.step();
    await closed;
    // The handle that counted 8 is gone: the next write starts from nothing, as a new handle would.
    expect((await runOne(workers, session, "a.db", "INSERT INTO t VALUES (3)", "1,1,1")).request).toMatchObject({ write: { counters: "0,0,0" } });
  });
});
