// Each connection is one SQLite session: transactions span requests, TEMP tables and
// PRAGMAs are its own, and closing it releases everything it held.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect, query, startServer, type Server } from "./harness";

const EMPTY = '{"columns":[],"data":[]}';
let server: Server;
beforeAll(async () => {
  server = await startServer(["--workers", "2", "--busy-timeout", "200"]);
});
afterAll(async () => {
  await server[Symbol.asyncDispose]();
});

const count = async (client: { request(b: string): Promise<string> }, db: string) =>
  JSON.parse(await client.request(query(db, "SELECT COUNT(*) AS n FROM t"))).data[0].n;

describe("sessions", () => {
  test("a transaction spans requests and is invisible to other connections until COMMIT", async () => {
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    expect(await a.request(query("tx.db", "CREATE TABLE t(id INTEGER)"))).toBe(EMPTY);
    expect(await a.request(query("tx.db", "BEGIN"))).toBe(EMPTY);
    expect(await a.request(query("tx.db", "INSERT INTO t VALUES (1),(2)"))).toBe(EMPTY);
    expect(await count(a, "tx.db")).toBe(2);
    expect(await count(b, "tx.db")).toBe(0);
    expect(await a.request(query("tx.db", "COMMIT"))).toBe(EMPTY);
    expect(await count(b, "tx.db")).toBe(2);
  });

  test("TEMP tables and PRAGMAs belong to one connection", async () => {
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    await a.request(query("temp.db", "CREATE TEMP TABLE scratch(v)"));
    await a.request(query("temp.db", "PRAGMA cache_size=-1234"));
    expect(await a.request(query("temp.db", "SELECT COUNT(*) AS n FROM scratch"))).toBe('{"columns":["n"],"data":[{"n":0}]}');
    expect(JSON.parse(await b.request(query("temp.db", "SELECT COUNT(*) AS n FROM scratch")))).toMatchObject({
      error_code: 1,
      error_message: "no such table: scratch",
    });
    expect(await a.request(query("temp.db", "PRAGMA cache_size"))).toBe('{"columns":["cache_size"],"data":[{"cache_size":-1234}]}');
    expect(await b.request(query("temp.db", "PRAGMA cache_size"))).not.toContain("-1234");
  });

  test("every handle is tuned: WAL, busy_timeout from the flag, synchronous=NORMAL, foreign_keys off", async () => {
    await using a = await connect(server.port);
    expect(await a.request(query("tune.db", "PRAGMA journal_mode"))).toBe('{"columns":["journal_mode"],"data":[{"journal_mode":"wal"}]}');
    expect(await a.request(query("tune.db", "PRAGMA busy_timeout"))).toBe('{"columns":["timeout"],"data":[{"timeout":200}]}');
    expect(await a.request(query("tune.db", "PRAGMA synchronous"))).toBe('{"columns":["synchronous"],"data":[{"synchronous":1}]}');
    expect(await a.request(query("tune.db", "PRAGMA foreign_keys"))).toBe('{"columns":["foreign_keys"],"data":[{"foreign_keys":0}]}');
  });

  test("a connection that drops mid-transaction rolls back and releases its lock", async () => {
    await using setup = await connect(server.port);
    await setup.request(query("drop.db", "CREATE TABLE t(id INTEGER)"));
    {
      await using holder = await connect(server.port);
      await holder.request(query("drop.db", "BEGIN IMMEDIATE"));
      await holder.request(query("drop.db", "INSERT INTO t VALUES (1)"));
      // While it holds the write lock, another writer times out (busy_timeout 200 ms).
      expect(JSON.parse(await setup.request(query("drop.db", "INSERT INTO t VALUES (2)")))).toMatchObject({ error_code: 5 });
    } // the holder disconnects here
    // The next write must succeed once the server has closed the holder's handle.
    let response = "";
    for (let attempt = 0; attempt < 50; attempt++) {
      response = await setup.request(query("drop.db", "INSERT INTO t VALUES (3)"));
      if (response === EMPTY) break;
    }
    expect(response).toBe(EMPTY);
    expect(await count(setup, "drop.db")).toBe(1); // the holder's row was rolled back
  });

  test("last_insert_rowid() and changes() carry across requests", async () => {
    await using a = await connect(server.port);
    await a.request(query("rowid.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"));
    await a.request(query("rowid.db", "INSERT INTO t(v) VALUES ('a'),('b')"));
    expect(await a.request(query("rowid.db", "SELECT last_insert_rowid() AS id, changes() AS c"))).toBe(
      '{"columns":["id","c"],"data":[{"c":2,"id":2}]}',
    );
  });

  test("a PRAGMA keeps the session's later reads on its own handle", async () => {
    // Reads from sessions without state may run on shared reader handles; this one has state.
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    expect(await a.request(query("like.db", "PRAGMA case_sensitive_like = ON"))).toBe(EMPTY);
    for (let i = 0; i < 5; i++) {
      expect(await a.request(query("like.db", "SELECT 'a' LIKE 'A' AS m"))).toBe('{"columns":["m"],"data":[{"m":0}]}');
      expect(await b.request(query("like.db", "SELECT 'a' LIKE 'A' AS m"))).toBe('{"columns":["m"],"data":[{"m":1}]}');
    }
  });

  test("a write that looks like a query runs on the session's handle, counters intact", async () => {
    await using a = await connect(server.port);
    await a.request(query("cte.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"));
    expect(await a.request(query("cte.db", "WITH x(v) AS (VALUES (5), (6)) INSERT INTO t(v) SELECT v FROM x"))).toBe(EMPTY);
    expect(await a.request(query("cte.db", "SELECT last_insert_rowid() AS id, changes() AS c"))).toBe(
      '{"columns":["id","c"],"data":[{"c":2,"id":2}]}',
    );
  });

  test("a view that asks for the counters gives the session's own, not a shared handle's", async () => {
    await using a = await connect(server.port);
    await a.request(query("view.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"));
    await a.request(query("view.db", "CREATE VIEW counters AS SELECT last_insert_rowid() AS id, changes() AS c"));
    await a.request(query("view.db", "INSERT INTO t(v) VALUES ('a'),('b'),('c')"));
    expect(await a.request(query("view.db", "SELECT * FROM counters"))).toBe('{"columns":["id","c"],"data":[{"c":3,"id":3}]}');
  });

  test("connections writing side by side on shared handles each keep their own counters", async () => {
    // The table is made by a third connection, so a and b start with no handle of their own.
    await using setup = await connect(server.port);
    await setup.request(query("side.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"));
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    const counters = (client: typeof a) =>
      client.request(query("side.db", "SELECT last_insert_rowid() AS id, changes() AS c, total_changes() AS t"));
    await a.request(query("side.db", "INSERT INTO t(v) VALUES ('a1')"));
    await b.request(query("side.db", "INSERT INTO t(v) VALUES ('b1'), ('b2')"));
    await a.request(query("side.db", "UPDATE t SET v = v WHERE id <= 3"));
    await b.request(query("side.db", "INSERT INTO t(id, v) VALUES (1, 'taken')")); // fails: no change
    expect(await a.request(query("side.db", "SELECT COUNT(*) AS n FROM t"))).toBe('{"columns":["n"],"data":[{"n":3}]}');
    expect(await a.request(query("side.db", "DELETE FROM t WHERE id = 99"))).toBe(EMPTY);
    expect(await a.request(query("side.db", "UPDATE t SET v = v WHERE id = 1"))).toBe(EMPTY);
    expect(await counters(a)).toBe('{"columns":["id","c","t"],"data":[{"c":1,"id":1,"t":5}]}');
    expect(await counters(b)).toBe('{"columns":["id","c","t"],"data":[{"c":0,"id":3,"t":2}]}');
    // Now on their own handles, they go on from there.
    await a.request(query("side.db", "INSERT INTO t(v) VALUES ('a2')"));
    expect(await counters(a)).toBe('{"columns":["id","c","t"],"data":[{"c":1,"id":4,"t":6}]}');
    expect(await counters(b)).toBe('{"columns":["id","c","t"],"data":[{"c":0,"id":3,"t":2}]}');
  });

  test("the readers' private database is never seen by a session", async () => {
    await using setup = await connect(server.port);
    await setup.request(query("private.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"));
    await using a = await connect(server.port);
    await a.request(query("private.db", "INSERT INTO t(v) VALUES ('a')")); // on a reader, which attaches it
    expect(await a.request(query("private.db", "SELECT name FROM pragma_database_list"))).toBe('{"columns":["name"],"data":[{"name":"main"}]}');
    expect(JSON.parse(await a.request(query("private.db", "SELECT * FROM sqlite3_server_rows")))).toMatchObject({ error_code: 1 });
  });

  test("DELETE_DB resets the counters of connections that wrote on shared handles", async () => {
    await using setup = await connect(server.port);
    await setup.request(query("reset.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v)"));
    await using a = await connect(server.port);
    await a.request(query("reset.db", "INSERT INTO t(v) VALUES ('a'), ('b')"));
    expect(await setup.request('{"cmd":"DELETE_DB","db":"reset.db"}')).toBe('{"result":"ok"}');
    expect(await a.request(query("reset.db", "SELECT last_insert_rowid() AS id, changes() AS c, total_changes() AS t"))).toBe(
      '{"columns":["id","c","t"],"data":[{"c":0,"id":0,"t":0}]}',
    );
  });

  test("a connection reads its own writes at once, in and out of transactions", async () => {
    await using a = await connect(server.port);
    await a.request(query("own.db", "CREATE TABLE t(v)"));
    for (let i = 1; i <= 5; i++) {
      await a.request(query("own.db", `INSERT INTO t VALUES (${i})`));
      expect(await a.request(query("own.db", "SELECT COUNT(*) AS n FROM t"))).toBe(`{"columns":["n"],"data":[{"n":${i}}]}`);
    }
    await a.request(query("own.db", "BEGIN"));
    await a.request(query("own.db", "DELETE FROM t"));
    expect(await a.request(query("own.db", "SELECT COUNT(*) AS n FROM t"))).toBe('{"columns":["n"],"data":[{"n":0}]}');
    await a.request(query("own.db", "ROLLBACK"));
    expect(await a.request(query("own.db", "SELECT COUNT(*) AS n FROM t"))).toBe('{"columns":["n"],"data":[{"n":5}]}');
  });

  test("a connection's own handle knows the schema its reads elsewhere saw: no stale DROP ... IF EXISTS waits for a lock", async () => {
    await using b = await connect(server.port);
    await using a = await connect(server.port);
    await using c = await connect(server.port);
    expect(await b.request(query("schema.db", "CREATE TABLE t(x)"))).toBe(EMPTY); // b's own handle
    expect(await b.request(query("schema.db", "CREATE VIEW v AS SELECT 1 AS one"))).toBe(EMPTY);
    expect(await a.request(query("schema.db", "DROP VIEW v"))).toBe(EMPTY);
    // On one sqlite3 connection this read would load the schema without v; here it runs on a reader.
    expect(await b.request(query("schema.db", "SELECT x FROM t"))).toBe('{"columns":["x"],"data":[]}');
    expect(await c.request(query("schema.db", "BEGIN IMMEDIATE"))).toBe(EMPTY);
    try {
      // Compiled against a schema that still had v, this would be a real DROP, waiting for c's lock.
      expect(await b.request(query("schema.db", "DROP VIEW IF EXISTS v"))).toBe(EMPTY);
    } finally {
      await c.request(query("schema.db", "COMMIT"));
    }
  });

  test("a new database file is created in the folder on first QUERY", async () => {
    await using a = await connect(server.port);
    await a.request(query("fresh.db", "SELECT 1"));
    expect(existsSync(join(server.folder, "fresh.db"))).toBe(true);
  });
});
