// Reliability against the compiled binary: bounded memory under hostile clients, deadlines,
// oversized results, file limits, crashes (of a Worker and of the process), contention.

import { describe, expect, test } from "bun:test";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { IDLE_SWEEP_MS, MAX_SHARED_HANDLES, SHARED_HANDLE_IDLE_MS } from "../../src/sessions";
import { openDatabases } from "../open-databases";
import { connect, count, frame, query, roundTrip, rssOf, startServer, tempFolder, type Client } from "./harness";

const EMPTY = '{"columns":[],"data":[]}';
const MiB = 1024 * 1024;

function lengthHeader(length: number): Uint8Array {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, length, true);
  return header;
}

/** The largest RSS seen while `during` runs, sampling every 50 ms. */
async function peakRss(pid: number, during: Promise<unknown>): Promise<number> {
  let peak = rssOf(pid);
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, rssOf(pid));
    await Bun.sleep(50);
  }
  return Math.max(peak, rssOf(pid));
}

/** The server's threads: its own, Bun's and JavaScriptCore's, and one per database Worker. */
function threadsOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/^Threads:\s+(\d+)/m)![1]);
}

describe("memory stays bounded", () => {
  test("connections that neither hold state nor ask for counters get no thread of their own; one that holds state does", async () => {
    await using server = await startServer(["--workers", "2"]);
    const pid = server.proc.pid;
    await using setup = await connect(server.port);
    await setup.request(query("t.db", "CREATE TABLE t(x)"));
    await setup.request(query("t.db", "SELECT * FROM t")); // the readers are up
    const before = threadsOf(pid);
    const plain = await Promise.all(Array.from({ length: 64 }, () => connect(server.port)));
    try {
      for (const [i, client] of plain.entries()) {
        expect(await client.request(query("t.db", `INSERT INTO t VALUES (${i})`))).toBe(EMPTY);
        expect(await client.request(query("t.db", `SELECT x FROM t WHERE x = ${i}`))).toBe(`{"columns":["x"],"data":[{"x":${i}}]}`);
      }
      // Bun may start a helper thread or two of its own meanwhile; 64 Workers would be 64.
      expect(threadsOf(pid) - before).toBeLessThanOrEqual(4);
      const stateful = await Promise.all(Array.from({ length: 8 }, () => connect(server.port)));
      try {
        for (const client of stateful) expect(await client.request(query("t.db", "PRAGMA foreign_keys=ON"))).toBe(EMPTY);
        // Each has a Worker of its own; up to --workers idle ones were waiting, ready.
        expect(threadsOf(pid) - before).toBeGreaterThanOrEqual(8 - 2);
      } finally {
        for (const client of stateful) client.close();
      }
    } finally {
      for (const client of plain) client.close();
    }
  });

  test("reads of more databases than a reader keeps open leave the least recently used closed, and every one reads", async () => {
    await using server = await startServer(["--workers", "1"]);
    const folder = realpathSync(server.folder);
    await using client = await connect(server.port);
    const one = '{"columns":["one"],"data":[{"one":1}]}';
    const databases = MAX_SHARED_HANDLES + 44;
    for (let i = 0; i < databases; i++) expect(await client.request(query(`d${i}.db`, "SELECT 1 AS one"))).toBe(one);
    const open = openDatabases(server.proc.pid, folder);
    expect(open.length).toBe(MAX_SHARED_HANDLES);
    expect(open).toContain(`d${databases - 1}.db`);
    expect(open).not.toContain("d0.db");
    expect(await client.request(query("d0.db", "SELECT 1 AS one"))).toBe(one);
  });

  test("a database left unread is closed by the readers after a while, the connection still open", async () => {
    await using server = await startServer(["--workers", "2"]);
    const folder = realpathSync(server.folder);
    await using client = await connect(server.port);
    for (const db of ["a.db", "b.db"]) expect(await client.request(query(db, "SELECT 1 AS one"))).toBe('{"columns":["one"],"data":[{"one":1}]}');
    expect(openDatabases(server.proc.pid, folder)).toEqual(["a.db", "b.db"]);
    // Closed SHARED_HANDLE_IDLE_MS after their last use, by the next sweep.
    const deadline = performance.now() + SHARED_HANDLE_IDLE_MS + IDLE_SWEEP_MS + 5000;
    while (openDatabases(server.proc.pid, folder).length > 0 && performance.now() < deadline) await Bun.sleep(250);
    expect(openDatabases(server.proc.pid, folder)).toEqual([]);
    expect(await client.request(query("a.db", "SELECT 2 AS two"))).toBe('{"columns":["two"],"data":[{"two":2}]}');
  }, 60_000);

  test("200 clients announcing 16 MB requests and trickling them: RSS grows by less than the 256 MB budget", async () => {
    await using server = await startServer(["--workers", "2"]);
    const before = rssOf(server.proc.pid);
    const clients: Client[] = await Promise.all(Array.from({ length: 200 }, () => connect(server.port)));
    try {
      // Each sends 3 MB of a 16 MB body: 600 MB in all, were it all read and kept.
      const piece = new Uint8Array(3 * MiB).fill(0x20);
      for (const client of clients) {
        client.write(lengthHeader(16 * MiB));
        client.write(piece);
      }
      const probe = (async () => {
        await Bun.sleep(1500); // give the server time to read all it is willing to
        await using other = await connect(server.port);
        return await other.request(query("alive.db", "SELECT 1 AS one"));
      })();
      const peak = await peakRss(server.proc.pid, probe);
      expect(await probe).toBe('{"columns":["one"],"data":[{"one":1}]}');
      expect(peak - before).toBeLessThan(256 * MiB + 64 * MiB);
    } finally {
      for (const client of clients) client.close();
      await Promise.all(clients.map((c) => c.closed));
    }
    // The budget is free again: a large request in pieces is served.
    await using client = await connect(server.port);
    const body = new TextEncoder().encode(query("big.db", "SELECT 1 AS one --" + " ".repeat(10 * MiB)));
    const framed = frame(body);
    for (let at = 0; at < framed.length; at += MiB) client.write(framed.subarray(at, at + MiB));
    expect(await client.receive()).toBe('{"columns":["one"],"data":[{"one":1}]}');
  }, 60_000);

  test("a client that pipelines and never reads is paused; others are unaffected", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using greedy = await connect(server.port);
    const before = rssOf(server.proc.pid);
    // 300 requests of about 1 MB of response each, and no reading.
    const big = query("greedy.db", "SELECT hex(zeroblob(500000)) AS h");
    for (let i = 0; i < 300; i++) greedy.send(big);
    const probe = (async () => {
      await Bun.sleep(1500);
      await using other = await connect(server.port);
      return await other.request(query("calm.db", "SELECT 2 AS two"));
    })();
    const peak = await peakRss(server.proc.pid, probe);
    expect(await probe).toBe('{"columns":["two"],"data":[{"two":2}]}');
    expect(peak - before).toBeLessThan(100 * MiB); // not 300 MB of unsent responses
    // Once it reads, it gets every response, in order.
    const expected = '{"columns":["h"],"data":[{"h":"' + "0".repeat(1_000_000) + '"}]}';
    for (let i = 0; i < 300; i++) expect(await greedy.receive()).toBe(expected);
  }, 60_000);

  test("a result too large to send is error 18, and the connection goes on", async () => {
    await using server = await startServer(["--workers", "1"]);
    await using client = await connect(server.port);
    const response = JSON.parse(await client.request(query("huge.db", "SELECT randomblob(140000000) AS b")));
    expect(response).toMatchObject({ error_code: 18, error_message: expect.stringContaining("result too big") });
    expect(await client.request(query("huge.db", "SELECT 3 AS three"))).toBe('{"columns":["three"],"data":[{"three":3}]}');
  }, 60_000);
});

