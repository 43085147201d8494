// The SQLite side of the server, as it runs inside one Worker: each session (one TCP
// connection) has its own handle per database it has used, opened on first use, tuned for
// many processes sharing a file, and closed when the session ends or the database is deleted.

import { Database, type Statement } from "bun:sqlite";
import { confine } from "./confinement";
import { resolveDbPath } from "./folder";
import { encodeRowsUtf8, type Row } from "./json-encoder";
import type { WorkerReply } from "./messages";
import { asksForCounters, firstStatement, leavesConnectionState } from "./sql-statements";
import { ResultTooBigError } from "./utf8-writer";
import type { WriteGate } from "./write-gate";

/** What one statement came to, before the session's `pinned` state is added. */
type Outcome =
  | { kind: "rowsUtf8"; pieces: Uint8Array[] }
  | { kind: "sqlError"; code: number; message: string }
  | { kind: "notReadOnly" };

/** What a session answers inside the Worker: rows as UTF-8 pieces of JSON, framed by worker.ts. */
export type SessionReply =
  | Exclude<WorkerReply, { kind: "rows" } | { kind: "sqlError" }>
  | { kind: "rowsUtf8"; pieces: Uint8Array[]; pinned: boolean }
  | { kind: "sqlError"; code: number; message: string; pinned: boolean };

const SQLITE_ERROR = 1;
const SQLITE_TOOBIG = 18;
const SQLITE_MISUSE = 21;
const SQLITE_AUTH = 23;

/** The largest response body, in bytes of JSON: well under the protocol's 4 GiB length field. */
export const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

export class Sessions {
  readonly #handles = new Map<number, Map<string, Database>>();
  /** Sessions that ran a statement leaving connection state (see leavesConnectionState). */
  readonly #stateful = new Set<number>();

  /**
   * `gate`: where this Worker's autocommit writes take turns with other Workers' (see
   * write-gate.ts), as `owner`; readers, which never write, have none.
   */
  constructor(
    readonly folder: string,
    readonly busyTimeoutMs: number,
    readonly gate: { gate: WriteGate; owner: number } | null = null,
  ) {}

