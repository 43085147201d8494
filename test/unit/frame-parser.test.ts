import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameParser, FrameTooLargeError } from "../../src/frame-parser";

const text = new TextDecoder();

function framesOf(...bodies: string[]): Uint8Array {
  return Buffer.concat(bodies.map((b) => encodeFrame(b)));
}

function collect(max = 1 << 20) {
  const got: string[] = [];
  const parser = new FrameParser(max, (body) => got.push(text.decode(body)));
  return { got, parser };
}

describe("FrameParser", () => {
  const bodies = ['{"cmd":"LIST"}', "", "é☃😀", "x".repeat(300)];
  const stream = framesOf(...bodies);

  test("every split point of a stream of frames gives the same frames", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { got, parser } = collect();
      parser.push(stream.subarray(0, cut));
      parser.push(stream.subarray(cut));
      expect(got).toEqual(bodies);
      expect(parser.midFrame).toBe(false);
    }
  });

  test("every pair of split points (three chunks)", () => {
    const small = framesOf("ab", "", "cde");
    for (let i = 0; i <= small.length; i++)
      for (let j = i; j <= small.length; j++) {
        const { got, parser } = collect();
        parser.push(small.subarray(0, i));
        parser.push(small.subarray(i, j));
        parser.push(small.subarray(j));
        expect(got).toEqual(["ab", "", "cde"]);
      }
  });

  test("byte by byte", () => {
    const { got, parser } = collect();
    for (const byte of stream) parser.push(Uint8Array.of(byte));
    expect(got).toEqual(bodies);
  });

  test("many frames in one chunk, in order", () => {
    const many = Array.from({ length: 1000 }, (_, i) => `{"n":${i}}`);
    const { got, parser } = collect();
    parser.push(framesOf(...many));
    expect(got).toEqual(many);
  });

  test("reports an incomplete frame", () => {
    const { parser } = collect();
    parser.push(stream.subarray(0, 2));
    expect(parser.midFrame).toBe(true);
    parser.push(stream.subarray(2, 6));
    expect(parser.midFrame).toBe(true);
  });

  test("a frame of exactly the maximum is accepted", () => {
    const { got, parser } = collect(5);
    parser.push(framesOf("12345"));
    expect(got).toEqual(["12345"]);
  });

  test("an oversized length fails as soon as the header is complete, before any body byte", () => {
    const { got, parser } = collect(5);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 6, true);
    parser.push(header.subarray(0, 3));
    expect(() => parser.push(header.subarray(3))).toThrow(FrameTooLargeError);
    expect(got).toEqual([]);
    expect(() => parser.push(new Uint8Array(1))).toThrow();
  });

  test("the largest uint32 length is read unsigned", () => {
    const { parser } = collect(10);
    try {
      parser.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
      throw new Error("no error");
    } catch (error) {
      expect(error).toBeInstanceOf(FrameTooLargeError);
      expect((error as FrameTooLargeError).length).toBe(2 ** 32 - 1);
    }
  });
});

describe("encodeFrame", () => {
  test("prefixes the UTF-8 byte length, little-endian", () => {
    const frame = encodeFrame("é");
    expect([...frame]).toEqual([2, 0, 0, 0, 0xc3, 0xa9]);
  });
});
