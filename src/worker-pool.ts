// The database Worker threads and the sessions placed on them.
//
// A bun:sqlite handle cannot leave the thread that opened it, so a session (one TCP
// connection's handles) stays on one Worker for life. A Worker runs one statement at a
// time, so two sessions sharing a Worker can hold each other up. Placement therefore gives
// each session a Worker of its own while there are fewer than `maxThreads` of them, and
// only past that shares the least-loaded one. Connections that never run a QUERY cost no
// Worker; a Worker whose last session ends is kept warm (up to `keepIdle`) or terminated.

import { decodeReply, encodeRequest, type WorkerReply, type WorkerRequest } from "./messages";
import { Queue } from "./queue";

export class WorkerCrashedError extends Error {
  readonly code = "WORKER_CRASHED";
}

export interface PoolOptions {
  folder: string;
  busyTimeoutMs: number;
  /** Above this many Workers, new sessions share the least-loaded one. */
  maxThreads: number;
  /** Workers kept alive with no session, ready for the next one. */
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
    onCrash: (thread: Thread, error: Error) => void,
  ) {
    worker.onmessage = (event: MessageEvent<string | ArrayBuffer>) => this.#pending.shift()?.resolve(decodeReply(event.data));
    worker.onerror = (event) => onCrash(this, new WorkerCrashedError(`database worker failed: ${summarize(event.message)}`));
    worker.addEventListener("close", () => onCrash(this, new WorkerCrashedError("database worker exited")));
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
  #ended = false;
  constructor(
    readonly id: number,
    readonly thread: Thread,
    readonly pool: WorkerPool,
  ) {}

  query(db: string, sql: string): Promise<WorkerReply> {
    return this.thread.request({ kind: "query", session: this.id, db, sql });
  }

  /** Closes the session's handles (rolling back an open transaction). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.pool.release(this);
  }
}

export class WorkerPool {
  readonly #options: PoolOptions;
  readonly #threads = new Set<Thread>();
  #nextSession = 1;
  #closing = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    for (let i = 0; i < options.keepIdle; i++) this.#spawn();
  }

  get threadCount(): number {
    return this.#threads.size;
  }

  openSession(): Session {
    const thread = this.#place();
    thread.sessions++;
    return new Session(this.#nextSession++, thread, this);
  }

  /** Called by Session.end(). */
  release(session: Session): void {
    const thread = session.thread;
    thread.sessions--;
    if (thread.dead) return;
    // Retire only after the handles are closed: a Worker terminated with a handle open
    // would keep that handle's file locks for the life of the process.
    thread.request({ kind: "endSession", session: session.id }).then(
      () => {
        if (thread.sessions === 0 && !thread.dead && this.#idleCount() > this.#options.keepIdle) this.#retire(thread);
      },
      () => {},
    );
  }

  /** Every session's handle to `db` is closed when this resolves. */
  async closeDatabase(db: string): Promise<void> {
    const busy = [...this.#threads].filter((t) => t.sessions > 0);
    await Promise.all(busy.map((t) => t.request({ kind: "closeDatabase", db }).catch(() => {})));
  }

  /**
   * Closes every handle (checkpointing WAL) and stops every Worker. A Worker still busy
   * after `waitMs` (a statement that will not end) is stopped with its handles open;
   * SQLite's journal keeps its database consistent.
   */
  async close(waitMs: number): Promise<void> {
    this.#closing = true;
    const threads = [...this.#threads];
    const closed = Promise.all(threads.map((t) => t.request({ kind: "closeAll" }).catch(() => {})));
    await Promise.race([closed, Bun.sleep(waitMs)]);
    for (const thread of threads) this.#retire(thread);
  }

  #place(): Thread {
    let least: Thread | null = null;
    for (const thread of this.#threads) {
      if (thread.sessions === 0) return thread;
      if (!least || thread.sessions < least.sessions) least = thread;
    }
    if (!least || this.#threads.size < this.#options.maxThreads) return this.#spawn();
    return least;
  }

  #spawn(): Thread {
    const thread = new Thread(this.#options.createWorker(), (t, error) => this.#onCrash(t, error));
    thread.request({ kind: "init", folder: this.#options.folder, busyTimeoutMs: this.#options.busyTimeoutMs });
    this.#threads.add(thread);
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
    this.#threads.delete(thread);
    if (!this.#closing && this.#idleCount() < this.#options.keepIdle) this.#spawn();
  }
}
