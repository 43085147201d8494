import { describe, expect, test } from "bun:test";
import { decodeReply, decodeRequest, encodeReply, encodeRequest, frameRows, type WorkerReply, type WorkerRequest } from "../../src/messages";

describe("worker messages", () => {
  test("requests survive the trip, whatever the SQL holds", () => {
    const requests: WorkerRequest[] = [
      { kind: "init", folder: "/srv/data dir", busyTimeoutMs: 5000, claims: new SharedArrayBuffer(8) },
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

  test("rows travel framed, in a buffer of their own that can be transferred", () => {
    for (const pinned of [false, true]) {
      const pieces = ['{"columns":["é"],', '"data":[]}'].map((text) => new TextEncoder().encode(text));
      const buffer = frameRows(pieces, pinned);
      const reply = decodeReply(buffer) as { kind: string; frame: Uint8Array; pinned: boolean };
      expect([reply.kind, reply.pinned]).toEqual(["rows", pinned]);
      expect(reply.frame.byteLength).toBe(buffer.byteLength - 1);
      expect(new DataView(buffer).getUint32(0, true)).toBe(reply.frame.byteLength - 4);
      expect(new TextDecoder().decode(reply.frame.subarray(4))).toBe('{"columns":["é"],"data":[]}');
    }
  });
});
