import { describe, expect, test } from "bun:test";
import { Semaphore } from "../../src/semaphore";

describe("Semaphore", () => {
  test("grants up to its count, then queues", async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    await s.acquire();
    expect(s.available).toBe(0);
    let third = false;
    const pending = s.acquire().then((p) => {
      third = true;
      return p;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(s.waiting).toBe(1);
    a.release();
    (await pending).release();
    expect(third).toBe(true);
    expect(s.available).toBe(1);
  });

  test("waiters are served first in, first out", async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map((n) => s.acquire().then((p) => (order.push(n), p.release())));
    first.release();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(s.available).toBe(1);
  });

  test("a permit released twice counts once", async () => {
    const s = new Semaphore(1);
    const p = await s.acquire();
    p.release();
    p.release();
    expect(s.available).toBe(1);
  });

  test("`using` releases on every path", async () => {
    const s = new Semaphore(1);
    const run = async (fail: boolean) => {
      using _permit = await s.acquire();
      if (fail) throw new Error("boom");
    };
    await expect(run(true)).rejects.toThrow("boom");
    await run(false);
    expect(s.available).toBe(1);
  });

  test("tryAcquire takes a free permit, but never one a waiter is owed", async () => {
    const s = new Semaphore(1);
    const first = s.tryAcquire();
    expect(first).not.toBeNull();
    expect(s.tryAcquire()).toBeNull();
    const waiter = s.acquire();
    first!.release();
    // The permit went to the waiter: a later caller cannot take it.
    expect(s.tryAcquire()).toBeNull();
    (await waiter).release();
    expect(s.tryAcquire()).not.toBeNull();
  });

  test("rejects a count below one", () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
