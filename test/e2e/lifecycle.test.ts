// Shutdown on SIGTERM/SIGINT, and the log format, against the compiled binary.

import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect, query, startServer, tempFolder } from "./harness";

const EMPTY = '{"columns":[],"data":[]}';
const SLOW = (n: number) => `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ${n}) SELECT COUNT(*) AS n FROM c`;

/** The -wal file is gone or empty: every handle was closed and checkpointed. */
function walCheckpointed(folder: string, db: string): boolean {
  const wal = join(folder, `${db}-wal`);
  return !existsSync(wal) || statSync(wal).size === 0;
}

describe("shutdown", () => {
  test("SIGTERM with an open transaction: rolled back, committed rows kept, WAL checkpointed, exit 0", async () => {
    using folder = tempFolder();
    {
      await using server = await startServer([], { folder });
      await using client = await connect(server.port);
      expect(await client.request(query("keep.db", "CREATE TABLE t(v)"))).toBe(EMPTY);
      expect(await client.request(query("keep.db", "INSERT INTO t VALUES ('committed')"))).toBe(EMPTY);
      expect(await client.request(query("keep.db", "BEGIN"))).toBe(EMPTY);
      expect(await client.request(query("keep.db", "INSERT INTO t VALUES ('uncommitted')"))).toBe(EMPTY);
      expect(await server.stop("SIGTERM")).toBe(0);
      expect(walCheckpointed(folder, "keep.db")).toBe(true);
      expect(server.output()).toMatch(/INFO SIGTERM: shutting down/);
      await client.closed;
    }
    await using again = await startServer([], { folder });
    await using client = await connect(again.port);
    expect(await client.request(query("keep.db", "SELECT v FROM t"))).toBe('{"columns":["v"],"data":[{"v":"committed"}]}');
  });

  test("SIGINT while a statement runs: it finishes, its response is sent, then exit 0", async () => {
    await using server = await startServer();
    await using client = await connect(server.port);
    await client.request(query("run.db", "CREATE TABLE t(v)"));
    const running = client.request(query("run.db", SLOW(2_000_000)));
    await using probe = await connect(server.port);
    await probe.request('{"cmd":"LIST"}'); // the slow request has been read by now
    const exited = server.stop("SIGINT");
    expect(await running).toBe('{"columns":["n"],"data":[{"n":2000000}]}');
    expect(await exited).toBe(0);
  });

  test("new connections are refused once shutting down", async () => {
    await using server = await startServer();
    await using client = await connect(server.port);
    const running = client.request(query("busy.db", SLOW(2_000_000)));
    await using probe = await connect(server.port);
    await probe.request('{"cmd":"LIST"}');
    server.proc.kill("SIGTERM");
    await probe.closed; // idle connections are closed at once
    await expect(connect(server.port).then((c) => c.request('{"cmd":"LIST"}'))).rejects.toThrow();
    await running;
    expect(await server.proc.exited).toBe(0);
  });

  test("a second signal exits at once", async () => {
    await using server = await startServer();
    await using client = await connect(server.port);
    const running = client.request(query("forever.db", SLOW(500_000_000))).catch(() => "closed");
    await using probe = await connect(server.port);
    await probe.request('{"cmd":"LIST"}');
    server.proc.kill("SIGTERM");
    await server.waitFor(/SIGTERM: shutting down/); // two signals sent at once would merge into one
    server.proc.kill("SIGTERM");
    expect(await server.proc.exited).toBe(1);
    expect(await running).toBe("closed");
    expect(server.output()).toContain("again: exiting at once");
  });
});

describe("logs", () => {
  test("one line format: timestamp, level, message; the listening line stands alone", async () => {
    await using server = await startServer(["--auth", "pw", "--client-max-packet-size", "10"]);
    await using client = await connect(server.port);
    client.write(new Uint8Array([99, 0, 0, 0]));
    await client.closed;
    expect(await server.stop()).toBe(0);
    const lines = server.output().trimEnd().split("\n");
    for (const line of lines) {
      if (line.startsWith("sqlite-server listening on ")) continue;
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARN|ERROR) \S/);
    }
    expect(server.output()).toMatch(/WARN closing \S+: frame of 99 bytes exceeds the 10-byte limit/);
    expect(server.output()).toMatch(/INFO stopped/);
  });
});
