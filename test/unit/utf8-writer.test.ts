import { describe, expect, test } from "bun:test";
import { ResultTooBigError, Utf8Writer } from "../../src/utf8-writer";

const written = (out: Utf8Writer) => Buffer.concat(out.finish()).toString("utf8");

describe("Utf8Writer", () => {
  test("integers in decimal, inside and outside int32", () => {
    const values = [0n, 7n, -7n, 10n, 99n, 100n, 2147483647n, -2147483648n, 2147483648n, -2147483649n, 9223372036854775807n, -9223372036854775808n];
    const out = new Utf8Writer();
    for (const value of values) (out.integer(value), out.ascii(" "));
    expect(written(out)).toBe(values.map(String).join(" ") + " ");
  });

  test("hex is lowercase, two digits a byte", () => {
    const out = new Utf8Writer();
    out.hex(Uint8Array.of(0, 1, 0x7f, 0x80, 0xab, 0xff));
    out.hex(new Uint8Array(0));
    expect(written(out)).toBe("00017f80abff");
  });

  test("text as TextEncoder writes it, non-ASCII and lone surrogates too", () => {
    const text = "é€😀\ud800x\udfff";
    const out = new Utf8Writer();
    out.text(text);
    expect(Buffer.concat(out.finish())).toEqual(Buffer.from(new TextEncoder().encode(text)));
  });

  test("a text longer than a chunk gets a chunk of its own size, not three times it", () => {
    const out = new Utf8Writer(Infinity, 16);
    const text = "é" + "x".repeat(100);
    out.text(text);
    const chunks = out.finish();
    expect(Buffer.concat(chunks).toString("utf8")).toBe(text);
    expect(Math.max(...chunks.map((chunk) => chunk.buffer.byteLength))).toBe(Buffer.byteLength(text));
  });

  test("onChunk hears of each chunk as it fills, with the count of full chunks", () => {
    const counts: number[] = [];
    const out = new Utf8Writer(Infinity, 4, (chunks) => counts.push(chunks));
    out.ascii("abc"); // the first chunk is 4 bytes here
    expect(counts).toEqual([]);
    out.ascii("defg"); // does not fit: the first chunk is full
    out.ascii("hijk"); // nor this: the second
    expect(counts).toEqual([1, 2]);
    expect(Buffer.concat(out.finish()).toString()).toBe("abcdefghijk");
    expect(counts).toEqual([1, 2]); // finishing is not filling
  });

  test("the same bytes whatever the chunk size", () => {
    const write = (out: Utf8Writer) => {
      out.ascii('{"a":');
      out.integer(-123456n);
      out.text(',"é":"€"');
      out.bytes(Uint8Array.of(0x2c, 0x22));
      out.hex(Uint8Array.of(1, 2, 3));
      out.ascii("}");
    };
    const whole = new Utf8Writer();
    write(whole);
    const expected = written(whole);
    for (let size = 1; size <= expected.length + 1; size++) {
      const out = new Utf8Writer(Infinity, size);
      write(out);
      expect(out.length).toBe(Buffer.byteLength(expected));
      expect(written(out)).toBe(expected);
    }
  });

  test("refuses to pass its maximum: at the end at the latest, and before allocating a huge value", () => {
    const full = new Utf8Writer(10);
    full.ascii("0123456789");
    expect(written(full)).toBe("0123456789"); // exactly the maximum
    const over = new Utf8Writer(10);
    over.ascii("0123456789x");
    expect(() => over.finish()).toThrow(ResultTooBigError);
    expect(() => new Utf8Writer(1000, 64).hex(new Uint8Array(501))).toThrow(ResultTooBigError);
    // Text counts a byte per UTF-16 unit up front; what it really takes is checked at the end.
    const wide = new Utf8Writer(5);
    wide.text("ééé");
    expect(() => wide.finish()).toThrow(ResultTooBigError);
  });

  test("JSON string literals exactly as JSON.stringify writes them", () => {
    const texts = ["", "plain", 'say "hi"', "back\\slash", "tab\tnew\nline\u0001\u001f\u007f", "é€😀", "\ud800 lone \udfff", "ok then é"];
    for (const text of texts) {
      const out = new Utf8Writer(Infinity, 4);
      out.jsonString(text);
      expect(written(out)).toBe(JSON.stringify(text));
    }
  });
});
