// The SQLite side of the server, as it runs inside one Worker: each session (one TCP
// connection) has its own handle per database it has used, opened on first use, tuned for
// many processes sharing a file, and closed when the session ends or the database is deleted.

import { Database, type Statement } from "bun:sqlite";
import { confine } from "./confinement";
import { resolveDbPath } from "./folder";
import { encodeRowsUtf8, type Row } from "./json-encoder";
import type { SharedWrite, WorkerReply } from "./messages";
import { attachPrivate, detachPrivate, formatCounters, parseCounters, readCounters, setCounters, type Counters } from "./counters";
import { firstStatement, leavesConnectionState, startsLikePragma, startsLikeRead, startsLikeWrite } from "./sql-statements";
import { dataVersion, lastReadSchema, readSchema } from "./schema-watch";
import { ResultTooBigError } from "./utf8-writer";
import type { WriteGate } from "./write-gate";

/** What one statement came to, before the session's `pinned` state is added. */
type Outcome =
  | { kind: "rowsUtf8"; pieces: Uint8Array[]; counters: string | null }
  | { kind: "sqlError"; code: number; message: string; counters: string | null }
  | { kind: "notReadOnly" }
  | { kind: "busy"; leftMs: number };

/** What running a statement to its end came to. */
type Ran = Extract<Outcome, { kind: "rowsUtf8" | "sqlError" }>;

/**
 * What a session answers inside the Worker: rows as UTF-8 pieces of JSON, framed by worker.ts.
 * `counters`: after a write on a shared handle, the session's counters (see counters.ts).
 */
export type SessionReply =
  | Exclude<WorkerReply, { kind: "rows" } | { kind: "sqlError" }>
  | { kind: "rowsUtf8"; pieces: Uint8Array[]; pinned: boolean; counters: string | null }
  | { kind: "sqlError"; code: number; message: string; pinned: boolean; counters: string | null };

/** Where a statement runs: the session's own handle, or this reader's shared one. */
type Place =
  /**
   * `seed`: counters to set a handle to before its first statement, kept while it ran on
   * shared ones. `sharedSince`: see query.
   */
  | { own: true; session: number; seed: string | null; sharedSince: number | null; refresh: boolean }
  /** `write`: the session's counters, when it may write here; null: reads only. */
  | { own: false; write: SharedWrite | null };

const SQLITE_ERROR = 1;
const SQLITE_BUSY = 5;
const SQLITE_TOOBIG = 18;
const SQLITE_MISUSE = 21;
const SQLITE_AUTH = 23;

/** The largest response body, in bytes of JSON: well under the protocol's 4 GiB length field. */
export const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * A session whose last statement changed more rows than this writes on its own handle:
 * setting a shared handle's changes() to it takes as many rows.
 */
const MAX_SHARED_CHANGES = 4096n;
/**
 * Nor once its total_changes() passes this: its own handle, when it needs one, is set to it
 * a row at a time (about 0.17 µs each; 100,000 take some 17 ms), and a long-lived connection
 * must not wait seconds for its first BEGIN.
 */
const MAX_SHARED_TOTAL = 100_000n;

/**
 * A reader keeps at most this many shared handles open, closing the least recently used:
 * without a cap, every database ever read stayed open in every reader (2,000 databases read
 * once each: 625 MB and 7,387 file descriptors, for good). Reopening one costs ~0.6 ms here.
 */
export const MAX_SHARED_HANDLES = 256;

/**
 * A reader also closes a shared handle unused for this long (see closeIdleShared), so that a
 * burst of reads across many databases does not keep its memory for good.
 */
export const SHARED_HANDLE_IDLE_MS = 30_000;

/** How often a reader looks for such handles: one is closed at most this long after it is due. */
export const IDLE_SWEEP_MS = SHARED_HANDLE_IDLE_MS / 3;

/** The session number under which a reader keeps its shared handles: no session's. */
const SHARED = 0;

/** Attempts at a shared read whose database's schema changed while it ran. */
const MAX_READ_ATTEMPTS = 3;

/** Shared handles that have the private database counters.ts needs. */
const withPrivate = new WeakSet<Database>();

export class Sessions {
  readonly #handles = new Map<number, Map<string, Database>>();
  /** Sessions that ran a statement leaving connection state (see leavesConnectionState). */
  readonly #stateful = new Set<number>();
  /** When each shared handle was last used (performance.now()). */
  readonly #lastUsed = new WeakMap<Database, number>();

