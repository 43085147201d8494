import { describe, expect, test } from "bun:test";
import { decodeReply, decodeRequest, encodeReply, encodeRequest, encodeRowsReply, type WorkerReply, type WorkerRequest } from "../../src/messages";

describe("worker messages", () => {
  test("requests survive the trip, whatever the SQL holds", () => {
    const requests: WorkerRequest[] = [
      { kind: "init", folder: "/srv/data dir", busyTimeoutMs: 5000 },
      { kind: "query", session: 42, db: "a\tb.db", sql: "SELECT '\0;\n'" },
      { kind: "endSession", session: 7 },
      { kind: "closeDatabase", db: "x.db" },
      { kind: "closeAll" },
    ];
    for (const request of requests) expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });

  test("replies survive the trip", () => {
    const replies: Exclude<WorkerReply, { kind: "rows" }>[] = [
      { kind: "sqlError", code: 19, message: "UNIQUE constraint failed: u.id\0?" },
      { kind: "unsafeName" },
      { kind: "done" },
    ];
    for (const reply of replies) expect(decodeReply(encodeReply(reply))).toEqual(reply);
  });

  test("rows travel framed, in a buffer of their own that can be transferred", () => {
    const buffer = encodeRowsReply('{"columns":["é"],"data":[]}');
    const reply = decodeReply(buffer);
    expect(reply.kind).toBe("rows");
    const frame = (reply as { frame: Uint8Array }).frame;
    expect(frame.byteLength).toBe(buffer.byteLength);
    expect(new DataView(buffer).getUint32(0, true)).toBe(buffer.byteLength - 4);
    expect(new TextDecoder().decode(frame.subarray(4))).toBe('{"columns":["é"],"data":[]}');
  });
});
