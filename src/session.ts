// A connection's way to the database Workers: on a reader while it holds no state of its own,
// else on a session Worker it keeps for life (see worker-pool.ts), and the counters
// (last_insert_rowid(), changes()) its writes on readers leave, carried to its own handle.

import { formatCounters, ZERO_COUNTERS } from "./counters";
import type { WorkerReply, WorkerRequest } from "./messages";
import { mayReadAnywhere, mayWriteAnywhere } from "./sql-statements";
import type { Thread } from "./thread";
import type { Turn, WorkerPool } from "./worker-pool";

/** SQLite's busy handler's pauses between attempts at a lock, in ms; then the last, again. */
const BUSY_PAUSES_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
const SQLITE_BUSY = 5;

type QueryRequest = Extract<WorkerRequest, { kind: "query" }>;

export class Session {
  #thread: Thread | null = null;
  /** The session holds state only its own handles have (as its Worker last reported). */
  #pinned = false;
  #ended = false;
  /** Databases the session has used its own handle for: their writes stay on it. */
  readonly #ownDbs = new Set<string>();
  /** Databases whose statements went to shared handles since the session's own handle's last one. */
  readonly #ranElsewhere = new Set<string>();
  /**
   * Per database the session wrote on readers' handles: the counters its own handle would
   * show, until the database is deleted (which resets them, as it closes handles).
   */
  readonly #counters = new Map<string, string>();
  /**
   * Per database the session has written or waited on: how many times every handle to it was
   * closed (DELETE_DB) since. What was read or sent before the count moved is void.
   */
  readonly #closings = new Map<string, number>();

  constructor(
    readonly id: number,
    readonly pool: WorkerPool,
  ) {}

  /**
   * Waits for the right to run `sql` on `db`: on a reader when that is allowed (worker-pool.ts),
   * else on the session's own Worker. A reply of notReadOnly means "take a turn again with
   * own = true".
   */
  async turn(db: string, sql: string, own: boolean): Promise<Turn> {
    if (!own && !this.#pinned) {
      if (!this.#ownDbs.has(db) && mayWriteAnywhere(sql)) return this.#sharedWriteTurn(await this.pool.writeTurn(db));
      if (mayReadAnywhere(sql)) {
        if (this.#ownDbs.has(db)) this.#ranElsewhere.add(db);
        return this.pool.readTurn();
      }
    }
    return this.pool.permitTurn((db, sql) => this.#runOwn(db, sql));
  }

  /** A reader's turn that may write: it carries the session's counters there and back. */
  #sharedWriteTurn(turn: Turn): Turn {
    return {
      run: async (db, sql) => {
        const closings = this.#closingsOf(db);
        const reply = await turn.run(db, sql, this.#counters.get(db) ?? formatCounters(ZERO_COUNTERS));
        const closed = this.#closings.get(db) !== closings; // the counters came from a handle closed since
        if ((reply.kind === "rows" || reply.kind === "sqlError") && reply.counters !== null && !closed) {
          this.#counters.set(db, reply.counters);
        }
        return reply;
      },
      [Symbol.dispose]: () => turn[Symbol.dispose](),
    };
  }

  /** Called by the pool as every handle to `db` is closed (DELETE_DB): its counters are void. */
  databaseClosed(db: string): void {
    this.#counters.delete(db);
    const closings = this.#closings.get(db);
    if (closings !== undefined) this.#closings.set(db, closings + 1);
  }

  /** How many times `db`'s handles were closed, counted from now on. */
  #closingsOf(db: string): number {
    const closings = this.#closings.get(db) ?? 0;
    this.#closings.set(db, closings);
    return closings;
  }

  async #runOwn(db: string, sql: string): Promise<WorkerReply> {
    const thread = (this.#thread ??= this.pool.place());
    // Its first statement on `db` sets the new handle to the counters kept so far.
    const seed = this.#ownDbs.has(db) ? null : (this.#counters.get(db) ?? null);
    this.#ownDbs.add(db);
    this.#counters.delete(db);
    const refresh = this.#ranElsewhere.delete(db);
    const reply = await this.#untilNotBusy(thread, { kind: "query", session: this.id, db, sql, seed, sharedSince: null, refresh });
    if (reply.kind === "rows" || reply.kind === "sqlError") this.#pinned = reply.pinned;
    return reply;
  }

  /**
   * Sends a statement for the session's own handle. On a Worker other sessions share, it must
   * not wait there for a lock (see Sessions.query): it comes back `busy`, and goes again after
   * the pause SQLite's busy handler would take, holding its permit meanwhile, until it runs or
   * the Worker says busy_timeout is over. Not once the session has ended, nor once its
   * database is being deleted: either closes its handle, and sending the statement again
   * would open the file anew (while it is being removed, for a deletion; the check and the
   * send are one synchronous step, as in Connection's dispatch). It fails as a lock wait
   * that timed out would.
   */
  async #untilNotBusy(thread: Thread, query: QueryRequest): Promise<WorkerReply> {
    const request = thread.sessions > 1 ? { ...query, sharedSince: Date.now() } : query;
    const closings = this.#closingsOf(query.db);
    let reply = await thread.request(request);
    for (let attempt = 0; reply.kind === "busy"; attempt++) {
      await this.pool.pause(Math.min(BUSY_PAUSES_MS[Math.min(attempt, BUSY_PAUSES_MS.length - 1)]!, reply.leftMs));
      if (this.#ended || this.#closings.get(query.db) !== closings) {
        return { kind: "sqlError", code: SQLITE_BUSY, message: "database is locked", pinned: this.#pinned, counters: null };
      }
      reply = await thread.request({ ...request, seed: null }); // the first attempt set the counters
    }
    return reply;
  }

  /** Closes the session's handles (rolling back an open transaction). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.pool.release(this.#thread, this);
  }
}
