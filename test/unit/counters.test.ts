// A session that writes on shared handles must see exactly the counters its own connection
// would: last_insert_rowid(), changes() and total_changes(). Checked against real SQLite
// connections, one per session, given the same statements in the same order.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { attachPrivate, formatCounters, parseCounters, readCounters, setCounters, type Counters } from "../../src/counters";
import { Sessions } from "../../src/sessions";

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function folderWith(schema: string): string {
  const folder = mkdtempSync(join(tmpdir(), "counters-"));
  folders.push(folder);
  const db = new Database(join(folder, "d.db"));
  db.exec(schema);
  db.close();
  return folder;
}

/** A shared write as the pool sends it: the session's counters, sent just now. */
const writeNow = (counters: string) => ({ counters, since: Date.now() });

const MAX = 9223372036854775807n;
const MIN = -MAX - 1n;

describe("setCounters", () => {
  const targets: Counters[] = [];
  for (const lastInsertRowid of [0n, 1n, 7n, -5n, MAX, MIN]) {
    for (const changes of [0n, 1n, 3n]) {
      for (const extra of [0n, 1n, 2n, 70_000n]) targets.push({ lastInsertRowid, changes, totalChanges: changes + extra });
    }
  }
  targets.push({ lastInsertRowid: 9n, changes: 0n, totalChanges: 0n }); // a multi-row INSERT that failed

  test("sets a fresh handle to any counters a connection can have", () => {
    for (const target of targets) {
      const handle = new Database(":memory:", { safeIntegers: true });
      attachPrivate(handle);
      setCounters(handle, target, false);
      expect(formatCounters(readCounters(handle))).toBe(formatCounters(target));
      handle.close();
    }
  });

  test("sets a handle in use again and again, leaving its total alone when asked", () => {
    const handle = new Database(":memory:", { safeIntegers: true });
    attachPrivate(handle);
    for (const target of targets) {
      const total = readCounters(handle).totalChanges;
      setCounters(handle, target, true);
      const now = readCounters(handle);
      expect([now.lastInsertRowid, now.changes]).toEqual([target.lastInsertRowid, target.changes]);
      expect(now.totalChanges).toBeGreaterThanOrEqual(total);
    }
    handle.close();
  });

  test("refuses to make total_changes() go down", () => {
    const handle = new Database(":memory:", { safeIntegers: true });
    attachPrivate(handle);
    setCounters(handle, { lastInsertRowid: 1n, changes: 1n, totalChanges: 5n }, false);
    expect(() => setCounters(handle, { lastInsertRowid: 1n, changes: 1n, totalChanges: 4n }, false)).toThrow("cannot go down");
    handle.close();
  });
});

