import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameParser } from "../../src/frame-parser";
import { MemoryBudget } from "../../src/memory-budget";

describe("MemoryBudget", () => {
  test("reserves up to its limit, and wakes waiters on release", () => {
    const budget = new MemoryBudget(10);
    expect(budget.reserve(6)).toBe(true);
    expect(budget.reserve(5)).toBe(false);
    let woken = 0;
    const waiter = () => woken++;
    budget.wait(waiter);
    budget.wait(() => woken++);
    budget.cancel(waiter);
    budget.release(6);
    expect(woken).toBe(1);
    expect(budget.used).toBe(0);
    expect(budget.reserve(10)).toBe(true);
  });
});

describe("FrameParser with a budget", () => {
  const text = new TextDecoder();
  const stream = Buffer.concat([encodeFrame("a".repeat(40)), encodeFrame("small"), encodeFrame("b".repeat(30))]);

  test("a refused reservation stalls the parser, and resume() carries on: every split point", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const budget = new MemoryBudget(50);
      expect(budget.reserve(20)).toBe(true); // someone else holds 20: room for 30, not 40
      const got: string[] = [];
      const parser = new FrameParser(100, (body) => got.push(text.decode(body)), budget);
      parser.push(stream.subarray(0, cut));
      // Only the 40-byte body cut across chunks needs more than there is.
      expect(parser.stalled).toBe(cut >= 4 && cut < 44);
      if (parser.stalled) {
        expect(parser.resume()).toBe(false);
        budget.release(20);
        expect(parser.resume()).toBe(true);
      } else {
        budget.release(20);
      }
      parser.push(stream.subarray(cut));
      expect(got).toEqual(["a".repeat(40), "small", "b".repeat(30)]);
      expect(budget.used).toBe(0);
    }
  });

  test("resume() succeeds once room is freed, and releases what it took when the frame completes", () => {
    const budget = new MemoryBudget(50);
    expect(budget.reserve(20)).toBe(true); // someone else holds 20
    const got: string[] = [];
    const parser = new FrameParser(100, (body) => got.push(text.decode(body)), budget);
    parser.push(stream.subarray(0, 10)); // header of the 40-byte frame and 6 bytes of it
    expect(parser.stalled).toBe(true);
    expect(parser.resume()).toBe(false);
    budget.release(20);
    expect(parser.resume()).toBe(true);
    expect(budget.used).toBe(40);
    parser.push(stream.subarray(10));
    expect(got).toEqual(["a".repeat(40), "small", "b".repeat(30)]);
    expect(budget.used).toBe(0);
  });

  test("dispose() gives back the reservation of an incomplete frame", () => {
    const budget = new MemoryBudget(100);
    const parser = new FrameParser(100, () => {}, budget);
    parser.push(stream.subarray(0, 10));
    expect(budget.used).toBe(40);
    parser.dispose();
    expect(budget.used).toBe(0);
  });
});
