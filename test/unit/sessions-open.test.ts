// Opening a database: two handles in two threads that first open the same new file at once
// must both get it in WAL mode, never SQLITE_BUSY (a client's first query would fail).

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { retryWhileBusy } from "../../src/sessions";

describe("opening a database", () => {
  test("two Workers opening the same new database at once both succeed", async () => {
    const folder = mkdtempSync(join(tmpdir(), "sqlite3-server-open-"));
    const workers = [0, 1].map(() => new Worker(new URL("./fixtures/open-worker.ts", import.meta.url).href));
    const ask = (worker: Worker, db: string) =>
      new Promise<string>((resolve) => {
        worker.onmessage = (event: MessageEvent<string>) => resolve(event.data);
        worker.postMessage({ folder, db });
      });
    try {
      // Without the retry, a few of these 800 opens (2–7 in three runs) answered "5 database is locked".
      const outcomes = new Map<string, number>();
      for (let i = 0; i < 400; i++) {
        for (const kind of await Promise.all(workers.map((worker) => ask(worker, `new-${i}.db`)))) outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      }
      expect(Object.fromEntries(outcomes)).toEqual({ rowsUtf8: 800 });
    } finally {
      for (const worker of workers) worker.terminate();
      rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);

  test("retryWhileBusy retries only SQLITE_BUSY, and only until its deadline", () => {
    const busy = Object.assign(new Error("database is locked"), { errno: 5 });
    let calls = 0;
    retryWhileBusy(() => {
      if (++calls < 3) throw busy;
    }, 1000, () => {});
    expect(calls).toBe(3);
    const other = Object.assign(new Error("disk I/O error"), { errno: 10 });
    calls = 0;
    const failsOtherwise = () => {
      calls++;
      throw other;
    };
    expect(() => retryWhileBusy(failsOtherwise, 1000, () => {})).toThrow("disk I/O error");
    expect(calls).toBe(1);
    expect(() => retryWhileBusy(() => { throw busy; }, 0, () => {})).toThrow("database is locked");
  });
});
