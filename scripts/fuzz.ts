// `bun scripts/fuzz.ts [--seed N] [--requests N] [--connections N]`
//
// Fuzzes the compiled binary: mutated and random request bodies (invalid UTF-8, deep nesting,
// wrong types, garbage) on long-lived connections, plus frame-level abuse on throwaway ones
// (truncated frames, resets mid-frame, oversized lengths). Every response must have one of
// the documented shapes, the server must survive, and must still answer at the end.
// Deterministic for a given seed. Exits 1 on the first violation, printing the request.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeFrame, FrameParser } from "../src/frame-parser";
import { seededRandom, type SeededRandom } from "./seeded-random";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "1" },
    requests: { type: "string", default: "1000000" },
    connections: { type: "string", default: "8" },
  },
});
const SEED = Number(values.seed);
const TOTAL = Number(values.requests);
const CONNECTIONS = Number(values.connections);
const MAX_PACKET = 65536;
const binary = join(import.meta.dir, "..", "dist", "sqlite3-server");

const SQL = [
  "SELECT 1",
  "SELECT 1.5 AS r, 'é' AS t, x'00ff' AS b, NULL AS n, 9223372036854775807 AS i",
  "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)",
  "INSERT INTO t(v) VALUES (random())",
  "SELECT * FROM t ORDER BY id DESC LIMIT 5",
  "DELETE FROM t WHERE id % 7 = 0",
  "BEGIN",
  "COMMIT",
  "ROLLBACK",
  "SELECT 1; SELECT 2",
  "   ",
  "-- comment",
  "selec 1",
  "ATTACH '/tmp/x.db' AS x",
  "PRAGMA journal_mode",
  "SELECT 1 AS a, 2 AS a",
];
const DBS = ["fuzz.db", "other.db", "", "../x", "a/b", ".", "x.db-wal", "é☃.db"];

function validBody(r: SeededRandom): string {
  switch (r.int(6)) {
    case 0:
      return JSON.stringify({ cmd: "LIST" });
    case 1:
      return JSON.stringify({ cmd: "DELETE_DB", db: r.pick(["gone.db", "never.db", "../x"]) });
    default:
      return JSON.stringify({ cmd: r.pick(["QUERY", "query", "Query"]), db: r.pick(DBS), query: r.pick(SQL) });
  }
}

const encoder = new TextEncoder();
const JUNK = ["{", "}", "[", "]", ":", ",", '"', "\\", "null", "true", "1e999", "-", "\u0000", "é", "'", "cmd", "db"];

/** A body: valid, mutated at the text or byte level, or generated from nothing. */
function fuzzBody(r: SeededRandom): Uint8Array {
  const kind = r.int(10);
  if (kind === 0) return Uint8Array.from({ length: r.int(64) }, () => r.int(256)); // random bytes
  if (kind === 1) {
    const depth = r.int(2000);
    return encoder.encode("[".repeat(depth) + "]".repeat(r.int(depth + 1)));
  }
  if (kind === 2) {
    const value = r.pick([5, -1, 1.5, null, true, [], {}, "x", 1e300, 18446744073709551616]);
    return encoder.encode(JSON.stringify({ cmd: r.pick(["QUERY", "LIST", "DELETE_DB", value]), db: r.pick([value, "fuzz.db"]), query: r.pick([value, "SELECT 1"]) }));
  }
  if (kind === 3) return encoder.encode(validBody(r).replace(/"(\w+)":/g, r.next() < 0.5 ? "$1:" : "'$1':")); // bare keys
  let text = validBody(r);
  if (kind <= 6) {
    // text-level: delete, duplicate or insert a junk token somewhere
    for (let n = 1 + r.int(3); n > 0; n--) {
      const at = r.int(text.length + 1);
      const op = r.int(3);
      if (op === 0) text = text.slice(0, at) + text.slice(at + 1 + r.int(4));
      else if (op === 1) text = text.slice(0, at) + text.slice(at, at + r.int(8)) + text.slice(at);
      else text = text.slice(0, at) + r.pick(JUNK) + text.slice(at);
    }
    return encoder.encode(text);
  }
  // byte-level: flip bytes, including into invalid UTF-8
  const bytes = encoder.encode(text);
  for (let n = 1 + r.int(4); n > 0; n--) bytes[r.int(bytes.length)] = r.pick([0xff, 0xc3, 0x80, 0x00, 0x22, 0x5c, r.int(256)]);
  return bytes;
}

