// The server against plain SQLite connections. Behind one TCP connection the server runs a
// statement on a reader's shared handle or on the session's own, carries last_insert_rowid(),
// changes() and total_changes() between them, and moves the session to its own handle when
// it gains state; the contract is that none of this shows. So random statements from a few
// clients, one at a time, go both to the server and to one bun:sqlite connection per client
// and database (an oracle, on files of its own made by the same statements), and every
// response must be the same bytes. Deterministic for a seed; a mismatch prints the steps that led to it.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { removeDatabaseFiles } from "../../src/folder";
import { encodeRowsUtf8, type SqlValue } from "../../src/json-encoder";
import { RESULT_ERROR, RESULT_OK, sqlError } from "../../src/responses";
import { connect, query, startServer, tempFolder, type Client, type Server } from "./harness";
import { seededRandom, type SeededRandom } from "../../scripts/seeded-random";

/** Short, so that a write held up by another client's transaction fails fast on both sides. */
const BUSY_TIMEOUT_MS = 2;
const CLIENTS = 4;
const STEPS = 2500;
const DATABASES = ["a.db", "b.db"] as const;

const SCHEMA = [
  "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)",
  "CREATE TABLE u(k INTEGER UNIQUE)",
  "CREATE TABLE w(id INTEGER PRIMARY KEY, x INTEGER)",
  "CREATE TRIGGER w_to_t AFTER INSERT ON w BEGIN INSERT INTO t(v) VALUES (new.x * 10); END",
];
/**
 * Only in b.db: a view and a trigger that ask for the counters. The server then runs every
 * statement on b.db on the session's own handle, and a.db's on readers' shared handles
 * while it can.
 */
const B_ONLY = [
  "CREATE VIEW counters AS SELECT last_insert_rowid() AS r, changes() AS c",
  "CREATE TRIGGER u_rowid AFTER INSERT ON u BEGIN INSERT INTO w(x) VALUES (last_insert_rowid()); END",
];

/** Statements by weight: reads, autocommit writes, transactions, and connection state. */
function statementMaker(random: SeededRandom) {
  const r = () => random.int(60) + 1;
  // A session writes on readers' shared handles until it first needs its own handle for a
  // database (a transaction, a read of its counters, a PRAGMA, a TEMP table): those are rarer,
  // and clients reconnect often, so that both paths and the moves between them are common.
  const menu: [number, () => string][] = [
    [8, () => `SELECT * FROM t WHERE id = ${r()}`],
    [3, () => "SELECT count(*) AS n, total(v) AS s FROM t"],
    [3, () => "SELECT last_insert_rowid() AS r, changes() AS c, total_changes() AS tc"],
    [1, () => "SELECT * FROM counters"],
    [1, () => "SELECT * FROM t WHERE id = last_insert_rowid()"],
    [10, () => `INSERT INTO t(v) VALUES (${r()})`],
    [3, () => `INSERT INTO t(v) VALUES (${r()}), (${r()}), (${r()})`],
    [2, () => `INSERT INTO t(v) VALUES (${r()}), (NULL)`], // fails on its second row
    [4, () => `INSERT OR IGNORE INTO u(k) VALUES (${random.int(25)})`],
    [3, () => `INSERT INTO u(k) VALUES (${random.int(25)})`], // UNIQUE fails now and then
    [2, () => `INSERT INTO w(x) VALUES (${r()})`],
    [4, () => `UPDATE t SET v = v + 1 WHERE id % 7 = ${random.int(7)}`],
    [3, () => `DELETE FROM t WHERE id = ${r()}`],
    [1, () => `DELETE FROM u WHERE k < ${random.int(10)}`],
    [1, () => "BEGIN"],
    [1, () => "BEGIN IMMEDIATE"],
    [3, () => "COMMIT"],
    [2, () => "ROLLBACK"],
    [1, () => "SAVEPOINT sp"],
    [1, () => "RELEASE sp"],
    [0.5, () => "CREATE TEMP TABLE IF NOT EXISTS scratch(x)"],
    [0.5, () => `INSERT INTO scratch VALUES (${r()})`],
    [0.5, () => "SELECT count(*) AS n FROM scratch"],
    [0.5, () => "PRAGMA foreign_keys = ON"],
    [0.5, () => "PRAGMA foreign_keys"],
    [0.5, () => "PRAGMA busy_timeout"], // the server changes it around some statements, and must put it back
    // How a statement starts decides where it may run; these start otherwise.
    [1, () => `INSERT INTO t(v) VALUES (${r()}) RETURNING id, v`],
    [1, () => `UPDATE t SET v = v - 1 WHERE id = ${r()} RETURNING v`],
    [1, () => `/* note */ INSERT INTO t(v) VALUES (${r()})`],
    [1, () => "-- note\nSELECT count(*) AS n FROM t"],
    [1, () => `REPLACE INTO u(k) VALUES (${random.int(25)})`],
    [1, () => `WITH x(n) AS (VALUES (${r()})) INSERT INTO t(v) SELECT n FROM x`],
    // Schema changes: a view that asks for the counters, made and dropped, moves a.db's
    // statements between shared handles and the session's own.
    [0.5, () => "CREATE VIEW IF NOT EXISTS totals AS SELECT total_changes() AS tc"],
    [0.5, () => "DROP VIEW IF EXISTS totals"],
    [0.5, () => "SELECT * FROM totals"],
    [0.3, () => "CREATE TABLE IF NOT EXISTS extra(x)"],
    [0.3, () => "DROP TABLE IF EXISTS extra"],
    [0.5, () => "PRAGMA user_version"],
    [0.3, () => `PRAGMA user_version = ${r()}`],
    [0.2, () => "VACUUM"],
  ];
  const total = menu.reduce((sum, [weight]) => sum + weight, 0);
  return () => {
    let pick = random.next() * total;
    for (const [weight, make] of menu) if ((pick -= weight) < 0) return make();
    throw new Error("unreachable");
  };
}

