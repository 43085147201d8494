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

/**
 * `push` calls `onFrame` once per complete frame, in order. A frame that lies wholly inside
 * one chunk is passed as a view of that chunk (no copy), so the callback must use the bytes
 * before it returns; a frame spread over several chunks is copied once into a buffer of
 * exactly its length, allocated when its header is complete.
 */
export class FrameParser {
  readonly #maxBodyBytes: number;
  readonly #onFrame: (body: Uint8Array) => void;
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #failed = false;

  constructor(maxBodyBytes: number, onFrame: (body: Uint8Array) => void) {
    this.#maxBodyBytes = maxBodyBytes;
    this.#onFrame = onFrame;
  }

  /** True while part of a frame (header or body) has arrived but not all of it. */
  get midFrame(): boolean {
    return this.#headerFill > 0 || this.#body !== null;
  }

  /** Bytes held for the incomplete frame (its announced size once the header is in). */
  get bufferedBytes(): number {
    return this.#body ? this.#body.length : this.#headerFill;
  }

  /** Throws FrameTooLargeError, before buffering anything of that body, on an oversized header. */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw new Error("FrameParser used after a failure");
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
        } else {
          this.#startBody(length);
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
        else this.#startBody(length);
      }
    }
  }

  #checkLength(length: number): void {
    if (length > this.#maxBodyBytes) {
      this.#failed = true;
      throw new FrameTooLargeError(length, this.#maxBodyBytes);
    }
  }

  #startBody(length: number): void {
    this.#body = new Uint8Array(length);
    this.#bodyFill = 0;
  }

  #fillBody(chunk: Uint8Array, at: number): number {
    const body = this.#body!;
    const take = Math.min(body.length - this.#bodyFill, chunk.length - at);
    body.set(chunk.subarray(at, at + take), this.#bodyFill);
    this.#bodyFill += take;
    if (this.#bodyFill === body.length) {
      this.#body = null;
      this.#onFrame(body);
    }
    return at + take;
  }
}

function readLength(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000;
}

/** Frames one response body: the 4-byte little-endian length, then the UTF-8 bytes. */
export function encodeFrame(body: string): Uint8Array {
  const size = Buffer.byteLength(body, "utf8");
  const frame = Buffer.allocUnsafe(HEADER_BYTES + size);
  frame.writeUInt32LE(size, 0);
  frame.write(body, HEADER_BYTES, "utf8");
  return frame;
}