describe("disk stays bounded", () => {
  test("writes on the readers' shared handles keep the WAL checkpointed, as SQLite does on its own", async () => {
    await using server = await startServer(["--workers", "2"]);
    await using setup = await connect(server.port);
    await setup.request(query("wal.db", "CREATE TABLE t(v)")); // on setup's own handle: the writes below are shared
    const writers = await Promise.all([1, 2, 3, 4].map(() => connect(server.port)));
    await Promise.all(
      writers.map(async (w) => {
        for (let i = 0; i < 1000; i++) await w.request(query("wal.db", "INSERT INTO t VALUES (randomblob(100))"));
      }),
    );
    // SQLite checkpoints at 1,000 WAL pages and starts the WAL over; 4,000 pages would be 16 MB.
    expect(statSync(join(server.folder, "wal.db-wal")).size).toBeLessThan(8 * 1024 * 1024);
    for (const w of writers) await w[Symbol.asyncDispose]();
  });
});

describe("deadlines and limits", () => {
  test("a request still incomplete after 30 s closes its connection; an idle one stays open", async () => {
    await using server = await startServer();
    await using idle = await connect(server.port);
    await using slow = await connect(server.port);
    expect(await idle.request('{"cmd":"LIST"}')).toStartWith('{"list"');
    slow.write(lengthHeader(100));
    slow.write(new Uint8Array(10));
    const started = performance.now();
    await slow.closed;
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThan(29_000);
    expect(waited).toBeLessThan(40_000);
    expect(await idle.request('{"cmd":"LIST"}')).toStartWith('{"list"');
    expect(server.output()).toContain("request incomplete after 30 s");
  }, 60_000);

  test("the open-file soft limit is raised to the hard limit at start", async () => {
    using folder = tempFolder();
    const script = `ulimit -Sn 256 && exec "$0" "$@"`;
    await using server = await startServer(["--port", "0", "-d", folder], { command: ["sh", "-c", script, (await import("./harness")).BINARY] });
    const limits = readFileSync(`/proc/${server.proc.pid}/limits`, "utf8").match(/Max open files\s+(\d+)\s+(\d+)/)!;
    expect(Number(limits[1])).toBe(Number(limits[2]));
    expect(Number(limits[1])).toBeGreaterThan(256);
  });

  test("2,000 concurrent connections, each running a statement", async () => {
    await using server = await startServer(["--workers", "2"]);
    const clients = await Promise.all(Array.from({ length: 2000 }, () => connect(server.port)));
    try {
      const answers = await Promise.all(clients.map((client, i) => client.request(query("crowd.db", `SELECT ${i} AS i`))));
      answers.forEach((answer, i) => expect(answer).toBe(`{"columns":["i"],"data":[{"i":${i}}]}`));
    } finally {
      for (const client of clients) client.close();
      await Promise.all(clients.map((c) => c.closed));
    }
  }, 120_000);
});