/** One client's connections on the oracle's side: one handle per database, opened as the server opens its own. */
class OracleClient {
  readonly #handles = new Map<string, Database>();
  constructor(readonly folder: string) {}

  run(db: string, sql: string): string {
    const handle = this.#handle(db);
    let statement;
    try {
      statement = handle.prepare(sql);
      const columns = statement.columnNames;
      const pieces = encodeRowsUtf8(columns, statement.values() as SqlValue[][]);
      return Buffer.concat(pieces).toString("utf8");
    } catch (error) {
      const { errno, message } = error as { errno: number; message: string };
      return sqlError(errno & 0xff, message, { cmd: "QUERY", db, query: sql });
    } finally {
      statement?.finalize();
    }
  }

  close(): void {
    for (const db of [...this.#handles.keys()]) this.closeDatabase(db);
  }

  /** As DELETE_DB does to every connection's handle, before it removes the files. */
  closeDatabase(db: string): void {
    this.#handles.get(db)?.close();
    this.#handles.delete(db);
  }

  #handle(db: string): Database {
    let handle = this.#handles.get(db);
    if (!handle) {
      handle = new Database(join(this.folder, db), { create: true, readwrite: true, safeIntegers: true });
      handle.run(`PRAGMA busy_timeout=${BUSY_TIMEOUT_MS}`);
      handle.run("PRAGMA journal_mode=WAL");
      handle.run("PRAGMA synchronous=NORMAL");
      this.#handles.set(db, handle);
    }
    return handle;
  }
}

const startDifferentialServer = () => startServer(["--workers", "2", "--busy-timeout", String(BUSY_TIMEOUT_MS)]);

async function differential(server: Server, seed: number): Promise<void> {
  using oracleTemp = tempFolder();
  const oracleFolder = realpathSync(oracleTemp); // as folder.ts expects, like the server's
  const random = seededRandom(seed);
  const nextStatement = statementMaker(random);
  const clients: Client[] = [];
  const oracles: OracleClient[] = [];
  const history: string[] = [];
  const compare = (actual: string, expected: string) => {
    if (actual !== expected) {
      throw new Error(`seed ${seed}, after ${history.length} steps (the last 30 below):\n${history.slice(-30).join("\n")}\nserver: ${actual}\noracle: ${expected}`);
    }
  };
  const step = async (c: number, db: string, sql: string) => {
    history.push(`client ${c} ${db}: ${sql}`);
    const expected = oracles[c]!.run(db, sql);
    compare(await clients[c]!.request(query(db, sql)), expected);
  };
  /** DELETE_DB, then the schema again: every connection's handle to `db` is closed, its transaction rolled back, its counters reset. */
  const deleteDb = async (c: number, db: string, schema: string[]) => {
    history.push(`client ${c}: DELETE_DB ${db}`);
    for (const oracle of oracles) oracle.closeDatabase(db);
    const removed = await removeDatabaseFiles(oracleFolder, db);
    compare(await clients[c]!.request(JSON.stringify({ cmd: "DELETE_DB", db })), removed ? RESULT_OK : RESULT_ERROR);
    for (const sql of schema) await step(c, db, sql);
  };
  try {
    for (let c = 0; c < CLIENTS; c++) {
      clients.push(await connect(server.port));
      oracles.push(new OracleClient(oracleFolder));
    }
    // Each seed on databases of its own, in the server's folder and in the oracle's.
    const names = DATABASES.map((db) => `${seed}-${db}`);
    const schemas = [SCHEMA, [...SCHEMA, ...B_ONLY]];
    for (const [i, db] of names.entries()) for (const sql of schemas[i]!) await step(0, db, sql);
    let c = 0;
    for (let i = 0; i < STEPS; i++) {
      // Mostly the same client again, as an application finishes what it started, so that
      // not every other step waits out a lock; often enough another, to interleave.
      if (random.next() < 0.3) c = random.int(CLIENTS);
      if (random.next() < 0.05) {
        // A new connection in this client's place: a new session, with fresh counters. The
        // server ends the old session when it sees the close, after this side has moved on,
        // so the old one first gives up any lock it holds, which the next step could meet.
        for (const db of names) await step(c, db, "ROLLBACK");
        clients[c]!.close();
        await clients[c]!.closed;
        oracles[c]!.close();
        clients[c] = await connect(server.port);
        history.push(`client ${c} reconnects`);
        continue;
      }
      const d = random.next() < 0.7 ? 0 : 1;
      if (random.next() < 0.005) await deleteDb(c, names[d]!, schemas[d]!);
      else await step(c, names[d]!, nextStatement());
    }
  } finally {
    for (const client of clients) client.close();
    for (const oracle of oracles) oracle.close();
  }
}

describe("with a session Worker each", () => {
  let server: Server;
  beforeAll(async () => {
    server = await startDifferentialServer();
  });
  afterAll(async () => {
    await server[Symbol.asyncDispose]();
  });

  // 107 found a session's own handle with an old copy of the schema (see Sessions.query's refresh).
  for (const seed of [1, 2, 3, 107]) {
    test(`seed ${seed}: every response is what plain SQLite connections give`, async () => {
      await differential(server, seed);
      expect(server.proc.exitCode).toBeNull();
    }, 60_000);
  }
});

test("past 256 session Workers, sharing them: every response is what plain SQLite connections give", async () => {
  // There a statement on a session's own handle must not wait for a lock in SQLite's busy
  // handler: the main thread sends it again until busy_timeout is over (session.ts), and
  // that must come to the same answers.
  await using server = await startDifferentialServer();
  await using closing = new AsyncDisposableStack();
  for (let i = 0; i < 256; i++) {
    const filler = closing.use(await connect(server.port));
    expect(await filler.request(query("filler.db", "PRAGMA foreign_keys=ON"))).toBe('{"columns":[],"data":[]}');
  }
  await differential(server, 4);
  expect(server.output()).toContain("all 256 session Workers are in use");
}, 60_000);
