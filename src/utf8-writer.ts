// Output written straight to UTF-8 bytes, in fixed-size chunks. Rows of a result are many
// small values; concatenating them into a string and encoding that costs more than the
// values themselves (the long string must be flattened first), and a large result would
// exist twice. Numbers and hex go byte by byte; other text through TextEncoder.encodeInto.

export class ResultTooBigError extends Error {
  readonly code = "RESULT_TOO_BIG";
}

const utf8 = new TextEncoder();
const HEX_DIGITS = utf8.encode("0123456789abcdef");
const FIRST_CHUNK_BYTES = 256;

export class Utf8Writer {
  readonly #chunks: Uint8Array[] = [];
  #chunk: Uint8Array;
  #at = 0;
  /** Bytes in the chunks already full. */
  #done = 0;

  /**
   * Throws ResultTooBigError once the output passes `maxBytes`: when a chunk fills up or the
   * output is finished, and before making room for a value that alone would pass it.
   * `onChunk`: called with the number of full chunks each time one fills up.
   */
  constructor(
    readonly maxBytes = Infinity,
    readonly chunkBytes = 65536,
    readonly onChunk: ((chunks: number) => void) | null = null,
  ) {
    // Most results are a row or two (a point query of bench.db is ~150 bytes): a first chunk
    // of 64 KiB would cost more to allocate and zero than to fill.
    this.#chunk = new Uint8Array(Math.min(chunkBytes, FIRST_CHUNK_BYTES));
  }

  get length(): number {
    return this.#done + this.#at;
  }

  /** Text known to be ASCII: numbers, hex digits, JSON punctuation. */
  ascii(text: string): void {
    this.#room(text.length);
    const chunk = this.#chunk;
    let at = this.#at;
    for (let i = 0; i < text.length; i++) chunk[at++] = text.charCodeAt(i);
    this.#at = at;
  }

  /** Any text (a lone surrogate becomes U+FFFD, as with TextEncoder). */
  text(text: string): void {
    // 1 to 3 bytes per UTF-16 unit; a long text is measured, so that its room is not 3 times its size.
    this.#room(text.length > this.chunkBytes ? Buffer.byteLength(text, "utf8") : text.length * 3, text.length);
    // Byte by byte while it is ASCII, as most text is; TextEncoder from the first other character.
    const chunk = this.#chunk;
    let at = this.#at;
    let i = 0;
    for (; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      chunk[at++] = code;
    }
    if (i < text.length) at += utf8.encodeInto(text.slice(i), chunk.subarray(at)).written;
    this.#at = at;
  }

  /** `text` as a JSON string literal, byte for byte what JSON.stringify(text) would give. */
  jsonString(text: string): void {
    this.#room(text.length + 2);
    const chunk = this.#chunk;
    let at = this.#at;
    chunk[at++] = 0x22; // "
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      // Anything to escape, or not ASCII: leave it all to JSON.stringify and TextEncoder.
      if (code < 0x20 || code === 0x22 || code === 0x5c || code >= 0x80) return this.text(JSON.stringify(text));
      chunk[at++] = code;
    }
    chunk[at++] = 0x22;
    this.#at = at;
  }

  bytes(bytes: Uint8Array): void {
    this.#room(bytes.length);
    const chunk = this.#chunk;
    let at = this.#at;
    for (let i = 0; i < bytes.length; i++) chunk[at++] = bytes[i]!; // faster than set() for a few bytes
    this.#at = at;
  }

  /** An integer in decimal; int32 values without making a string first. */
  integer(value: bigint): void {
    // Number() of a bigint past 2^53 is inexact, but certainly outside int32 too.
    let n = Number(value);
    if (n < -2147483648 || n > 2147483647) return this.ascii(value.toString());
    this.#room(11, 1); // "-2147483648" at most
    const chunk = this.#chunk;
    if (n < 0) {
      chunk[this.#at++] = 0x2d; // "-"
      n = -n;
    }
    // n ≤ 2^31 here, so n / 10 fits an int32 and `| 0` truncates it.
    let digits = 1;
    for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits++;
    let at = (this.#at += digits);
    do {
      chunk[--at] = 0x30 + (n % 10);
      n = (n / 10) | 0;
    } while (n > 0);
  }

  /** Bytes as lowercase hex digits. */
  hex(bytes: Uint8Array): void {
    this.#room(bytes.length * 2);
    const chunk = this.#chunk;
    let at = this.#at;
    for (let i = 0; i < bytes.length; i++) {
      chunk[at++] = HEX_DIGITS[bytes[i]! >> 4]!;
      chunk[at++] = HEX_DIGITS[bytes[i]! & 0xf]!;
    }
    this.#at = at;
  }

  /** Everything written, as the chunks filled (the last one trimmed). */
  finish(): Uint8Array[] {
    this.#check(this.length);
    if (this.#at > 0) this.#chunks.push(this.#chunk.subarray(0, this.#at));
    this.#at = 0;
    return this.#chunks;
  }

  /**
   * Makes room for `bytes` more in the current chunk, or starts a new one; before that,
   * refuses if even `atLeast` more would pass the maximum, so a huge value is not allocated.
   */
  #room(bytes: number, atLeast = bytes): void {
    if (this.#at + bytes <= this.#chunk.length) return;
    this.#check(this.length + atLeast);
    if (this.#at > 0) {
      const full = this.#chunks.push(this.#chunk.subarray(0, this.#at));
      this.onChunk?.(full);
    }
    this.#done += this.#at;
    this.#chunk = new Uint8Array(Math.max(this.chunkBytes, bytes));
    this.#at = 0;
  }

  #check(length: number): void {
    if (length > this.maxBytes) throw new ResultTooBigError(`result too big: over ${this.maxBytes} bytes of JSON`);
  }
}
