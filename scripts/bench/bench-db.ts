// The benchmark database of ../shared/bench/README.md: `kv` with 100,000 rows, an empty `log`;
// and, for the memory the readers keep, many small databases.

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

/** `count` databases `d0.db`, `d1.db`, …, each a table `t` of 200 rows of 200 characters (~50 KB). */
export function prepareSmallDatabases(folder: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const db = new Database(join(folder, `d${i}.db`));
    db.run("PRAGMA journal_mode=WAL");
    db.run("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    db.run("INSERT INTO t(v) SELECT hex(randomblob(100)) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) SELECT x FROM c)");
    db.close();
  }
}
