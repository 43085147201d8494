// No statement reads or writes a file outside the databases folder.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect, query, startServer, tempFolder, type Server } from "./harness";

const EMPTY = '{"columns":[],"data":[]}';
let server: Server;
let outside: string & Disposable;
beforeAll(async () => {
  server = await startServer(["--workers", "2"]);
  outside = tempFolder();
});
afterAll(async () => {
  await server[Symbol.asyncDispose]();
  outside[Symbol.dispose]();
});

describe("confinement", () => {
  test("ATTACH and VACUUM INTO reach only databases of the folder", async () => {
    await using client = await connect(server.port);
    await client.request(query("main.db", "CREATE TABLE t(v)"));
    await client.request(query("main.db", "INSERT INTO t VALUES (42)"));
    expect(await client.request(query("main.db", "VACUUM INTO 'copy.db'"))).toBe(EMPTY);
    expect(await client.request(query("main.db", "ATTACH 'copy.db' AS c"))).toBe(EMPTY);
    expect(await client.request(query("main.db", "SELECT v FROM c.t"))).toBe('{"columns":["v"],"data":[{"v":42}]}');
    expect(await client.request(query("main.db", "DETACH c"))).toBe(EMPTY);
    for (const sql of [
      `ATTACH '${join(outside, "evil.db")}' AS e`,
      "ATTACH '../evil.db' AS e",
      `VACUUM INTO '${join(outside, "copy.db")}'`,
      `ATTACH 'file:${join(outside, "uri.db")}?mode=rwc' AS u`,
      `ATTACH '${outside}' || '/x.db' AS e`,
      `PRAGMA temp_store_directory = '${outside}'`,
      "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libm.so.6')",
    ]) {
      const response = JSON.parse(await client.request(query("main.db", sql)));
      expect([sql, response.error_code]).toEqual([sql, expect.any(Number)]);
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(server.folder, "copy.db"))).toBe(true);
  });

  test("DELETE_DB closes handles that have the database attached", async () => {
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    await a.request(query("host.db", "ATTACH 'guest.db' AS g"));
    await a.request(query("host.db", "CREATE TABLE g.t(v)"));
    await a.request(query("host.db", "INSERT INTO g.t VALUES (1)"));
    expect(await b.request('{"cmd":"DELETE_DB","db":"guest.db"}')).toBe('{"result":"ok"}');
    expect(readdirSync(server.folder).filter((f) => f.startsWith("guest.db"))).toEqual([]);
    // a's handle was closed with the attachment; its next statement opens host.db afresh.
    expect(JSON.parse(await a.request(query("host.db", "SELECT * FROM g.t")))).toMatchObject({ error_code: 1 });
  });
});
