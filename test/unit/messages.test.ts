import { describe, expect, test } from "bun:test";
import { decodeReply, decodeRequest, encodeReply, encodeRequest, type WorkerReply, type WorkerRequest } from "../../src/messages";

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
    const replies: WorkerReply[] = [
      { kind: "rows", json: '{"columns":[],"data":[]}' },
      { kind: "sqlError", code: 19, message: "UNIQUE constraint failed: u.id\0?" },
      { kind: "unsafeName" },
      { kind: "done" },
    ];
    for (const reply of replies) expect(decodeReply(encodeReply(reply))).toEqual(reply);
  });
});
