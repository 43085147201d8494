// A reader's shared handles are capped: past the cap, the least recently used one is closed,
// so that a server whose clients read thousands of databases keeps a bounded number open.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sessions, type SessionReply } from "../../src/sessions";
import { openDatabases } from "../open-databases";

let folder = "";
beforeEach(() => {
  folder = realpathSync(mkdtempSync(join(tmpdir(), "sqlite3-server-handles-")));
});
afterEach(() => rmSync(folder, { recursive: true, force: true }));

function text(reply: SessionReply): string {
  if (reply.kind !== "rowsUtf8") throw new Error(`unexpected reply: ${reply.kind}`);
  return Buffer.concat(reply.pieces).toString();
}

test("past the cap, the least recently used shared handle is closed", () => {
  const sessions = new Sessions(folder, 1000, null, 3);
  const read = (db: string) => text(sessions.shared(db, "SELECT 1 AS one", null));
  try {
    for (const db of ["a.db", "b.db", "c.db"]) read(db);
    expect(openDatabases("self", folder)).toEqual(["a.db", "b.db", "c.db"]);
    read("a.db"); // now b.db is the least recently used
    read("d.db");
    expect(openDatabases("self", folder)).toEqual(["a.db", "c.db", "d.db"]);
    expect(read("b.db")).toBe('{"columns":["one"],"data":[{"one":1}]}'); // reopened, in place of c.db
    expect(openDatabases("self", folder)).toEqual(["a.db", "b.db", "d.db"]);
  } finally {
    sessions.closeAll();
  }
  expect(openDatabases("self", folder)).toEqual([]);
});

test("a database whose shared handle was closed reads the same when opened again", () => {
  for (const name of ["x.db", "y.db"]) {
    const db = new Database(join(folder, name));
    db.run("CREATE TABLE t (v)");
    db.run("INSERT INTO t VALUES (?)", [name]);
    db.close();
  }
  const sessions = new Sessions(folder, 1000, null, 1);
  const read = (db: string) => text(sessions.shared(db, "SELECT v FROM t", null));
  try {
    expect(read("x.db")).toBe('{"columns":["v"],"data":[{"v":"x.db"}]}');
    expect(read("y.db")).toBe('{"columns":["v"],"data":[{"v":"y.db"}]}');
    expect(openDatabases("self", folder)).toEqual(["y.db"]);
    expect(read("x.db")).toBe('{"columns":["v"],"data":[{"v":"x.db"}]}');
  } finally {
    sessions.closeAll();
  }
});

test("a session's own handles are not capped: they belong to its connection", () => {
  const sessions = new Sessions(folder, 1000, null, 1);
  try {
    for (const db of ["a.db", "b.db", "c.db"]) text(sessions.query(1, db, "SELECT 1"));
    expect(openDatabases("self", folder)).toEqual(["a.db", "b.db", "c.db"]);
  } finally {
    sessions.closeAll();
  }
});

test("shared handles unused for a while are closed; those used since stay open", () => {
  const sessions = new Sessions(folder, 1000, null);
  const read = (db: string) => text(sessions.shared(db, "SELECT 1 AS one", null));
  try {
    read("a.db");
    read("b.db");
    const mid = performance.now();
    read("a.db"); // used again: now b.db is idle longest
    read("c.db");
    const now = performance.now();
    sessions.closeIdleShared(now, 10 * (now - mid));
    expect(openDatabases("self", folder)).toEqual(["a.db", "b.db", "c.db"]);
    sessions.closeIdleShared(now, now - mid); // b.db was last used before mid, a.db and c.db after
    expect(openDatabases("self", folder)).toEqual(["a.db", "c.db"]);
    sessions.closeIdleShared(now + 1, 1);
    expect(openDatabases("self", folder)).toEqual([]);
    expect(read("b.db")).toBe('{"columns":["one"],"data":[{"one":1}]}');
  } finally {
    sessions.closeAll();
  }
});

test("a shared write on a database whose handle was closed carries the session's counters to the new one", () => {
  const sessions = new Sessions(folder, 1000, null, 1);
  const write = (db: string, sql: string, counters: string) => sessions.shared(db, sql, { counters, since: Date.now() });
  try {
    expect(text(sessions.query(1, "x.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v)"))).toBe('{"columns":[],"data":[]}');
    sessions.endSession(1);
    const first = write("x.db", "INSERT INTO t (id, v) VALUES (41, 'a')", "0,0,0");
    expect(first.kind === "rowsUtf8" && first.counters).toBe("41,1,1");
    text(sessions.shared("y.db", "SELECT 1", null)); // closes x.db's shared handle
    expect(openDatabases("self", folder)).toEqual(["y.db"]);
    const second = write("x.db", "UPDATE t SET v = 'b' WHERE id = 41", first.kind === "rowsUtf8" ? first.counters! : "");
    expect(second.kind === "rowsUtf8" && second.counters).toBe("41,1,2");
  } finally {
    sessions.closeAll();
  }
});
