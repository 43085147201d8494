import { describe, expect, test } from "bun:test";
import { GATE_SLOTS, WriteGate } from "../../src/write-gate";

describe("WriteGate", () => {
  test("a free gate is held by its owner until the pass is disposed", () => {
    const gates = new WriteGate();
    {
      using _pass = gates.enter("a.db", 7, 1000);
      expect(gates.holder("a.db")).toBe(7);
    }
    expect(gates.holder("a.db")).toBe(0);
  });

  test("past the timeout a writer goes on ungated, and its pass leaves the holder's gate alone", () => {
    const gates = new WriteGate();
    const held = gates.enter("a.db", 1, 0);
    const ungated = gates.enter("a.db", 2, 0);
    ungated[Symbol.dispose]();
    expect(gates.holder("a.db")).toBe(1);
    held[Symbol.dispose]();
    expect(gates.holder("a.db")).toBe(0);
  });

  test("different databases mostly get different gates", () => {
    const gates = new WriteGate();
    const names = Array.from({ length: 64 }, (_, i) => `tenant-${i}.db`);
    const passes = names.map((name) => gates.enter(name, 1, 0));
    const held = names.filter((name) => gates.holder(name) === 1).length;
    for (const pass of passes) pass[Symbol.dispose]();
    // 64 names in 256 slots: a few may share a gate; most must not.
    expect(held).toBeGreaterThan(48);
    expect(GATE_SLOTS).toBe(256);
  });

  test("releaseAll frees every gate of one owner and no other's", () => {
    const gates = new WriteGate();
    gates.enter("a.db", 3, 0);
    gates.enter("b.db", 3, 0);
    gates.enter("c.db", 4, 0);
    gates.releaseAll(3);
    expect([gates.holder("a.db"), gates.holder("b.db"), gates.holder("c.db")]).toEqual([0, 0, 4]);
  });

  test("a writer in another thread waits for the gate and is let in when it is freed", async () => {
    const gates = new WriteGate();
    const released = new Int32Array(new SharedArrayBuffer(4));
    const pass = gates.enter("a.db", 1, 0);
    const source = `
      import { WriteGate } from ${JSON.stringify(new URL("../../src/write-gate.ts", import.meta.url).pathname)};
      self.onmessage = ({ data }) => {
        const gates = new WriteGate(data.gates);
        const released = new Int32Array(data.released);
        postMessage("waiting");
        const pass = gates.enter("a.db", 2, 30_000);
        postMessage({ sawRelease: Atomics.load(released, 0), holder: gates.holder("a.db") });
        pass[Symbol.dispose]();
      };`;
    const url = URL.createObjectURL(new Blob([source], { type: "application/typescript" }));
    const worker = new Worker(url);
    const messages: unknown[] = [];
    const entered = new Promise<unknown>((resolve) => {
      worker.onmessage = ({ data }) => {
        messages.push(data);
        if (data === "waiting") {
          // The Worker is on its way into enter(), which must block until this runs.
          Atomics.store(released, 0, 1);
          pass[Symbol.dispose]();
        } else resolve(data);
      };
    });
    worker.postMessage({ gates: gates.buffer, released: released.buffer });
    expect(await entered).toEqual({ sawRelease: 1, holder: 2 });
    worker.terminate();
  });
});
