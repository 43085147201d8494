// DELETE_DB must not race with statements on the same database: a statement that reopened
// the file between "close every handle" and "unlink" would write into an unlinked file and
// be lost. While a deletion of `db` runs, QUERYs on `db` wait for it to finish.

import { removeDatabaseFiles } from "./folder";
import type { WorkerPool } from "./worker-pool";

export class Deletions {
  readonly #running = new Map<string, Promise<unknown>>();

  constructor(
    readonly pool: WorkerPool,
    readonly folder: string,
  ) {}

  isRunning(db: string): boolean {
    return this.#running.has(db);
  }

  /** Settles when the deletion of `db` running now (if any) has finished. */
  finished(db: string): Promise<unknown> {
    return this.#running.get(db) ?? Promise.resolve();
  }

  /** Closes every connection's handle to `db`, then removes the file and its sidecars. */
  async delete(db: string): Promise<boolean> {
    while (this.isRunning(db)) await this.finished(db);
    const work = this.pool.closeDatabase(db).then(() => removeDatabaseFiles(this.folder, db));
    this.#running.set(db, work.catch(() => {}));
    try {
      return await work;
    } finally {
      this.#running.delete(db);
    }
  }
}
