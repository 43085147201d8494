// A connection's counters, `last_insert_rowid()`, `changes()` and `total_changes()`, belong
// to the SQLite handle. A session whose autocommit writes run on a reader's shared handle
// (see worker-pool.ts) keeps them here instead: before such a write the shared handle is set
// to the session's counters, after it they are read back. A session that later needs its own
// handle has that handle set to them first, so every statement sees exactly the counters the
// session's own connection would have had.
//
// bun:sqlite has no setter, so they are set with statements on a private in-memory database:
// an INSERT sets last_insert_rowid(); an INSERT that fails on its second row sets it and adds
// nothing; a statement changing C rows sets changes(); total_changes() only grows, by rows.

import type { Database } from "bun:sqlite";

export interface Counters {
  lastInsertRowid: bigint;
  changes: bigint;
  totalChanges: bigint;
}

export const ZERO_COUNTERS: Counters = { lastInsertRowid: 0n, changes: 0n, totalChanges: 0n };

/** Counters as they cross between threads: three decimal integers. */
export function formatCounters(counters: Counters): string {
  return `${counters.lastInsertRowid},${counters.changes},${counters.totalChanges}`;
}

export function parseCounters(text: string): Counters {
  const [lastInsertRowid, changes, totalChanges] = text.split(",").map((part) => BigInt(part));
  if (totalChanges === undefined) throw new Error(`malformed counters ${JSON.stringify(text)}`);
  return { lastInsertRowid: lastInsertRowid!, changes: changes!, totalChanges };
}

export function readCounters(handle: Database): Counters {
  const [lastInsertRowid, changes, totalChanges] = handle
    .query("SELECT last_insert_rowid(), changes(), total_changes()")
    .values()[0] as [bigint, bigint, bigint];
  return { lastInsertRowid, changes, totalChanges };
}

/**
 * The name of the private database, and of its one table. Unqualified table names reach
 * attached databases too, so the table's name is one no application uses by accident.
 */
export const PRIVATE_SCHEMA = "sqlite3_server";
const ROWS = `${PRIVATE_SCHEMA}.sqlite3_server_rows`;
/** Rows inserted per statement when total_changes() must grow by more. */
const PAD_CHUNK = 65_536n;

/**
 * Sets the handle's last_insert_rowid() and changes() to `target`'s, and its total_changes()
 * too unless `keepTotal` (a shared handle, whose total only its deltas matter for). Total can
 * only grow: the target's must be at least the handle's. `now`: the handle's counters, if
 * just read. The private database must be attached (see attachPrivate). Returns the handle's
 * counters; throws if they are not the target's.
 */
export function setCounters(handle: Database, target: Counters, keepTotal: boolean, now = readCounters(handle)): Counters {
  const { lastInsertRowid: rowid, changes } = target;
  const reachedTotal = (counters: Counters) => keepTotal || counters.totalChanges === target.totalChanges;
  if (now.lastInsertRowid === rowid && now.changes === changes && reachedTotal(now)) return now;

  // query(): cached per handle, as a shared handle runs these before many writes.
  handle.query(`DELETE FROM ${ROWS}`).run(); // rowids free for the INSERT below
  if (!keepTotal) {
    // The last statement below adds changes() rows to the total (or nothing, for 0).
    const missing = target.totalChanges - readCounters(handle).totalChanges - changes;
    if (missing < 0n) throw new Error("total_changes() cannot go down");
    growTotal(handle, missing);
  }
  if (changes === 1n) {
    handle.query(`INSERT INTO ${ROWS}(rowid, x) VALUES (?, 0)`).run(rowid); // the usual case, made cheap
  } else if (changes > 1n) {
    // `changes` rows whose last rowid is `rowid`, counting away from zero so none overflows.
    const step = rowid > 0n ? -1n : 1n;
    handle
      .query(
        `WITH RECURSIVE n(i) AS (VALUES(1) UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
         INSERT INTO ${ROWS}(rowid, x) SELECT ?1 + ?3 * (?2 - i), 0 FROM n`,
      )
      .run(rowid, changes, step);
  } else {
    if (readCounters(handle).lastInsertRowid !== rowid) {
      try {
        handle.query(`INSERT INTO ${ROWS}(rowid, x) VALUES (?, 0), (NULL, NULL)`).run(rowid);
      } catch {
        // Meant: the NOT NULL failure on the second row undoes the first, but not its rowid.
      }
    }
    handle.query(`DELETE FROM ${ROWS} WHERE 0`).run();
  }
  const reached = readCounters(handle);
  if (reached.lastInsertRowid !== rowid || reached.changes !== changes || !reachedTotal(reached)) {
    throw new Error(`could not restore the connection's counters (${formatCounters(target)})`);
  }
  return reached;
}

/** Adds `rows` to total_changes(): rows inserted, then dropped with their table, which counts nothing. */
function growTotal(handle: Database, rows: bigint): void {
  for (let left = rows; left > 0n; ) {
    const chunk = left < PAD_CHUNK ? left : PAD_CHUNK;
    handle.run(`CREATE TABLE ${PRIVATE_SCHEMA}.sqlite3_server_pad(x)`);
    handle.run(
      `WITH RECURSIVE n(i) AS (VALUES(1) UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO ${PRIVATE_SCHEMA}.sqlite3_server_pad SELECT i FROM n`,
      [chunk],
    );
    handle.run(`DROP TABLE ${PRIVATE_SCHEMA}.sqlite3_server_pad`);
    left -= chunk;
  }
}

/** Attaches the private in-memory database setCounters needs (no changes counted). */
export function attachPrivate(handle: Database): void {
  handle.run(`ATTACH ':memory:' AS ${PRIVATE_SCHEMA}`);
  handle.run(`CREATE TABLE ${ROWS}(x NOT NULL)`);
}

export function detachPrivate(handle: Database): void {
  handle.run(`DETACH ${PRIVATE_SCHEMA}`);
}