describe("sessions writing on a shared handle", () => {
  const schema = `
    CREATE TABLE t(id INTEGER PRIMARY KEY, v UNIQUE);
    CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
    CREATE TABLE log(x);
    CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END;
  `;
  /** Statements whose effect on the counters varies: failures, upserts, WITHOUT ROWID, triggers, RETURNING. */
  const statements = (n: number): string[] => [
    `INSERT INTO t(v) VALUES (${n % 40})`,
    `INSERT OR IGNORE INTO t(v) VALUES (${n % 40})`,
    `INSERT OR REPLACE INTO t(id, v) VALUES (${n % 7}, 'r${n}')`,
    `INSERT INTO t(v) VALUES ('m${n}'), (${n % 40})`,
    `INSERT INTO t(v) VALUES ('a${n}') ON CONFLICT(v) DO UPDATE SET v = excluded.v || 'x'`,
    `INSERT INTO w VALUES ('k${n % 5}', ${n}) ON CONFLICT(k) DO UPDATE SET v = excluded.v`,
    `UPDATE t SET v = v || '' WHERE id % 3 = ${n % 3}`,
    `UPDATE t SET v = 'never' WHERE id < 0`,
    `DELETE FROM t WHERE id = ${n % 9}`,
    `DELETE FROM log WHERE x % 5 = ${n % 5}`,
    `WITH s(i) AS (VALUES (1), (2)) INSERT INTO t(v) SELECT 'w${n}-' || i FROM s`,
    `INSERT INTO t(v) VALUES ('ret${n}') RETURNING id`,
    `INSERT INTO nowhere VALUES (1)`,
    `SELECT count(*) FROM t`,
  ];

  test("see the counters their own connections would, before and after moving to their own handle", () => {
    const shared = folderWith(schema);
    const reference = folderWith(schema);
    const sessions = new Sessions(shared, 1000);
    const sessionCount = 4;
    const state = Array.from({ length: sessionCount }, (_, i) => ({
      own: false,
      counters: "0,0,0",
      reference: new Database(join(reference, "d.db"), { safeIntegers: true }),
      // Each session moves to its own handle at a different point (or never).
      movesAt: [40, 150, 320, -1][i]!,
    }));
    let seed = 12345;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);

    for (let step = 0; step < 400; step++) {
      const id = random(sessionCount);
      const s = state[id]!;
      const sql = statements(step)[random(14)]!;
      let expected: string;
      try {
        s.reference.query(sql).all();
        expected = "ok";
      } catch {
        expected = "error";
      }
      const reply = s.own ? sessions.query(id + 1, "d.db", sql) : sessions.shared("d.db", sql, writeNow(s.counters));
      expect([sql, reply.kind === "sqlError" ? "error" : "ok"]).toEqual([sql, expected]);
      if (!s.own && (reply.kind === "rowsUtf8" || reply.kind === "sqlError") && reply.counters !== null) s.counters = reply.counters;
      const truth = formatCounters(readCounters(s.reference));
      if (!s.own) expect([sql, s.counters]).toEqual([sql, truth]);

      if (step >= s.movesAt && s.movesAt >= 0 && !s.own) {
        s.own = true;
        const check = sessions.query(id + 1, "d.db", "SELECT last_insert_rowid() || ',' || changes() || ',' || total_changes() AS c", s.counters);
        expect(check.kind).toBe("rowsUtf8");
        const text = check.kind === "rowsUtf8" ? new TextDecoder().decode(Buffer.concat(check.pieces)) : "";
        expect(JSON.parse(text).data[0].c).toBe(truth);
      } else if (s.own) {
        const check = sessions.query(id + 1, "d.db", "SELECT 1");
        expect(check.kind).toBe("rowsUtf8");
      }
    }
    // Every kind of statement ran on the shared handle, by someone.
    expect(state.some((s) => !s.own)).toBe(true);
    sessions.closeAll();
    for (const s of state) s.reference.close();
  });

  test("a database whose triggers ask for the counters keeps writes on the session's own handle", () => {
    const folder = folderWith(`
      CREATE TABLE t(id INTEGER PRIMARY KEY, v);
      CREATE TABLE audit(last);
      CREATE TRIGGER t_audit AFTER INSERT ON t BEGIN INSERT INTO audit VALUES (last_insert_rowid()); END;
    `);
    const sessions = new Sessions(folder, 1000);
    expect(sessions.shared("d.db", "INSERT INTO t(v) VALUES (1)", writeNow("0,0,0")).kind).toBe("notReadOnly");
    expect(sessions.shared("d.db", "SELECT * FROM t", writeNow("0,0,0")).kind).toBe("rowsUtf8");
    sessions.closeAll();
  });

  test("a view another connection adds or drops is seen by the next read on a shared handle", () => {
    const folder = folderWith("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES (1);");
    const sessions = new Sessions(folder, 1000);
    const other = new Database(join(folder, "d.db")); // as another process would
    const kind = (sql: string) => sessions.shared("d.db", sql, null).kind;
    expect(kind("SELECT * FROM t")).toBe("rowsUtf8"); // the shared handle has judged the schema

    other.run("CREATE VIEW counters AS SELECT last_insert_rowid() AS id");
    expect(kind("SELECT * FROM counters")).toBe("notReadOnly");
    expect(kind("SELECT * FROM t")).toBe("notReadOnly"); // judged per database, not per statement

    other.run("DROP VIEW counters");
    other.run("CREATE VIEW plain AS SELECT v FROM t");
    expect(kind("SELECT * FROM plain")).toBe("rowsUtf8");
    // Data committed elsewhere is no schema change: reads go on here, and see it.
    other.run("INSERT INTO t(v) VALUES (2)");
    const reply = sessions.shared("d.db", "SELECT COUNT(*) AS n FROM t", null);
    expect(reply.kind === "rowsUtf8" && new TextDecoder().decode(Buffer.concat(reply.pieces))).toBe('{"columns":["n"],"data":[{"n":2}]}');
    other.close();
    sessions.closeAll();
  });

  test("a shared handle never runs a statement that would leave state behind", () => {
    const folder = folderWith("CREATE TABLE t(id INTEGER PRIMARY KEY, v);");
    const sessions = new Sessions(folder, 1000);
    for (const sql of ["BEGIN", "CREATE TABLE u(x)", "PRAGMA user_version = 3", "SAVEPOINT a", "DROP TABLE t"]) {
      expect([sql, sessions.shared("d.db", sql, writeNow("0,0,0")).kind]).toEqual([sql, "notReadOnly"]);
    }
    // A session whose last statement changed many rows writes on its own handle, as does one
    // that has changed so many in all that setting its own handle to them would take long.
    expect(sessions.shared("d.db", "INSERT INTO t(v) VALUES (1)", writeNow("0,100000,100000")).kind).toBe("notReadOnly");
    expect(sessions.shared("d.db", "INSERT INTO t(v) VALUES (1)", writeNow("0,1,100001")).kind).toBe("notReadOnly");
    expect(sessions.shared("d.db", "INSERT INTO t(v) VALUES (1)", writeNow("0,1,100000")).kind).toBe("rowsUtf8");
    sessions.closeAll();
  });
});

test("counters cross threads as text, exactly", () => {
  const counters = { lastInsertRowid: MIN, changes: 4096n, totalChanges: 9007199254740993n };
  expect(parseCounters(formatCounters(counters))).toEqual(counters);
});
