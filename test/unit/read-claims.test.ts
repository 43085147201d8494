import { describe, expect, test } from "bun:test";
import { Claims, Read } from "../../src/read-claims";
import type { WorkerReply } from "../../src/messages";

const done: WorkerReply = { kind: "done" };
const skipped: WorkerReply = { kind: "skipped" };

function twoCopies(claims: Claims) {
  const outcome: { reply?: WorkerReply; error?: Error; settled: number } = { settled: 0 };
  const claim = claims.take();
  const read = new Read(
    "a.db",
    "R…",
    false,
    claim,
    claims,
    (reply) => ((outcome.reply = reply), outcome.settled++),
    (error) => ((outcome.error = error), outcome.settled++),
  );
  read.copies = 2;
  return { read, claim, outcome };
}

describe("Read and its claim flag", () => {
  test("answered once by the copy that ran, whichever order the replies come in", () => {
    for (const order of [[done, skipped], [skipped, done]]) {
      const claims = new Claims();
      const { read, outcome } = twoCopies(claims);
      for (const reply of order) read.settle(reply);
      expect(outcome).toEqual({ reply: done, settled: 1 });
    }
  });

  test("a copy lost with a dead reader does not matter if the other answers", () => {
    const { read, outcome } = twoCopies(new Claims());
    read.fail(new Error("worker died"));
    read.settle(done);
    expect(outcome).toEqual({ reply: done, settled: 1 });
  });

  test("fails with the dead reader's error when the reader that claimed it died", () => {
    const { read, outcome } = twoCopies(new Claims());
    read.settle(skipped); // the other reader saw the flag taken
    read.fail(new Error("worker died"));
    expect(outcome.error?.message).toBe("worker died");
    expect(outcome.settled).toBe(1);
  });

  test("a flag is unclaimed until set, and handed out again cleared once every copy is back", () => {
    const claims = new Claims();
    const { read, claim } = twoCopies(claims);
    expect(read.unclaimed).toBe(true);
    new Int32Array(claims.buffer)[claim] = 1; // as a reader's Atomics.compareExchange does
    expect(read.unclaimed).toBe(false);
    read.settle(done);
    expect(claims.take()).not.toBe(claim); // one copy still out: the flag is not free yet
    read.settle(skipped);
    expect(claims.take()).toBe(claim);
    expect(claims.claimed(claim)).toBe(false);
  });
});