  /**
   * `gate`: where this Worker's autocommit writes take turns with other Workers' (see
   * write-gate.ts), as `owner`.
   */
  constructor(
    readonly folder: string,
    readonly busyTimeoutMs: number,
    readonly gate: { gate: WriteGate; owner: number } | null = null,
    readonly maxSharedHandles = MAX_SHARED_HANDLES,
  ) {}

  /**
   * Runs one statement of `sql` on `session`'s own handle for `db`, to completion. With
   * `sharedSince` (the session shares this Worker; the statement was first sent then), it
   * does not wait for a lock: the lock may be held by another session of this Worker, whose
   * COMMIT could not run while this one sleeps in SQLite's busy handler. It answers `busy`
   * instead, for the main thread to send it again, until the handle's busy_timeout has passed
   * since `sharedSince`; then, like the busy handler, it fails with SQLITE_BUSY. With
   * `refresh` (the session's statements ran on shared handles meanwhile), the handle first
   * brings its idea of the schema up to date, as those statements would have on it.
   */
  query(session: number, db: string, sql: string, seed: string | null = null, sharedSince: number | null = null, refresh = false): SessionReply {
    const outcome = this.#run(db, sql, { own: true, session, seed, sharedSince, refresh });
    if (outcome.kind !== "rowsUtf8" && outcome.kind !== "sqlError") return outcome;
    return { ...outcome, pinned: this.#pinned(session) };
  }

  /**
   * Runs one statement on this reader's handle for `db`, shared by every session: a read
   * (SQLite deems it read-only and no view makes it ask for the connection's counters), or
   * with `write`, also an autocommit INSERT, UPDATE or DELETE run as if on the session's
   * own handle. Anything else answers notReadOnly: it must run on the session's own handle.
   */
  shared(db: string, sql: string, write: SharedWrite | null): SessionReply {
    const outcome = this.#run(db, sql, { own: false, write });
    if (outcome.kind !== "rowsUtf8" && outcome.kind !== "sqlError") return outcome;
    return { ...outcome, pinned: false };
  }

  #run(db: string, sql: string, place: Place): Outcome | { kind: "unsafeName" } {
    const session = place.own ? place.session : SHARED;
    let handles = this.#handles.get(session);
    if (!handles) this.#handles.set(session, (handles = new Map()));
    let handle = handles.get(db);
    try {
      if (!handle) {
        const path = resolveDbPath(this.folder, db);
        if (path === null) return { kind: "unsafeName" };
        if (!place.own) makeRoom(handles, this.maxSharedHandles);
        handle = this.#open(path);
      }
      if (place.own) {
        handles.set(db, handle);
        if (place.seed !== null) seed(handle, parseCounters(place.seed));
        if (place.refresh) refreshSchema(handle);
      } else {
        // Shared handles are kept in the order they were last used, the least recent first.
        handles.delete(db);
        handles.set(db, handle);
        this.#lastUsed.set(handle, performance.now());
      }
      return this.#runOne(handle, db, sql, place);
    } catch (error) {
      return sqlErrorOutcome(error);
    }
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

  /** Closes the shared handles unused for `idleMs` before `now`. */
  closeIdleShared(now = performance.now(), idleMs = SHARED_HANDLE_IDLE_MS): void {
    const handles = this.#handles.get(SHARED);
    if (!handles) return;
    for (const [db, handle] of handles) {
      if (now - (this.#lastUsed.get(handle) ?? 0) < idleMs) return; // the rest were used later
      handles.delete(db);
      handle.close();
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
      retryWhileBusy(() => handle.run("PRAGMA journal_mode=WAL"), this.busyTimeoutMs);
      handle.run("PRAGMA synchronous=NORMAL");
      return handle;
    } catch (error) {
      handle.close();
      throw error;
    }
  }

  /** Prepares and runs exactly one statement; any error at any step is the outcome. */
  #runOne(handle: Database, db: string, sql: string, place: Place): Outcome {
    const found = firstStatement(sql);
    if (found === null) return { kind: "sqlError", code: SQLITE_MISUSE, message: "empty query", counters: null };
    const text = sql.slice(found.start, found.end);
    const confined = confine(text, (name) => resolveDbPath(this.folder, name));
    if (!confined.ok && !found.more) return { kind: "sqlError", code: SQLITE_AUTH, message: confined.message, counters: null };
    const source = confined.ok ? confined.sql : text;
    let statement;
    try {
      // A syntax error in the first statement is reported before "Multiple statements".
      statement = handle.prepare(source);
    } catch (error) {
      return sqlErrorOutcome(error);
    }
    if (found.more) {
      statement.finalize();
      return { kind: "sqlError", code: SQLITE_ERROR, message: "Multiple statements provided", counters: null };
    }
    if (place.own) {
      if (leavesConnectionState(text)) this.#stateful.add(place.session);
      // A PRAGMA may set busy_timeout itself, which restoring it after would undo.
      if (place.sharedSince !== null && !startsLikePragma(text)) return this.#runWithoutWaiting(handle, statement, place.sharedSince);
      return this.#runAndFinalize(statement, this.#writeTurn(handle, db, statement, place.session));
    }
    // SQLite deems BEGIN and SAVEPOINT read-only too: what may run here is told by how it starts.
    if (statement.readonly && startsLikeRead(text)) return this.#sharedRead(handle, statement, source);
    if (place.write === null || statement.readonly || !startsLikeWrite(text)) return declined(statement);
    const schema = readSchema(handle).use;
    if (schema.views || schema.triggers) return declined(statement);
    const counters = parseCounters(place.write.counters);
    if (counters.changes > MAX_SHARED_CHANGES || counters.totalChanges > MAX_SHARED_TOTAL) return declined(statement);
    return this.#sharedWrite(handle, db, statement, counters, place.write.since);
  }

  /**
   * A read on a shared handle, unless a view of the database asks for the counters. The schema
   * is judged before, as last read, and confirmed after: if nothing was committed to the
   * database since it was read (the data version), or its version is still the same, the
   * read saw that schema. Else the read runs again, judged by the new schema. This spares a
   * read its own PRAGMA, a transaction of its own: a point read went from 17.6–18.5 µs to
   * 13.7–14.3 in `npm run bench:micro`.
   */
  #sharedRead(handle: Database, statement: Statement, sql: string): Outcome {
    for (let attempt = 1; ; attempt++) {
      let known = lastReadSchema(handle);
      if (!known || known.use.views) known = readSchema(handle);
      // A schema that changes under every attempt: the session's own handle needs no check.
      if (known.use.views || attempt > MAX_READ_ATTEMPTS) return declined(statement);
      const { version, dataVersion: before } = known;
      const outcome = this.#runAndFinalize(statement, null);
      if (dataVersion(handle) === before || readSchema(handle).version === version) return outcome;
      statement = handle.prepare(sql);
    }
  }

  /**
   * An autocommit write on a shared handle, as the session's own handle would run it: the
   * handle's counters are set to the session's first, and the session's new ones read after.
   * It waits for locks no longer than busy_timeout from when it was `since` sent: writes to
   * one database line up on one reader, and should the first be stuck on a lock, the ones
   * behind it must not each wait a whole busy_timeout more in turn.
   */
  #sharedWrite(handle: Database, db: string, statement: Statement, session: Counters, since: number): Ran {
    let before: Counters;
    try {
      if (!withPrivate.has(handle)) {
        attachPrivate(handle);
        withPrivate.add(handle);
      }
      before = setCounters(handle, session, true);
    } catch (error) {
      statement.finalize();
      return sqlErrorOutcome(error);
    }
    const waited = Math.min(Math.max(Date.now() - since, 0), this.busyTimeoutMs);
    const timeoutMs = this.busyTimeoutMs - waited;
    using _busy = waited >= 1 ? busyTimeoutFor(handle, timeoutMs, this.busyTimeoutMs) : null;
    const outcome = this.#runAndFinalize(statement, this.gate && this.gate.gate.enter(db, this.gate.owner, timeoutMs));
    const after = readCounters(handle);
    const totalChanges = session.totalChanges + after.totalChanges - before.totalChanges;
    return { ...outcome, counters: formatCounters({ ...after, totalChanges }) };
  }

