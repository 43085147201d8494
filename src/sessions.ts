// The SQLite side of the server, as it runs inside one Worker: each session (one TCP
// connection) has its own handle per database it has used, opened on first use, tuned for
// many processes sharing a file, and closed when the session ends or the database is deleted.

import { Database } from "bun:sqlite";
import { resolveDbPath } from "./folder";
import { encodeRows, type SqlValue } from "./json-encoder";
import type { WorkerReply } from "./messages";
import { firstStatement } from "./sql-statements";

const SQLITE_ERROR = 1;
const SQLITE_MISUSE = 21;

export class Sessions {
  readonly #handles = new Map<number, Map<string, Database>>();

  constructor(
    readonly folder: string,
    readonly busyTimeoutMs: number,
  ) {}

  /** Runs one statement of `sql` on `session`'s handle for `db`, to completion. */
  query(session: number, db: string, sql: string): WorkerReply {
    let handles = this.#handles.get(session);
    if (!handles) this.#handles.set(session, (handles = new Map()));
    let handle = handles.get(db);
    if (!handle) {
      const path = resolveDbPath(this.folder, db);
      if (path === null) return { kind: "unsafeName" };
      try {
        handle = this.#open(path);
      } catch (error) {
        return sqlErrorReply(error);
      }
      handles.set(db, handle);
    }
    return runOne(handle, sql);
  }

  /** Closes the session's handles; SQLite rolls back a transaction left open. */
  endSession(session: number): void {
    const handles = this.#handles.get(session);
    if (!handles) return;
    this.#handles.delete(session);
    for (const handle of handles.values()) handle.close();
  }

  /** Closes every session's handle to `db`, so that its files can be removed. */
  closeDatabase(db: string): void {
    for (const handles of this.#handles.values()) {
      handles.get(db)?.close();
      handles.delete(db);
    }
  }

  closeAll(): void {
    for (const session of [...this.#handles.keys()]) this.endSession(session);
  }

  #open(path: string): Database {
    const handle = new Database(path, { create: true, readwrite: true, safeIntegers: true });
    try {
      // busy_timeout first, so that switching to WAL waits for a lock instead of failing.
      handle.run(`PRAGMA busy_timeout=${this.busyTimeoutMs}`);
      handle.run("PRAGMA journal_mode=WAL");
      handle.run("PRAGMA synchronous=NORMAL");
      return handle;
    } catch (error) {
      handle.close();
      throw error;
    }
  }
}

/** Prepares and runs exactly one statement; any error at any step is the reply. */
function runOne(handle: Database, sql: string): WorkerReply {
  const found = firstStatement(sql);
  if (found === null) return { kind: "sqlError", code: SQLITE_MISUSE, message: "empty query" };
  let statement;
  try {
    statement = handle.prepare(sql.slice(found.start, found.end));
  } catch (error) {
    return sqlErrorReply(error);
  }
  try {
    if (found.more) return { kind: "sqlError", code: SQLITE_ERROR, message: "Multiple statements provided" };
    const rows = statement.values() as SqlValue[][];
    return { kind: "rows", json: encodeRows(statement.columnNames, rows) };
  } catch (error) {
    return sqlErrorReply(error);
  } finally {
    statement.finalize();
  }
}

function sqlErrorReply(error: unknown): WorkerReply {
  if (error instanceof Error && "errno" in error && typeof error.errno === "number") {
    return { kind: "sqlError", code: error.errno & 0xff, message: error.message };
  }
  // bun:sqlite throws a plain Error for text SQLite found no statement in.
  if (error instanceof Error && error.message === "Invalid SQL statement") {
    return { kind: "sqlError", code: SQLITE_MISUSE, message: "empty query" };
  }
  return { kind: "sqlError", code: SQLITE_ERROR, message: error instanceof Error ? error.message : String(error) };
}
