// Our own autocommit writes to one database take turns here, in memory shared by every
// session Worker, before they reach SQLite. Without it, two of them that collide on the
// write lock meet in SQLite's busy handler, which sleeps a whole millisecond (then 2, 5, …)
// for a lock that is held for some 20 µs; here the one waiting is woken as soon as the other
// is done. It only orders our own writes: SQLite's locks and busy_timeout still decide
// everything else (other processes, transactions), so nothing that worked before can fail.

/** Databases map to this many gates by a hash of their name; two that share one only take turns. */
export const GATE_SLOTS = 256;

const FREE = 0;

/** A held gate: dispose of it to let the next writer in. */
export interface GatePass extends Disposable {}

const UNGATED: GatePass = { [Symbol.dispose]() {} };

export class WriteGate {
  readonly #slots: Int32Array;

  /** `buffer`: the gates, shared with every Worker that uses them (a new one if omitted). */
  constructor(readonly buffer = new SharedArrayBuffer(GATE_SLOTS * Int32Array.BYTES_PER_ELEMENT)) {
    this.#slots = new Int32Array(buffer);
  }

  /**
   * Waits for the gate of `db` and holds it for `owner` (a number > 0 unique to the Worker).
   * After `timeoutMs` without it, goes on ungated and lets SQLite's busy handler decide: the
   * writer holding it is stuck on a lock or is a long write, and a gate only ever delays.
   * Blocks the thread: call it from a Worker, never from the main thread.
   */
  enter(db: string, owner: number, timeoutMs: number): GatePass {
    const slot = slotOf(db);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const holder = Atomics.compareExchange(this.#slots, slot, FREE, owner);
      if (holder === FREE) return { [Symbol.dispose]: () => this.#leave(slot, owner) };
      const remaining = deadline - performance.now();
      if (remaining <= 0) return UNGATED;
      Atomics.wait(this.#slots, slot, holder, remaining);
    }
  }

  /** Frees every gate `owner` holds: for a Worker that died holding one. */
  releaseAll(owner: number): void {
    if (owner <= 0) return;
    for (let slot = 0; slot < GATE_SLOTS; slot++) this.#leave(slot, owner);
  }

  /** Who holds the gate of `db` (0: nobody). */
  holder(db: string): number {
    return Atomics.load(this.#slots, slotOf(db));
  }

  #leave(slot: number, owner: number): void {
    if (Atomics.compareExchange(this.#slots, slot, owner, FREE) === owner) Atomics.notify(this.#slots, slot, 1);
  }
}

/** FNV-1a over the name's UTF-16 units: cheap, and spreads similar names apart. */
function slotOf(db: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < db.length; i++) hash = Math.imul(hash ^ db.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % GATE_SLOTS;
}
