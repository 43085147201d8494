// The benchmark database of ../shared/bench/README.md: `kv` with 100,000 rows, an empty `log`.

import { Database } from "bun:sqlite";
import { join } from "node:path";

export const ROWS = 100_000;

export function prepareDatabase(folder: string): void {
  const db = new Database(join(folder, "bench.db"));
  db.run("PRAGMA journal_mode=WAL");
  db.run("CREATE TABLE kv(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, n INTEGER)");
  db.run("CREATE TABLE log(id INTEGER PRIMARY KEY, v INTEGER)");
  const insert = db.prepare("INSERT INTO kv VALUES (?, ?, ?, randomblob(16), 0)");
  db.transaction(() => {
    for (let id = 1; id <= ROWS; id++) insert.run(id, `name-${id}`, id * 1.25);
  })();
  db.close();
}
