import { describe, expect, test } from "bun:test";
import { decodeReply, decodeRequest, encodeReply, encodeRequest, ONE_BUFFER_MAX_BYTES, rowsMessage, type WorkerReply, type WorkerRequest } from "../../src/messages";

describe("worker messages", () => {
  test("requests survive the trip, whatever the SQL holds", () => {
    const requests: WorkerRequest[] = [
      { kind: "init", folder: "/srv/data dir", busyTimeoutMs: 5000, claims: new SharedArrayBuffer(8), gates: new SharedArrayBuffer(8), owner: 3 },
      { kind: "query", session: 42, db: "a\tb.db", sql: "SELECT '\0;\n'" },
      { kind: "read", claim: 0, db: "x.db", sql: "SELECT 1" },
      { kind: "read", claim: -1, db: "y.db", sql: "SELECT ';'\0" },
      { kind: "endSession", session: 7 },
      { kind: "closeDatabase", db: "x.db" },
      { kind: "closeAll" },
    ];
    for (const request of requests) expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });

  test("replies survive the trip", () => {
    const replies: Exclude<WorkerReply, { kind: "rows" }>[] = [
      { kind: "sqlError", code: 19, message: "UNIQUE constraint failed: u.id\0?", pinned: false },
      { kind: "sqlError", code: 5, message: "database is locked", pinned: true },
      { kind: "notReadOnly" },
      { kind: "unsafeName" },
      { kind: "skipped" },
      { kind: "done" },
    ];
    for (const reply of replies) expect(decodeReply(encodeReply(reply))).toEqual(reply);
  });

  test("rows travel framed, in buffers that can be transferred: one, or the chunks past 1 MiB", () => {
    const body = '{"columns":["é"],"data":[' + '"x",'.repeat(300_000) + '"y"]}';
    for (const text of ['{"columns":["é"],"data":[]}', body]) {
      for (const pinned of [false, true]) {
        const bytes = new TextEncoder().encode(text);
        // Chunks as the encoder makes them: each at offset 0 of a buffer of its own, maybe longer.
        const chunks = [0, 7, 70_000, 600_000].filter((at) => at < bytes.length).map((at, i, starts) => {
          const piece = bytes.subarray(at, starts[i + 1] ?? bytes.length);
          const own = new Uint8Array(piece.length + 5);
          own.set(piece);
          return own.subarray(0, piece.length);
        });
        const { message, transfer } = rowsMessage(chunks, pinned);
        expect(Array.isArray(message)).toBe(bytes.length > ONE_BUFFER_MAX_BYTES);
        const copy = structuredClone(message, { transfer }); // what postMessage does
        const reply = decodeReply(copy) as Extract<WorkerReply, { kind: "rows" }>;
        expect([reply.kind, reply.pinned]).toEqual(["rows", pinned]);
        const frame = Buffer.concat(reply.frame);
        expect(frame.readUInt32LE(0)).toBe(bytes.length);
        expect(frame.subarray(4).toString("utf8")).toBe(text);
      }
    }
  });
});
