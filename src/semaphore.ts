// A FIFO counting semaphore. Permits are Disposable, so `using permit = await s.acquire()`
// releases on every path out of the block; releasing twice is a no-op.

import { Queue } from "./queue";

export class Permit implements Disposable {
  #semaphore: Semaphore | null;
  constructor(semaphore: Semaphore) {
    this.#semaphore = semaphore;
  }
  release(): void {
    const semaphore = this.#semaphore;
    this.#semaphore = null;
    semaphore?.handOn();
  }
  [Symbol.dispose](): void {
    this.release();
  }
}

export class Semaphore {
  #available: number;
  readonly #waiters = new Queue<(permit: Permit) => void>();

  constructor(permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError("permits must be a positive integer");
    this.#available = permits;
  }

  get available(): number {
    return this.#available;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves in request order; a waiter is never overtaken by a later caller. */
  acquire(): Promise<Permit> {
    const permit = this.tryAcquire();
    if (permit) return Promise.resolve(permit);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** A permit now, or null if none is free or someone is already waiting for one. */
  tryAcquire(): Permit | null {
    if (this.#available === 0 || this.#waiters.length > 0) return null;
    this.#available--;
    return new Permit(this);
  }

  /** Called by a Permit when it is released: the permit goes straight to the next waiter. */
  handOn(): void {
    const next = this.#waiters.shift();
    if (next) next(new Permit(this));
    else this.#available++;
  }
}