  /**
   * Runs one statement of `sql` on `session`'s handle for `db`, to completion. With
   * `readOnly`, runs it only if SQLite deems it read-only and no view makes it ask for the
   * connection's counters (else answers notReadOnly): that is how a reader Worker serves
   * many sessions on one shared set of handles.
   */
  query(session: number, db: string, sql: string, readOnly: boolean): SessionReply {
    let handles = this.#handles.get(session);
    if (!handles) this.#handles.set(session, (handles = new Map()));
    let handle = handles.get(db);
    let outcome: Outcome;
    if (handle) {
      outcome = this.#runOne(handle, db, sql, readOnly, session);
    } else {
      const path = resolveDbPath(this.folder, db);
      if (path === null) return { kind: "unsafeName" };
      try {
        handle = this.#open(path);
        handles.set(db, handle);
        outcome = this.#runOne(handle, db, sql, readOnly, session);
      } catch (error) {
        outcome = sqlErrorOutcome(error);
      }
    }
    if (outcome.kind === "notReadOnly") return outcome;
    return { ...outcome, pinned: !readOnly && this.#pinned(session) };
  }

  /** Whether the session holds state that only its own handles have. */
  #pinned(session: number): boolean {
    if (this.#stateful.has(session)) return true;
    for (const handle of this.#handles.get(session)?.values() ?? []) if (handle.inTransaction) return true;
    return false;
  }

  /** Closes the session's handles; SQLite rolls back a transaction left open. */
  endSession(session: number): void {
    this.#stateful.delete(session);
    const handles = this.#handles.get(session);
    if (!handles) return;
    this.#handles.delete(session);
    for (const handle of handles.values()) handle.close();
  }

  /** Closes every session's handle to `db`, or with `db` attached, so that its files can be removed. */
  closeDatabase(db: string): void {
    const path = resolveDbPath(this.folder, db);
    for (const handles of this.#handles.values()) {
      for (const [name, handle] of handles) {
        if (name !== db && !(path !== null && attaches(handle, path))) continue;
        handle.close();
        handles.delete(name);
      }
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

  /** Prepares and runs exactly one statement; any error at any step is the outcome. */
  #runOne(handle: Database, db: string, sql: string, readOnly: boolean, session: number): Outcome {
    const found = firstStatement(sql);
    if (found === null) return { kind: "sqlError", code: SQLITE_MISUSE, message: "empty query" };
    const text = sql.slice(found.start, found.end);
    const confined = confine(text, (name) => resolveDbPath(this.folder, name));
    if (!confined.ok && !found.more) return { kind: "sqlError", code: SQLITE_AUTH, message: confined.message };
    let statement;
    let gatePass: Disposable | null = null;
    try {
      // A syntax error in the first statement is reported before "Multiple statements".
      statement = handle.prepare(confined.ok ? confined.sql : text);
    } catch (error) {
      return sqlErrorOutcome(error);
    }
    try {
      if (found.more) return { kind: "sqlError", code: SQLITE_ERROR, message: "Multiple statements provided" };
      if (readOnly && (!statement.readonly || viewsAskForCounters(handle))) return { kind: "notReadOnly" };
      if (!readOnly && leavesConnectionState(text)) this.#stateful.add(session);
      gatePass = this.#writeTurn(handle, db, statement, session);
      return run(statement);
    } catch (error) {
      return sqlErrorOutcome(error);
    } finally {
      statement.finalize();
      gatePass?.[Symbol.dispose](); // after finalize: a write cut short ends its transaction there
    }
  }

  /**
   * An autocommit write of a session with default settings takes its turn at the gate. Not
   * inside a transaction: that session may hold the write lock the gate's holder waits for.
   * Not after a PRAGMA (it may have set its own busy_timeout) or ATTACH: SQLite decides alone.
   */
  #writeTurn(handle: Database, db: string, statement: Statement, session: number): Disposable | null {
    if (!this.gate || statement.readonly || handle.inTransaction || this.#stateful.has(session)) return null;
    return this.gate.gate.enter(db, this.gate.owner, this.busyTimeoutMs);
  }
}

/** Per shared handle: whether its schema has a view that asks for the connection's counters. */
const counterViews = new WeakMap<Database, { version: bigint; found: boolean }>();

/**
 * A read that goes through such a view must run on the session's own handle: on a shared one
 * `last_insert_rowid()`, `changes()` and `total_changes()` are the reader's, not the session's.
 * The views are judged as mayReadAnywhere judges the statement's own text; triggers do not
 * fire on reads. The answer is kept until the schema version changes: one cached PRAGMA per read.
 */
function viewsAskForCounters(handle: Database): boolean {
  const { schema_version: version } = handle.query("PRAGMA schema_version").get() as { schema_version: bigint };
  let known = counterViews.get(handle);
  if (known?.version !== version) {
    const views = handle.query("SELECT sql FROM sqlite_schema WHERE type = 'view'").values() as [string][];
    known = { version, found: views.some(([sql]) => asksForCounters(sql)) };
    counterViews.set(handle, known);
  }
  return known.found;
}

function attaches(handle: Database, path: string): boolean {
  const list = handle.prepare("PRAGMA database_list");
  try {
    return (list.all() as { file: string }[]).some((row) => row.file === path);
  } finally {
    list.finalize();
  }
}

/**
 * Runs a prepared statement to completion and encodes every row straight to UTF-8, in chunks.
 * Rows stream through iterate() when column names are distinct (it returns one object per
 * row, which would lose a duplicate name); otherwise values() materialises them all.
 */
function run(statement: Statement): Outcome {
  const columns = statement.columnNames;
  const distinct = new Set(columns).size === columns.length && !columns.includes("__proto__");
  const rows = (distinct ? statement.iterate() : statement.values()) as Iterable<Row>;
  return { kind: "rowsUtf8", pieces: encodeRowsUtf8(columns, rows, MAX_RESPONSE_BYTES) };
}

function sqlErrorOutcome(error: unknown): Outcome {
  if (error instanceof ResultTooBigError) return { kind: "sqlError", code: SQLITE_TOOBIG, message: error.message };
  if (error instanceof Error && "errno" in error && typeof error.errno === "number") {
    return { kind: "sqlError", code: error.errno & 0xff, message: error.message };
  }
  // bun:sqlite throws a plain Error for text SQLite found no statement in.
  if (error instanceof Error && error.message === "Invalid SQL statement") {
    return { kind: "sqlError", code: SQLITE_MISUSE, message: "empty query" };
  }
  return { kind: "sqlError", code: SQLITE_ERROR, message: error instanceof Error ? error.message : String(error) };
}
