// Incremental parser for the wire framing: a 4-byte little-endian uint32 body length, then
// that many bytes of body. It does no I/O: feed it whatever chunks the socket delivers.

export const HEADER_BYTES = 4;

export class FrameTooLargeError extends Error {
  readonly code = "FRAME_TOO_LARGE";
  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    super(`frame of ${length} bytes exceeds the ${max}-byte limit`);
  }
}

/** Where a parser reserves room for a body it must buffer (see memory-budget.ts). */
export interface Reservations {
  reserve(bytes: number): boolean;
  release(bytes: number): void;
}

const UNLIMITED: Reservations = { reserve: () => true, release: () => {} };

/**
 * `push` calls `onFrame` once per complete frame, in order. A frame that lies wholly inside
 * one chunk is passed as a view of that chunk (no copy), so the callback must use the bytes
 * before it returns; a frame spread over several chunks is copied once into a buffer of
 * exactly its length, allocated when its header is complete and its size reserved.
 *
 * If the reservation is refused, the parser keeps the rest of the chunk and is `stalled`:
 * the caller stops reading and calls `resume()` when room may have been freed.
 */
export class FrameParser {
  readonly #maxBodyBytes: number;
  readonly #onFrame: (body: Uint8Array) => void;
  readonly #reservations: Reservations;
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #failed = false;
  /** While stalled: the announced length waiting for a reservation, and the bytes after its header. */
  #stalled: { length: number; rest: Uint8Array } | null = null;

  constructor(maxBodyBytes: number, onFrame: (body: Uint8Array) => void, reservations: Reservations = UNLIMITED) {
    this.#maxBodyBytes = maxBodyBytes;
    this.#onFrame = onFrame;
    this.#reservations = reservations;
  }

  /** True while part of a frame (header or body) has arrived but not all of it. */
  get midFrame(): boolean {
    return this.#headerFill > 0 || this.#body !== null || this.#stalled !== null;
  }

  get stalled(): boolean {
    return this.#stalled !== null;
  }

  /** Retries the reservation a stalled parser waits for; true if it is no longer stalled. */
  resume(): boolean {
    const stalled = this.#stalled;
    if (!stalled) return true;
    if (!this.#reservations.reserve(stalled.length)) return false;
    this.#stalled = null;
    this.#body = new Uint8Array(stalled.length);
    this.#bodyFill = 0;
    this.push(stalled.rest);
    return !this.#stalled;
  }

  /** Gives back the reservation of an incomplete frame (its connection is closing). */
  dispose(): void {
    if (this.#body) this.#reservations.release(this.#body.length);
    this.#body = null;
    this.#stalled = null;
    this.#failed = true;
  }

  /** Throws FrameTooLargeError, before buffering anything of that body, on an oversized header. */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw new Error("FrameParser used after a failure");
    if (this.#stalled) throw new Error("FrameParser is stalled: call resume() first");
    let at = 0;
    while (at < chunk.length) {
      if (this.#body) {
        at = this.#fillBody(chunk, at);
        continue;
      }
      // Fast path: a whole header, and maybe a whole body, inside this chunk.
      if (this.#headerFill === 0 && chunk.length - at >= HEADER_BYTES) {
        const length = readLength(chunk, at);
        at += HEADER_BYTES;
        this.#checkLength(length);
        if (chunk.length - at >= length) {
          this.#onFrame(chunk.subarray(at, at + length));
          at += length;
        } else if (!this.#startBody(length, chunk.subarray(at))) {
          return;
        }
        continue;
      }
      // Slow path: a header split across chunks.
      this.#header[this.#headerFill++] = chunk[at++]!;
      if (this.#headerFill === HEADER_BYTES) {
        this.#headerFill = 0;
        const length = readLength(this.#header, 0);
        this.#checkLength(length);
        if (length === 0) this.#onFrame(this.#header.subarray(0, 0));
        else if (!this.#startBody(length, chunk.subarray(at))) return;
      }
    }
  }

  #checkLength(length: number): void {
    if (length > this.#maxBodyBytes) {
      this.#failed = true;
      throw new FrameTooLargeError(length, this.#maxBodyBytes);
    }
  }

  /** False if the body's size could not be reserved: the parser keeps `rest` and stalls. */
  #startBody(length: number, rest: Uint8Array): boolean {
    if (!this.#reservations.reserve(length)) {
      this.#stalled = { length, rest: rest.slice() };
      return false;
    }
    this.#body = new Uint8Array(length);
    this.#bodyFill = 0;
    return true;
  }

  #fillBody(chunk: Uint8Array, at: number): number {
    const body = this.#body!;
    const take = Math.min(body.length - this.#bodyFill, chunk.length - at);
    body.set(chunk.subarray(at, at + take), this.#bodyFill);
    this.#bodyFill += take;
    if (this.#bodyFill === body.length) {
      this.#body = null;
      this.#reservations.release(body.length);
      this.#onFrame(body);
    }
    return at + take;
  }
}

function readLength(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000;
}

/** Frames one body: the 4-byte little-endian length, then the bytes (a string as UTF-8). */
export function encodeFrame(body: string | Uint8Array): Uint8Array {
  const size = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.length;
  const frame = Buffer.allocUnsafe(HEADER_BYTES + size);
  frame.writeUInt32LE(size, 0);
  if (typeof body === "string") frame.write(body, HEADER_BYTES, "utf8");
  else frame.set(body, HEADER_BYTES);
  return frame;
}
