import { describe, expect, test } from "bun:test";
import { decodeReply, decodeRequest, encodeReply, encodeRequest, ONE_BUFFER_MAX_BYTES, rowsMessage, type WorkerReply, type WorkerRequest } from "../../src/messages";

describe("worker messages", () => {
  test("requests survive the trip, whatever the SQL holds", () => {
    const requests: WorkerRequest[] = [
      { kind: "init", folder: "/srv/data dir", busyTimeoutMs: 5000, claims: new SharedArrayBuffer(8), gates: new SharedArrayBuffer(8), owner: 3, polling: new SharedArrayBuffer(4), posted: new SharedArrayBuffer(4), pollMs: 0.1 },
      { kind: "query", session: 42, db: "a\tb.db", sql: "SELECT '\0;\n'", seed: null, sharedSince: null, refresh: false },
      { kind: "query", session: 42, db: "a.db", sql: "SELECT last_insert_rowid()", seed: "-9223372036854775808,3,12", sharedSince: 1763700000123, refresh: true },
      { kind: "read", claim: 0, db: "x.db", sql: "SELECT 1", write: null },
      { kind: "read", claim: -1, db: "y.db", sql: "SELECT ';'\0", write: null },
      { kind: "read", claim: 5, db: "y.db", sql: "INSERT INTO t VALUES ('\0')", write: { counters: "0,0,0", since: 1763700000123 } },
      { kind: "endSession", session: 7 },
      { kind: "closeDatabase", db: "x.db" },
      { kind: "closeAll" },
    ];
    for (const request of requests) expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });

  test("replies survive the trip", () => {
    const replies: Exclude<WorkerReply, { kind: "rows" }>[] = [
      { kind: "sqlError", code: 19, message: "UNIQUE constraint failed: u.id\0?", pinned: false, counters: null },
      { kind: "sqlError", code: 19, message: "UNIQUE constraint failed: u.id", pinned: false, counters: "9223372036854775807,0,41" },
      { kind: "sqlError", code: 5, message: "database is locked", pinned: true, counters: null },
      { kind: "notReadOnly" },
      { kind: "unsafeName" },
      { kind: "skipped" },
      { kind: "busy", leftMs: 4987 },
      { kind: "done" },
    ];
    for (const reply of replies) expect(decodeReply(encodeReply(reply))).toEqual(reply);
  });

  test("rows travel framed, in buffers that can be transferred: one, or the chunks past 1 MiB", () => {
    const body = '{"columns":["é"],"data":[' + '"x",'.repeat(300_000) + '"y"]}';
    for (const text of ['{"columns":["é"],"data":[]}', body]) {
      for (const [pinned, counters] of [[false, null], [true, null], [false, "-12,4096,9007199254740993"]] as const) {
        const bytes = new TextEncoder().encode(text);
        // Chunks as the encoder makes them: each at offset 0 of a buffer of its own, maybe longer.
        const chunks = [0, 7, 70_000, 600_000].filter((at) => at < bytes.length).map((at, i, starts) => {
          const piece = bytes.subarray(at, starts[i + 1] ?? bytes.length);
          const own = new Uint8Array(piece.length + 5);
          own.set(piece);
          return own.subarray(0, piece.length);
        });
        const { message, transfer } = rowsMessage(chunks, pinned, counters);
        expect(Array.isArray(message)).toBe(bytes.length > ONE_BUFFER_MAX_BYTES);
        const copy = structuredClone(message, { transfer }); // what postMessage does
        const reply = decodeReply(copy) as Extract<WorkerReply, { kind: "rows" }>;
        expect([reply.kind, reply.pinned, reply.counters]).toEqual(["rows", pinned, counters]);
        const frame = Buffer.concat(reply.frame);
        expect(frame.readUInt32LE(0)).toBe(bytes.length);
        expect(frame.subarray(4).toString("utf8")).toBe(text);
      }
    }
  });
});