  /**
   * Runs a prepared statement with busy_timeout 0, and not at the write gate (which waits
   * in this thread too): see query. SQLite's busy handler is given no chance to wait, so a
   * plain SQLITE_BUSY here (the extended code exactly: not SQLITE_BUSY_SNAPSHOT and the like,
   * which the handler does not wait out) is a lock the handler would have waited for.
   */
  #runWithoutWaiting(handle: Database, statement: Statement, since: number): Outcome {
    const timeoutMs = busyTimeout(handle);
    const leftMs = timeoutMs - (Date.now() - since);
    using _busy = busyTimeoutFor(handle, 0, timeoutMs);
    try {
      return run(statement);
    } catch (error) {
      if (leftMs > 0 && extendedCode(error) === SQLITE_BUSY) return { kind: "busy", leftMs };
      return sqlErrorOutcome(error);
    } finally {
      statement.finalize();
    }
  }

  /** Runs a prepared statement and finalizes it, then lets the next writer through the gate. */
  #runAndFinalize(statement: Statement, gatePass: Disposable | null): Ran {
    try {
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

/**
 * Runs `step` again while it fails with SQLITE_BUSY, for up to `timeoutMs`. Two handles that
 * switch a new database to WAL at once can get SQLITE_BUSY at once, without the busy handler
 * (each holds a shared lock the other's switch must wait for); the one that lost must retry.
 */
export function retryWhileBusy(step: () => void, timeoutMs: number, sleep = (ms: number) => Bun.sleepSync(ms)): void {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return step();
    } catch (error) {
      if (primaryCode(error) !== SQLITE_BUSY || performance.now() >= deadline) throw error;
      sleep(1);
    }
  }
}

