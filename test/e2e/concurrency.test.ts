// The statement cap (--workers), the rule that a waiting or slow statement holds up no other
// connection while the cap is not reached, DELETE_DB against live handles, and many clients.

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect, count, query, roundTrip, startServer, type Client } from "./harness";

const EMPTY = '{"columns":[],"data":[]}';

/** Resolves with the labels of the responses, in the order they arrived. */
function arrivalOrder(requests: [string, Promise<string>][]): Promise<string[]> {
  const order: string[] = [];
  return Promise.all(requests.map(([label, response]) => response.then(() => order.push(label)))).then(() => order);
}

/** A connection holding the write lock on `db` (BEGIN EXCLUSIVE, committed by the caller). */
async function lockHolder(port: number, db: string): Promise<Client> {
  const holder = await connect(port);
  expect(await holder.request(query(db, "CREATE TABLE IF NOT EXISTS t(v)"))).toBe(EMPTY);
  expect(await holder.request(query(db, "BEGIN EXCLUSIVE"))).toBe(EMPTY);
  return holder;
}


/** With --workers 2, both readers busy: a long read on the first, a shorter one on the second. */
async function busyReaders(port: number, long: number) {
  const slow = await connect(port);
  const medium = await connect(port);
  const slowAnswer = slow.request(query("a.db", count(long)));
  await roundTrip(port);
  const mediumAnswer = medium.request(query("b.db", count(300_000)));
  await roundTrip(port);
  return {
    slow,
    slowAnswer,
    mediumAnswer,
    async [Symbol.asyncDispose]() {
      await slow[Symbol.asyncDispose]();
      await medium[Symbol.asyncDispose]();
    },
  };
}