describe("faults", () => {
  test("a Worker that dies closes only its sessions' connections; the rest keep working", async () => {
    await using server = await startServer(["--workers", "2"], { env: { SQLITE3_SERVER_FAULT_INJECTION: "1" } });
    await using victim = await connect(server.port);
    await using bystander = await connect(server.port);
    await bystander.request(query("f.db", "CREATE TABLE t(v)"));
    await victim.request(query("f.db", "BEGIN IMMEDIATE"));
    await victim.request(query("f.db", "INSERT INTO t VALUES ('uncommitted')"));
    victim.send(query("f.db", "SELECT 'crash this worker'"));
    await victim.closed;
    // The dead session's transaction is gone with its lock: others can write at once.
    expect(await bystander.request(query("f.db", "INSERT INTO t VALUES ('after')"))).toBe(EMPTY);
    expect(await bystander.request(query("f.db", "SELECT v FROM t"))).toBe('{"columns":["v"],"data":[{"v":"after"}]}');
    await using newcomer = await connect(server.port);
    expect(await newcomer.request(query("f.db", "SELECT COUNT(*) AS n FROM t"))).toBe('{"columns":["n"],"data":[{"n":1}]}');
    expect(server.output()).toMatch(/ERROR closing \S+: database worker failed: .*injected fault/);
  });

  test("reads queued behind the one a reader died on are run by its replacement", async () => {
    await using server = await startServer(["--workers", "1"], { env: { SQLITE3_SERVER_FAULT_INJECTION: "1" } });
    await using slow = await connect(server.port);
    await using victim = await connect(server.port);
    await using queued = await connect(server.port);
    const slowAnswer = slow.request(query("a.db", count(2_000_000))); // the only reader and permit
    await roundTrip(server.port);
    victim.send(query("f.db", "SELECT 'crash this worker'")); // queued behind it
    await roundTrip(server.port);
    const queuedAnswer = queued.request(query("q.db", "SELECT 42 AS n")); // queued behind the fault
    expect(await slowAnswer).toBe('{"columns":["n"],"data":[{"n":2000000}]}');
    await victim.closed;
    expect(await queuedAnswer).toBe('{"columns":["n"],"data":[{"n":42}]}');
    expect(server.output()).toMatch(/ERROR closing \S+: database worker failed: .*injected fault/);
  });

  test("kill -9 during concurrent writes loses no acknowledged write", async () => {
    using folder = tempFolder();
    const acknowledged: number[] = [];
    {
      await using server = await startServer(["--workers", "2"], { folder });
      await using setup = await connect(server.port);
      await setup.request(query("durable.db", "CREATE TABLE t(id INTEGER PRIMARY KEY)"));
      const writers = await Promise.all(Array.from({ length: 8 }, () => connect(server.port)));
      let next = 1;
      const enough = Promise.withResolvers<void>();
      const write = async (client: Client) => {
        for (;;) {
          const id = next++;
          const response = await client.request(query("durable.db", `INSERT INTO t VALUES (${id})`)).catch(() => null);
          if (response === null) return;
          if (response === EMPTY && acknowledged.push(id) === 300) enough.resolve();
        }
      };
      const running = writers.map(write);
      await enough.promise;
      server.proc.kill("SIGKILL");
      await Promise.all(running);
      for (const writer of writers) writer.close();
    }
    await using again = await startServer(["--workers", "2"], { folder });
    await using check = await connect(again.port);
    expect(await check.request(query("durable.db", "PRAGMA integrity_check"))).toBe(
      '{"columns":["integrity_check"],"data":[{"integrity_check":"ok"}]}',
    );
    const stored = new Set(JSON.parse(await check.request(query("durable.db", "SELECT id FROM t"))).data.map((r: { id: number }) => r.id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
  }, 60_000);

  test("writers and a batch deleter contending on one database: no errors, no lost rows", async () => {
    await using server = await startServer(["--workers", "4", "--busy-timeout", "5000"]);
    await using setup = await connect(server.port);
    await setup.request(query("busy.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, writer INTEGER, deleted INTEGER DEFAULT 0)"));
    await setup.request(query("busy.db", "CREATE TABLE gone(id INTEGER PRIMARY KEY)"));
    const writers = await Promise.all(Array.from({ length: 6 }, () => connect(server.port)));
    await using deleter = await connect(server.port);
    const errors: string[] = [];
    let writing = true;
    const written = await Promise.all(
      writers.map(async (client, w) => {
        let count = 0;
        for (let i = 0; i < 150; i++) {
          const response = await client.request(query("busy.db", `INSERT INTO t(writer) VALUES (${w})`));
          if (response === EMPTY) count++;
          else errors.push(response);
        }
        return count;
      }),
    ).finally(() => (writing = false));
    // Meanwhile the deleter moves rows to `gone` in batches, each in one transaction.
    const moved = (async () => {
      while (writing) {
        for (const sql of [
          "BEGIN IMMEDIATE",
          "INSERT INTO gone SELECT id FROM t ORDER BY id LIMIT 50",
          "DELETE FROM t WHERE id IN (SELECT id FROM gone)",
          "COMMIT",
        ]) {
          const response = await deleter.request(query("busy.db", sql));
          if (response !== EMPTY) errors.push(response);
        }
      }
    })();
    await moved;
    expect(errors).toEqual([]);
    const count = async (sql: string) => JSON.parse(await setup.request(query("busy.db", sql))).data[0].n;
    const total = (await count("SELECT COUNT(*) AS n FROM t")) + (await count("SELECT COUNT(*) AS n FROM gone"));
    expect(total).toBe(written.reduce((a, b) => a + b, 0));
    expect(total).toBe(900);
    for (const writer of writers) writer.close();
  }, 60_000);
});
