import { describe, expect, test } from "bun:test";
import { IdleCollection, type Every } from "../../src/idle-collection";

/** One repeating timer the test ticks by hand. */
function manualTimer() {
  const timer = { tick: null as (() => void) | null, started: 0 };
  const every: Every = (_ms, tick) => {
    timer.started++;
    timer.tick = tick;
    return { stop: () => (timer.tick = null) };
  };
  return { timer, every };
}

describe("IdleCollection", () => {
  test("collects once after a whole interval without requests, then keeps no timer until the next", () => {
    const { timer, every } = manualTimer();
    let collections = 0;
    const idle = new IdleCollection(() => collections++, 1000, every);
    expect(timer.tick).toBeNull(); // nothing handled yet: nothing to collect, no timer
    idle.handled();
    idle.handled();
    expect(timer.started).toBe(1);
    timer.tick!(); // requests since the last check: not quiet yet
    expect(collections).toBe(0);
    idle.handled();
    timer.tick!();
    expect(collections).toBe(0);
    timer.tick!(); // a whole interval without one
    expect(collections).toBe(1);
    expect(timer.tick).toBeNull();
    idle.handled();
    expect(timer.started).toBe(2);
    timer.tick!();
    timer.tick!();
    expect(collections).toBe(2);
  });
});