/** Closes the least recently used of `handles` if they are `max` already (see MAX_SHARED_HANDLES). */
function makeRoom(handles: Map<string, Database>, max: number): void {
  if (handles.size < max) return;
  const [db, oldest] = handles.entries().next().value!;
  handles.delete(db);
  oldest.close();
}

/**
 * Brings a handle's cached schema up to date: a statement that reads `main` checks the schema
 * version as it starts, and SQLite loads the schema again if it moved. A statement compiled
 * against an old schema (a DROP VIEW IF EXISTS of a view dropped since, say) may need the
 * write lock before SQLite finds that out, and so wait for a lock it does not need.
 */
function refreshSchema(handle: Database): void {
  handle.query("SELECT 1 FROM main.sqlite_schema LIMIT 0").run();
}

/** For the session's own handle to run instead. */
function declined(statement: Statement): Outcome {
  statement.finalize();
  return { kind: "notReadOnly" };
}

/** The handle's busy_timeout in ms, as the session may have set it. */
function busyTimeout(handle: Database): number {
  const [[timeout]] = handle.query("PRAGMA busy_timeout").values() as [[bigint]];
  return Number(timeout);
}

/** Sets the handle's busy_timeout for one statement, then back to `usualMs`. */
function busyTimeoutFor(handle: Database, timeoutMs: number, usualMs: number): Disposable {
  handle.run(`PRAGMA busy_timeout=${timeoutMs}`);
  return { [Symbol.dispose]: () => handle.run(`PRAGMA busy_timeout=${usualMs}`) };
}

/** Sets a session's own handle to the counters it had on shared ones, with a private database attached meanwhile. */
function seed(handle: Database, counters: Counters): void {
  attachPrivate(handle);
  try {
    setCounters(handle, counters, false);
  } finally {
    detachPrivate(handle);
  }
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
function run(statement: Statement): Ran {
  const columns = statement.columnNames;
  const distinct = new Set(columns).size === columns.length && !columns.includes("__proto__");
  const rows = (distinct ? statement.iterate() : statement.values()) as Iterable<Row>;
  const pieces = encodeRowsUtf8(columns, rows, { maxBytes: MAX_RESPONSE_BYTES, onChunk: collectNowAndThen });
  return { kind: "rowsUtf8", pieces, counters: null };
}

/** Output chunks (of 64 KiB) between two requests for a garbage collection. */
const CHUNKS_PER_COLLECTION = 8;

/**
 * Every row of a large result is garbage once encoded, and left alone the Worker's heap grew
 * to some three times the response before collecting: a collection asked for every 512 KiB
 * of output (Bun.gc(false) does not wait for it) keeps the peak nearer the response's size.
 */
function collectNowAndThen(chunks: number): void {
  if (chunks % CHUNKS_PER_COLLECTION === 0) Bun.gc(false);
}

function sqlErrorOutcome(error: unknown): Extract<Ran, { kind: "sqlError" }> {
  return { kind: "sqlError", ...sqlError(error), counters: null };
}

/** A SQLiteError's extended result code (its `errno`); null for any other error. */
function extendedCode(error: unknown): number | null {
  return error instanceof Error && "errno" in error && typeof error.errno === "number" ? error.errno : null;
}

/** A SQLiteError's primary result code; null for any other error. */
function primaryCode(error: unknown): number | null {
  const code = extendedCode(error);
  return code === null ? null : code & 0xff;
}

function sqlError(error: unknown): { code: number; message: string } {
  if (error instanceof ResultTooBigError) return { code: SQLITE_TOOBIG, message: error.message };
  const code = primaryCode(error);
  if (code !== null) return { code, message: (error as Error).message };
  // bun:sqlite throws a plain Error for text SQLite found no statement in.
  if (error instanceof Error && error.message === "Invalid SQL statement") return { code: SQLITE_MISUSE, message: "empty query" };
  return { code: SQLITE_ERROR, message: error instanceof Error ? error.message : String(error) };
}
