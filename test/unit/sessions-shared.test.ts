// Sessions that share a Worker (past the cap on session Workers) must not wait for locks in
// it: a statement asleep in SQLite's busy handler would keep the Worker from running the
// COMMIT of another of its sessions that holds the lock, until busy_timeout.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WorkerReply } from "../../src/messages";
import { Semaphore } from "../../src/semaphore";
import { Sessions, type SessionReply } from "../../src/sessions";
import type { Session } from "../../src/session";
import { WorkerPool } from "../../src/worker-pool";

const BUSY_TIMEOUT_MS = 2000;
const EMPTY = '{"columns":[],"data":[]}';

let folder = "";
beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "sqlite3-server-shared-"));
});
afterEach(() => rmSync(folder, { recursive: true, force: true }));

/** A reply in short: the JSON of rows, `busy`, or `error <code> <message>`. */
function summary(reply: SessionReply | WorkerReply): string {
  switch (reply.kind) {
    case "rowsUtf8":
      return Buffer.concat(reply.pieces).toString();
    case "rows":
      return Buffer.concat(reply.frame).subarray(4).toString();
    case "sqlError":
      return `error ${reply.code} ${reply.message}`;
    default:
      return reply.kind;
  }
}

describe("a session on a shared Worker, in the Worker", () => {
  test("answers busy instead of waiting for a lock, until busy_timeout has passed since it was sent", () => {
    const sessions = new Sessions(folder, BUSY_TIMEOUT_MS);
    const run = (session: number, sql: string, sharedSince: number | null = Date.now()) => sessions.query(session, "a.db", sql, null, sharedSince);
    try {
      expect(summary(run(1, "CREATE TABLE t (v)"))).toBe(EMPTY);
      expect(summary(run(1, "BEGIN IMMEDIATE"))).toBe(EMPTY);
      // Asleep in the busy handler, this would have taken 2 s and failed: the lock is this thread's own.
      const busy = run(2, "INSERT INTO t VALUES (2)");
      expect(busy.kind).toBe("busy");
      expect(busy.kind === "busy" && busy.leftMs > 0 && busy.leftMs <= BUSY_TIMEOUT_MS).toBe(true);
      expect(summary(run(2, "INSERT INTO t VALUES (2)", Date.now() - BUSY_TIMEOUT_MS))).toBe("error 5 database is locked");
      expect(summary(run(2, "PRAGMA busy_timeout"))).toBe(`{"columns":["timeout"],"data":[{"timeout":${BUSY_TIMEOUT_MS}}]}`);
      expect(summary(run(1, "COMMIT"))).toBe(EMPTY);
      expect(summary(run(2, "INSERT INTO t VALUES (2)"))).toBe(EMPTY);
    } finally {
      sessions.closeAll();
    }
  });

  test("fails at once where SQLite's busy handler would not wait: a stale snapshot, a busy_timeout of 0", () => {
    const sessions = new Sessions(folder, BUSY_TIMEOUT_MS);
    const run = (session: number, sql: string) => sessions.query(session, "a.db", sql, null, Date.now());
    try {
      expect(summary(run(1, "CREATE TABLE t (v)"))).toBe(EMPTY);
      expect(summary(run(2, "BEGIN"))).toBe(EMPTY);
      expect(summary(run(2, "SELECT count(*) AS n FROM t"))).toBe('{"columns":["n"],"data":[{"n":0}]}');
      expect(summary(run(1, "INSERT INTO t VALUES (1)"))).toBe(EMPTY);
      // Session 2 read before that commit: no wait can let it write (SQLITE_BUSY_SNAPSHOT).
      expect(summary(run(2, "INSERT INTO t VALUES (2)"))).toBe("error 5 database is locked");
      expect(summary(run(2, "ROLLBACK"))).toBe(EMPTY);
      expect(summary(run(3, "PRAGMA busy_timeout=0"))).toBe('{"columns":["timeout"],"data":[{"timeout":0}]}');
      expect(summary(run(1, "BEGIN IMMEDIATE"))).toBe(EMPTY);
      expect(summary(run(3, "INSERT INTO t VALUES (3)"))).toBe("error 5 database is locked");
      expect(summary(run(1, "COMMIT"))).toBe(EMPTY);
    } finally {
      sessions.closeAll();
    }
  });
});

describe("sessions sharing a real Worker, through the pool", () => {
  test("one's COMMIT runs while another's write waits for its lock, and then that write succeeds", async () => {
    const pool = new WorkerPool({
      folder,
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      statements: new Semaphore(2),
      readers: 1,
      maxThreads: 1,
      keepIdle: 0,
      pollMs: 0,
      createWorker: () => new Worker(new URL("../../src/worker.ts", import.meta.url).href),
    });
    const own = async (session: Session, sql: string) => {
      using turn = await session.turn("a.db", sql, true);
      return summary(await turn.run("a.db", sql));
    };
    try {
      const holder = pool.openSession();
      const waiter = pool.openSession(); // the cap is one session Worker: it shares the holder's
      expect(await own(holder, "CREATE TABLE t (v)")).toBe(EMPTY);
      expect(await own(holder, "BEGIN IMMEDIATE")).toBe(EMPTY);
      expect(await own(holder, "INSERT INTO t VALUES (1)")).toBe(EMPTY);
      const order: string[] = [];
      const waiting = own(waiter, "INSERT INTO t VALUES (2)").then((reply) => (order.push("waiter"), reply));
      const committed = own(holder, "COMMIT").then((reply) => (order.push("holder"), reply));
      // Before, the COMMIT waited behind the waiter, which failed after busy_timeout.
      expect([await committed, await waiting]).toEqual([EMPTY, EMPTY]);
      expect(order).toEqual(["holder", "waiter"]);
      expect(await own(waiter, "SELECT count(*) AS n FROM t")).toBe('{"columns":["n"],"data":[{"n":2}]}');
    } finally {
      await pool.close(1000);
    }
  }, 10_000);
});
