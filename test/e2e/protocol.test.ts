// Framing and request handling over a real socket: pipelining, splits, limits, bad input.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, frame, query, startServer, type Server } from "./harness";

let server: Server;
beforeAll(async () => {
  server = await startServer(["--workers", "2", "--client-max-packet-size", "1000"]);
});
afterAll(async () => {
  await server[Symbol.asyncDispose]();
});

describe("framing", () => {
  test("pipelined requests in one segment are answered in order", async () => {
    await using client = await connect(server.port);
    const bodies = Array.from({ length: 50 }, (_, i) => query("pipe.db", `SELECT ${i} AS n`));
    client.write(Buffer.concat(bodies.map((b) => frame(b))));
    for (let i = 0; i < 50; i++) expect(await client.receive()).toBe(`{"columns":["n"],"data":[{"n":${i}}]}`);
  });

  test("a request sent byte by byte", async () => {
    await using client = await connect(server.port);
    const bytes = frame(query("bytes.db", "SELECT 'é' AS s"));
    for (const byte of bytes) client.write(Uint8Array.of(byte));
    expect(await client.receive()).toBe('{"columns":["s"],"data":[{"s":"é"}]}');
  });

  test("a response of many megabytes arrives whole, pipelined between small ones", async () => {
    await using client = await connect(server.port);
    // 3 MB of JSON: past the size at which a Worker hands over its chunks instead of one buffer.
    const big = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 30000) SELECT i, printf('%090d', i) AS t, zeroblob(2) AS b FROM c";
    client.write(Buffer.concat([query("big.db", "SELECT 1 AS a"), query("big.db", big), query("big.db", "SELECT 2 AS a")].map((b) => frame(b))));
    expect(await client.receive()).toBe('{"columns":["a"],"data":[{"a":1}]}');
    const rows = Array.from({ length: 30000 }, (_, k) => `{"b":"X'0000'","i":${k + 1},"t":"${String(k + 1).padStart(90, "0")}"}`);
    expect(await client.receive()).toBe(`{"columns":["i","t","b"],"data":[${rows.join(",")}]}`);
    expect(await client.receive()).toBe('{"columns":["a"],"data":[{"a":2}]}');
  });

  test("an empty frame is an invalid request and the connection goes on", async () => {
    await using client = await connect(server.port);
    const response = JSON.parse(await client.request(""));
    expect(response.generic_error).toBe(0);
    expect(response.request).toBe("");
    expect(await client.request('{"cmd":"LIST"}')).toStartWith('{"list":[');
  });

  test("invalid UTF-8 is replaced, not fatal", async () => {
    await using client = await connect(server.port);
    const body = Buffer.concat([Buffer.from('{"cmd":"QUERY","db":"utf.db","query":"SELECT \''), Buffer.from([0xff, 0xfe]), Buffer.from("' AS s\"}")]);
    expect(await client.request(body)).toBe('{"columns":["s"],"data":[{"s":"\ufffd\ufffd"}]}');
    expect(await client.request(query("utf.db", "SELECT CAST(x'ff41' AS TEXT) AS t"))).toBe('{"columns":["t"],"data":[{"t":"\ufffdA"}]}');
  });

  test("a length over the limit closes the connection at once, with no reply", async () => {
    await using client = await connect(server.port);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 1001, true);
    client.write(header); // no body follows: the server must not wait for one
    await client.closed;
    expect(client.isClosed()).toBe(true);
    // and other connections are unaffected
    await using other = await connect(server.port);
    expect(await other.request(query("limit.db", "SELECT 1 AS one"))).toBe('{"columns":["one"],"data":[{"one":1}]}');
  });

  test("a request of exactly the limit is served", async () => {
    await using client = await connect(server.port);
    const base = query("limit.db", "SELECT 1 AS one --");
    const body = base.slice(0, -2) + " ".repeat(1000 - base.length) + '"}';
    expect(body.length).toBe(1000);
    expect(await client.request(body)).toBe('{"columns":["one"],"data":[{"one":1}]}');
  });
});

describe("bad requests never close the connection", () => {
  test("a run of malformed requests, then a good one", async () => {
    await using client = await connect(server.port);
    const bad = ["{", "null", "[]", '{"cmd":null}', '{"cmd":"QUERY","db":"x/y","query":"SELECT 1"}', '{"cmd":"QUERY","db":"ok.db","query":[]}', '{"cmd":"DELETE_DB","db":7}', "{cmd:QUERY}"];
    for (const body of bad) {
      const response = JSON.parse(await client.request(body));
      expect(response).toContainKey("generic_error");
    }
    expect(await client.request(query("ok.db", "SELECT 2 AS two"))).toBe('{"columns":["two"],"data":[{"two":2}]}');
  });

  test("a step error is an error response, never a partial success", async () => {
    await using client = await connect(server.port);
    const response = await client.request(query("step.db", "SELECT 1 AS a UNION ALL SELECT abs(-9223372036854775808)"));
    expect(JSON.parse(response)).toMatchObject({ error_code: 1, error_message: "integer overflow" });
  });

  test("constraint errors report the primary result code", async () => {
    await using client = await connect(server.port);
    await client.request(query("fk.db", "CREATE TABLE c(x NOT NULL)"));
    expect(JSON.parse(await client.request(query("fk.db", "INSERT INTO c VALUES (NULL)")))).toMatchObject({ error_code: 19 });
  });
});

describe("LIST and database names", () => {
  test("LIST shows databases sorted, without sidecars", async () => {
    await using client = await connect(server.port);
    await client.request(query("zz.db", "CREATE TABLE IF NOT EXISTS t(a)"));
    await client.request(query("aa.db", "CREATE TABLE IF NOT EXISTS t(a)"));
    const { list } = JSON.parse(await client.request('{"cmd":"list"}'));
    expect(list).toEqual([...list].sort());
    expect(list).toContain("aa.db");
    expect(list).toContain("zz.db");
    expect(list.some((name: string) => /-(wal|shm|journal)$/.test(name))).toBe(false);
  });

  test("sidecar names are refused as database names", async () => {
    await using client = await connect(server.port);
    expect(await client.request(query("aa.db-wal", "SELECT 1"))).toBe(
      '{"generic_error":3,"request":{"cmd":"QUERY","db":"aa.db-wal","query":"SELECT 1"}}',
    );
  });
});