describe("concurrency", () => {
  test("a statement waiting on a lock holds up no other connection while permits are free", async () => {
    await using server = await startServer(["--workers", "2", "--busy-timeout", "2000"]);
    await using holder = await lockHolder(server.port, "locked.db");
    await using waiter = await connect(server.port);
    await using other = await connect(server.port);
    const waiting = waiter.request(query("locked.db", "INSERT INTO t VALUES (1)"));
    await roundTrip(server.port);
    const fast = other.request(query("other.db", "SELECT 1 AS one"));
    expect(await fast).toBe('{"columns":["one"],"data":[{"one":1}]}');
    // The waiter is still waiting: release it, and it succeeds.
    expect(await holder.request(query("locked.db", "COMMIT"))).toBe(EMPTY);
    expect(await waiting).toBe(EMPTY);
  });

  test("past 256 session Workers, a write waiting on a shared Worker holds up no COMMIT there", async () => {
    await using server = await startServer(["--workers", "4", "--busy-timeout", "30000"]);
    await using closing = new AsyncDisposableStack();
    // A PRAGMA gives each connection a session Worker of its own, up to 256 of them.
    const stateful: Client[] = [];
    for (let i = 0; i < 256; i++) {
      stateful.push(closing.use(await connect(server.port)));
      expect(await stateful[i]!.request(query("x.db", "PRAGMA foreign_keys=ON"))).toBe(EMPTY);
    }
    // The 257th connection shares the least-loaded session Worker: the first connection's.
    await using holder = await lockHolder(server.port, "locked.db");
    await server.waitFor(/all 256 session Workers are in use/);
    const waiting = stateful[0]!.request(query("locked.db", "INSERT INTO t VALUES (1)"));
    await roundTrip(server.port);
    // Before, the COMMIT waited behind that INSERT asleep in SQLite's busy handler: 30 s, then it failed.
    expect(await holder.request(query("locked.db", "COMMIT"))).toBe(EMPTY);
    expect(await waiting).toBe(EMPTY);
  }, 60_000);

  test("writes waiting for a lock never hold up the lock holder's own writes", async () => {
    await using server = await startServer(["--workers", "3", "--busy-timeout", "30000"]);
    await using holder = await lockHolder(server.port, "gate.db");
    await using first = await connect(server.port);
    await using second = await connect(server.port);
    // The first waits in SQLite's busy handler; the second waits in line behind it (or, on
    // another Worker, at the write gate).
    const waiting = first.request(query("gate.db", "INSERT INTO t VALUES (1)"));
    await roundTrip(server.port);
    const behind = second.request(query("gate.db", "INSERT INTO t VALUES (2)"));
    await roundTrip(server.port);
    // Inside its transaction the holder passes the gate: waiting there would wait on itself.
    expect(await holder.request(query("gate.db", "INSERT INTO t VALUES (0)"))).toBe(EMPTY);
    expect(await holder.request(query("gate.db", "COMMIT"))).toBe(EMPTY);
    expect([await waiting, await behind]).toEqual([EMPTY, EMPTY]);
    expect(await holder.request(query("gate.db", "SELECT count(*) AS n FROM t"))).toBe('{"columns":["n"],"data":[{"n":3}]}');
  });

  test("a slow statement holds up no other connection while permits are free", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using slow = await connect(server.port);
    await using other = await connect(server.port);
    const heavy = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000000) SELECT COUNT(*) AS n FROM c";
    const order = arrivalOrder([
      ["slow", slow.request(query("slow.db", heavy))],
      ["fast", roundTrip(server.port).then(() => other.request(query("fast.db", "SELECT 1")))],
    ]);
    expect(await order).toEqual(["fast", "slow"]);
  });

  test("a read queued behind a slow one moves to the reader that frees up first", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using fast = await connect(server.port);
    await using busy = await busyReaders(server.port, 6_000_000);
    const { slowAnswer, mediumAnswer } = busy;
    // No permit is free, so this read queues behind a busy reader: on a tie, the first one,
    // behind the slow statement. When the medium one ends, its permit frees and it must move.
    const order = await arrivalOrder([
      ["slow", slowAnswer],
      ["medium", mediumAnswer],
      ["fast", fast.request(query("c.db", "SELECT 1"))],
    ]);
    expect(order).toEqual(["medium", "fast", "slow"]);
  });

  test("a read does not overtake a write that waits for a permit", async () => {
    await using server = await startServer(["--workers", "1"]);
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect(server.port)));
    try {
      const [slow, w1, r1, r2, w2, r3] = clients as [Client, Client, Client, Client, Client, Client];
      const sent: [string, Promise<string>][] = [];
      const send = async (label: string, client: Client, db: string, sql: string) => {
        sent.push([label, client.request(query(db, sql))]);
        await roundTrip(server.port); // the server has it before the next is sent
      };
      await send("slow", slow, "a.db", count(2_000_000)); // holds the only permit
      await send("w1", w1, "w1.db", "CREATE TABLE t(v)"); // waits for it
      // The reader busy with the slow read could take these too, but the write came first.
      await send("r1", r1, "r.db", "SELECT 1");
      await send("r2", r2, "r.db", "SELECT 2");
      await send("w2", w2, "w2.db", "CREATE TABLE t(v)");
      await send("r3", r3, "r.db", "SELECT 3");
      const order = await arrivalOrder(sent);
      expect(order.slice(0, 2)).toEqual(["slow", "w1"]);
      expect(order.slice(2, 4).sort()).toEqual(["r1", "r2"]);
      expect(order.slice(4)).toEqual(["w2", "r3"]);
    } finally {
      for (const client of clients) await client[Symbol.asyncDispose]();
    }
  });

  /**
   * Two writers wait on a lock, each holding a permit until its busy timeout ends; then a
   * third, trivial statement on another database. Returns the order the three answers came
   * in, and the writers' answers.
   */
  /** Two writes stuck on locks held by other connections' transactions, then a read of another database. */
  async function twoWaitersAndAThird(workers: number, busyTimeoutMs: number, dbs = ["cap1.db", "cap2.db"]) {
    await using server = await startServer(["--workers", String(workers), "--busy-timeout", String(busyTimeoutMs)]);
    await using holder1 = await lockHolder(server.port, dbs[0]!);
    await using holder2 = dbs[1] === dbs[0] ? null : await lockHolder(server.port, dbs[1]!);
    await using w1 = await connect(server.port);
    await using w2 = await connect(server.port);
    await using third = await connect(server.port);
    const first = w1.request(query(dbs[0]!, "INSERT INTO t VALUES (1)"));
    const second = w2.request(query(dbs[1]!, "INSERT INTO t VALUES (2)"));
    await roundTrip(server.port);
    const order = await arrivalOrder([
      ["w1", first],
      ["w2", second],
      ["third", third.request(query("free.db", "SELECT 1"))],
    ]);
    for (const holder of [holder1, holder2]) await holder?.request(query(dbs[0]!, "COMMIT"));
    return { order, writers: [JSON.parse(await first), JSON.parse(await second)] };
  }

  test("at most --workers statements execute at once; the next waits for a permit", async () => {
    const { order, writers } = await twoWaitersAndAThird(2, 700);
    expect(order[0]).not.toBe("third"); // it had to wait for a writer's permit
    for (const writer of writers) expect(writer).toMatchObject({ error_code: 5, error_message: "database is locked" });
  });

  test("with one more permit, the same third statement does not wait", async () => {
    const { order } = await twoWaitersAndAThird(3, 1500);
    expect(order[0]).toBe("third");
  });

  test("writes to one locked database wait in line on one permit, not on all of them", async () => {
    const { order, writers } = await twoWaitersAndAThird(2, 700, ["line.db", "line.db"]);
    expect(order[0]).toBe("third");
    for (const writer of writers) expect(writer).toMatchObject({ error_code: 5, error_message: "database is locked" });
  });

  test("a write in line behind a stuck one waits busy_timeout from its arrival, not after the one before", async () => {
    await using server = await startServer(["--workers", "2", "--busy-timeout", "1500"]);
    await using holder = await lockHolder(server.port, "stuck.db");
    const writers = await Promise.all([1, 2, 3].map(() => connect(server.port)));
    const started = performance.now();
    const failedAfter = await Promise.all(
      writers.map((w, i) => w.request(query("stuck.db", `INSERT INTO t VALUES (${i})`)).then((answer) => [answer, performance.now() - started] as const)),
    );
    for (const [answer, ms] of failedAfter) {
      expect(JSON.parse(answer)).toMatchObject({ error_code: 5 });
      expect(ms).toBeLessThan(2 * 1500); // in turn, the third would take 3 × 1500 ms
    }
    await holder.request(query("stuck.db", "COMMIT"));
    for (const w of writers) await w[Symbol.asyncDispose]();
  });

  test("a connection that closes while its QUERY waits for a permit costs nothing else", async () => {
    // Found by the fuzzer: the waiting QUERY resumed after its connection closed and crashed the server.
    await using server = await startServer(["--workers", "1", "--busy-timeout", "300"]);
    await using holder = await lockHolder(server.port, "wait.db");
    await using blocked = await connect(server.port);
    const blockedWrite = blocked.request(query("wait.db", "INSERT INTO t VALUES (1)")); // holds the only permit
    await roundTrip(server.port);
    {
      await using leaver = await connect(server.port);
      leaver.send(query("other.db", "SELECT 1")); // waits for the permit...
      await roundTrip(server.port);
    } // ...and its connection closes meanwhile
    expect(JSON.parse(await blockedWrite)).toMatchObject({ error_code: 5 });
    expect(await holder.request(query("wait.db", "COMMIT"))).toBe(EMPTY);
    await using after = await connect(server.port);
    expect(await after.request(query("other.db", "SELECT 2 AS two"))).toBe('{"columns":["two"],"data":[{"two":2}]}');
    expect(server.output()).not.toContain("ERROR");
  });

  test("DELETE_DB closes other connections' handles and removes the sidecars", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using owner = await connect(server.port);
    await using deleter = await connect(server.port);
    await owner.request(query("gone.db", "CREATE TABLE t(v)"));
    await owner.request(query("gone.db", "INSERT INTO t VALUES ('committed')"));
    await owner.request(query("gone.db", "BEGIN"));
    await owner.request(query("gone.db", "INSERT INTO t VALUES ('open')"));
    expect(existsSync(join(server.folder, "gone.db-wal"))).toBe(true);

    expect(await deleter.request('{"cmd":"DELETE_DB","db":"gone.db"}')).toBe('{"result":"ok"}');
    expect(readdirSync(server.folder).filter((f) => f.startsWith("gone.db"))).toEqual([]);

    // The owner's next statement opens a new, empty database: nothing old comes back.
    expect(JSON.parse(await owner.request(query("gone.db", "SELECT * FROM t")))).toMatchObject({
      error_code: 1,
      error_message: "no such table: t",
    });
    expect(await deleter.request('{"cmd":"DELETE_DB","db":"gone.db"}')).toBe('{"result":"ok"}');
    expect(await deleter.request('{"cmd":"DELETE_DB","db":"gone.db"}')).toBe('{"result":"error"}');
  });

  test("DELETE_DB closes the shared reader handles too: no read sees the deleted database", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using writer = await connect(server.port);
    await using first = await connect(server.port);
    await using second = await connect(server.port);
    const readers = [first, second];
    await writer.request(query("shared.db", "CREATE TABLE t(v)"));
    await writer.request(query("shared.db", "INSERT INTO t VALUES ('old')"));
    // Stateless reads, from two connections at once, so both reader Workers open a handle.
    for (let i = 0; i < 5; i++) {
      const answers = await Promise.all(readers.map((r) => r.request(query("shared.db", "SELECT v FROM t"))));
      for (const answer of answers) expect(answer).toBe('{"columns":["v"],"data":[{"v":"old"}]}');
    }
    expect(await writer.request('{"cmd":"DELETE_DB","db":"shared.db"}')).toBe('{"result":"ok"}');
    for (const reader of readers) {
      expect(JSON.parse(await reader.request(query("shared.db", "SELECT v FROM t")))).toMatchObject({ error_message: "no such table: t" });
    }
  });

  test("a read queued before DELETE_DB is not moved to a reader that has already closed the database", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using setup = await connect(server.port);
    expect(await setup.request(query("d.db", "CREATE TABLE t(v)"))).toBe(EMPTY);
    await using early = await connect(server.port);
    await using deleter = await connect(server.port);
    await using readers = await busyReaders(server.port, 5_000_000);
    const { slow, slowAnswer, mediumAnswer } = readers;
    const earlyAnswer = early.request(query("d.db", "SELECT COUNT(*) AS n FROM t")); // queued behind the slow one
    await roundTrip(server.port);
    const deleted = deleter.request('{"cmd":"DELETE_DB","db":"d.db"}');
    await Promise.all([slowAnswer, mediumAnswer]);
    expect(await earlyAnswer).toBe('{"columns":["n"],"data":[{"n":0}]}'); // it came before the deletion
    expect(await deleted).toBe('{"result":"ok"}');
    // Had the second reader run the early read after closing d.db, it would still hold the
    // deleted file open. Keep the first reader busy, so the next read goes to the second.
    const firstBusy = slow.request(query("a.db", count(3_000_000)));
    await roundTrip(server.port);
    expect(await early.request(query("d.db", "SELECT COUNT(*) AS n FROM sqlite_master"))).toBe('{"columns":["n"],"data":[{"n":0}]}');
    await firstBusy;
  });

  test("200 connections at once, each with its own session", async () => {
    await using server = await startServer(["--workers", "2"]);
    const clients = await Promise.all(Array.from({ length: 200 }, () => connect(server.port)));
    try {
      await clients[0]!.request(query("many.db", "CREATE TABLE t(id INTEGER)"));
      const answers = await Promise.all(
        clients.map(async (client, i) => {
          await client.request(query("many.db", "BEGIN"));
          await client.request(query("many.db", `CREATE TEMP TABLE mine AS SELECT ${i} AS id`));
          await client.request(query("many.db", "COMMIT"));
          return client.request(query("many.db", "SELECT id FROM mine"));
        }),
      );
      answers.forEach((answer, i) => expect(answer).toBe(`{"columns":["id"],"data":[{"id":${i}}]}`));
    } finally {
      for (const client of clients) client.close();
      await Promise.all(clients.map((c) => c.closed));
    }
  }, 60_000);
});
