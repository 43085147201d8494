// The database Worker threads, and where each statement runs.
//
// A bun:sqlite handle cannot leave the thread that opened it, and a Worker runs one statement
// at a time, so two sessions sharing a Worker could hold each other up. Two kinds of Worker:
//
// - Readers, as many as there are permits (`--workers`), each with its own handles shared by
//   all sessions. A query from a session that holds no connection state (no transaction,
//   PRAGMA, TEMP object or attachment, and not asking for last_insert_rowid() or changes())
//   runs on an idle reader, if SQLite deems it read-only. Statements hold a permit while they
//   run, so whenever a permit is free some reader is idle: reads never wait on each other.
// - Session Workers, for everything else: a session gets one of its own the first time it
//   needs its own handle, keeps it for life, and shares one only past `maxThreads`.

import { decodeReply, encodeRequest, type WorkerReply, type WorkerRequest } from "./messages";
import { Queue } from "./queue";
import { mayReadAnywhere } from "./sql-statements";

export class WorkerCrashedError extends Error {
  readonly code = "WORKER_CRASHED";
}

export interface PoolOptions {
  folder: string;
  busyTimeoutMs: number;
  /** Reader Workers: one per permit. */
  readers: number;
  /** Above this many session Workers, new sessions share the least-loaded one. */
  maxThreads: number;
  /** Session Workers kept alive with no session, ready for the next one. */
  keepIdle: number;
  createWorker: () => Worker;
}

/** Bun's error text quotes the source around the throw; keep the error line only. */
function summarize(message: string): string {
  const lines = message.split("\n").map((line) => line.trim());
  const error = lines.find((line) => /^[A-Za-z]*Error:/.test(line) || line.startsWith("error:"));
  return (error ?? lines[0] ?? "").slice(0, 300);
}

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };

class Thread {
  sessions = 0;
  dead = false;
  readonly #pending = new Queue<Pending>();

  constructor(
    readonly worker: Worker,
    readonly reader: boolean,
    onCrash: (thread: Thread, error: Error) => void,
  ) {
    worker.onmessage = (event: MessageEvent<string | ArrayBuffer>) => this.#pending.shift()?.resolve(decodeReply(event.data));
    worker.onerror = (event) => onCrash(this, new WorkerCrashedError(`database worker failed: ${summarize(event.message)}`));
    worker.addEventListener("close", () => onCrash(this, new WorkerCrashedError("database worker exited")));
  }

  get idle(): boolean {
    return this.#pending.length === 0;
  }

  request(request: WorkerRequest): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(new WorkerCrashedError("database worker is gone"));
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.worker.postMessage(encodeRequest(request));
    });
  }

  /** Fails every request still waiting for a reply. */
  fail(error: Error): void {
    this.dead = true;
    for (let p = this.#pending.shift(); p; p = this.#pending.shift()) p.reject(error);
  }
}

export class Session {
  #thread: Thread | null = null;
  /** The session holds state only its own handles have (as its Worker last reported). */
  #pinned = false;
  #ended = false;

  constructor(
    readonly id: number,
    readonly pool: WorkerPool,
  ) {}

  /**
   * Runs a statement: on an idle reader when that is allowed (see above), else on the
   * session's own Worker. A reply of notReadOnly means "run it again with own = true";
   * the caller re-checks what must hold before a dispatch (see deletions.ts).
   */
  query(db: string, sql: string, own = false): Promise<WorkerReply> {
    if (!own && !this.#pinned && mayReadAnywhere(sql)) {
      const reader = this.pool.idleReader();
      if (reader) return reader.request({ kind: "query", session: 0, db, sql, readOnly: true });
    }
    this.#thread ??= this.pool.place();
    return this.#thread.request({ kind: "query", session: this.id, db, sql, readOnly: false }).then((reply) => {
      if (reply.kind === "rows" || reply.kind === "sqlError") this.#pinned = reply.pinned;
      return reply;
    });
  }

  /** Closes the session's handles (rolling back an open transaction). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#thread) this.pool.release(this.#thread, this.id);
  }
}

export class WorkerPool {
  readonly #options: PoolOptions;
  readonly #readers: Thread[] = [];
  readonly #threads = new Set<Thread>();
  #nextSession = 1;
  #closing = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    for (let i = 0; i < options.readers; i++) this.#spawn(true);
    for (let i = 0; i < options.keepIdle; i++) this.#spawn(false);
  }

  openSession(): Session {
    return new Session(this.#nextSession++, this);
  }

  idleReader(): Thread | null {
    return this.#readers.find((reader) => reader.idle && !reader.dead) ?? null;
  }

  /** A session Worker for a new session: an unused one, a new one, or past the cap the least loaded. */
  place(): Thread {
    let least: Thread | null = null;
    for (const thread of this.#threads) {
      if (thread.sessions === 0) {
        thread.sessions++;
        return thread;
      }
      if (!least || thread.sessions < least.sessions) least = thread;
    }
    const thread = !least || this.#threads.size < this.#options.maxThreads ? this.#spawn(false) : least;
    thread.sessions++;
    return thread;
  }

  /** Called by Session.end(): closes its handles, and retires the Worker if it is surplus. */
  release(thread: Thread, session: number): void {
    thread.sessions--;
    if (thread.dead) return;
    // Retire only after the handles are closed: a Worker terminated with a handle open
    // would keep that handle's file locks for the life of the process.
    thread.request({ kind: "endSession", session }).then(
      () => {
        if (thread.sessions === 0 && !thread.dead && this.#idleCount() > this.#options.keepIdle) this.#retire(thread);
      },
      () => {},
    );
  }

  /** Every handle to `db` (readers' and sessions') is closed when this resolves. */
  async closeDatabase(db: string): Promise<void> {
    const holders = [...this.#readers, ...[...this.#threads].filter((t) => t.sessions > 0)];
    await Promise.all(holders.map((t) => t.request({ kind: "closeDatabase", db }).catch(() => {})));
  }

  /**
   * Closes every handle (checkpointing WAL) and stops every Worker. A Worker still busy
   * after `waitMs` (a statement that will not end) is stopped with its handles open;
   * SQLite's journal keeps its database consistent.
   */
  async close(waitMs: number): Promise<void> {
    this.#closing = true;
    const threads = [...this.#readers, ...this.#threads];
    const closed = Promise.all(threads.map((t) => t.request({ kind: "closeAll" }).catch(() => {})));
    await Promise.race([closed, Bun.sleep(waitMs)]);
    for (const thread of threads) this.#retire(thread);
  }

  #spawn(reader: boolean): Thread {
    const thread = new Thread(this.#options.createWorker(), reader, (t, error) => this.#onCrash(t, error));
    thread.request({ kind: "init", folder: this.#options.folder, busyTimeoutMs: this.#options.busyTimeoutMs });
    if (reader) this.#readers.push(thread);
    else this.#threads.add(thread);
    return thread;
  }

  #retire(thread: Thread): void {
    this.#threads.delete(thread);
    thread.dead = true;
    thread.worker.terminate();
  }

  #idleCount(): number {
    let idle = 0;
    for (const thread of this.#threads) if (thread.sessions === 0) idle++;
    return idle;
  }

  #onCrash(thread: Thread, error: Error): void {
    if (thread.dead) return;
    thread.fail(error);
    if (thread.reader) {
      this.#readers.splice(this.#readers.indexOf(thread), 1);
      if (!this.#closing) this.#spawn(true);
      return;
    }
    this.#threads.delete(thread);
    if (!this.#closing && this.#idleCount() < this.#options.keepIdle) this.#spawn(false);
  }
}