/** Checks a response against the documented shapes; returns what is wrong, or null. */
function violation(text: string): string | null {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
  } catch {
    return "response is not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "response is not an object";
  const keys = Object.keys(value).sort().join(",");
  switch (keys) {
    case "columns,data":
      return Array.isArray(value.columns) && Array.isArray(value.data) ? null : "bad rows shape";
    case "error_code,error_message,query":
      return Number.isInteger(value.error_code) && typeof value.error_message === "string" && typeof value.query === "object"
        ? null
        : "bad SQL error shape";
    case "generic_error,message,request":
      return value.generic_error === 0 && typeof value.request === "string" ? null : "bad generic_error 0";
    case "generic_error,request":
      return [1, 2].includes(value.generic_error as number) ? (typeof value.request === "string" ? null : "bad echo")
        : [3, 4].includes(value.generic_error as number) ? (typeof value.request === "object" ? null : "bad echo")
        : "unknown generic_error";
    case "list":
      return Array.isArray(value.list) ? null : "bad list";
    case "result":
      return value.result === "ok" || value.result === "error" ? null : "bad result";
  }
  return `undocumented keys: ${keys}`;
}

type Conn = { write(bytes: Uint8Array): void; next(): Promise<string>; end(): void; closed: Promise<void> };

async function open(port: number): Promise<Conn> {
  const queue: string[] = [];
  const waiting: Array<(text: string) => void> = [];
  const decoder = new TextDecoder();
  const parser = new FrameParser(2 ** 32, (body) => {
    const text = decoder.decode(body);
    const waiter = waiting.shift();
    if (waiter) waiter(text);
    else queue.push(text);
  });
  let markClosed = () => {};
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, chunk) => parser.push(chunk),
      close: () => {
        for (const waiter of waiting.splice(0)) waiter("<closed>");
        markClosed();
      },
      error: () => markClosed(),
    },
  });
  return {
    write: (bytes) => void socket.write(bytes),
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    end: () => socket.end(),
    closed,
  };
}

/** Frame-level abuse on a throwaway connection: the server must simply carry on. */
async function abuse(port: number, r: SeededRandom): Promise<void> {
  const conn = await open(port).catch(() => null);
  if (!conn) return;
  const frame = encodeFrame(fuzzBody(r));
  switch (r.int(3)) {
    case 0: // truncated frame, then reset
      conn.write(frame.subarray(0, r.int(frame.length)));
      break;
    case 1: // oversized length: the server closes at once
      conn.write(encodeFrame(new Uint8Array(0)).fill(0xff, 0, 4));
      await conn.closed;
      return;
    default: // a good request, then a reset before reading the answer
      conn.write(frame);
  }
  conn.end();
  await conn.closed;
}

async function main() {
  const folder = mkdtempSync(join(tmpdir(), "sqlite3-server-fuzz-"));
  const server = Bun.spawn([binary, "--port", "0", "-d", folder, "-w", "2", "--client-max-packet-size", String(MAX_PACKET), "--busy-timeout", "50"], {
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const reader = server.stdout.getReader();
    let out = "";
    let port = 0;
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server exited before listening:\n${out}`);
      out += new TextDecoder().decode(value);
      port = Number(out.match(/listening on .+:(\d+)/)?.[1] ?? 0);
    }
    const started = performance.now();
    let sent = 0;
    let abuses = 0;
    const worker = async (id: number) => {
      const r = seededRandom(SEED * 1000 + id);
      let conn = await open(port);
      while (sent < TOTAL) {
        if (r.int(200) === 0) {
          abuses++;
          await abuse(port, r);
          continue;
        }
        // A small pipelined batch, answered in order.
        const batch = Array.from({ length: 1 + r.int(16) }, () => fuzzBody(r).subarray(0, MAX_PACKET));
        sent += batch.length;
        conn.write(Buffer.concat(batch.map((body) => encodeFrame(body))));
        for (const body of batch) {
          const response = await conn.next();
          const wrong = response === "<closed>" ? "connection closed by the server" : violation(response);
          if (wrong) {
            console.error(`seed ${SEED}: ${wrong}\nrequest: ${JSON.stringify(new TextDecoder().decode(body))}\nresponse: ${response.slice(0, 500)}`);
            process.exit(1);
          }
        }
        if (r.int(500) === 0) {
          conn.end();
          conn = await open(port);
        }
      }
      conn.end();
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => worker(i)));
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}`);
    const check = await open(port);
    check.write(encodeFrame(encoder.encode(JSON.stringify({ cmd: "QUERY", db: "final.db", query: "SELECT 1 AS ok" }))));
    const last = await check.next();
    if (last !== '{"columns":["ok"],"data":[{"ok":1}]}') throw new Error(`server no longer answers: ${last}`);
    check.end();
    const seconds = (performance.now() - started) / 1000;
    console.log(`fuzz: seed ${SEED}: ${sent} requests and ${abuses} abusive connections in ${seconds.toFixed(1)} s, every response documented, server alive`);
  } finally {
    server.kill("SIGKILL");
    await server.exited;
    rmSync(folder, { recursive: true, force: true });
  }
}

await main();
