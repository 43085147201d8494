import { describe, expect, test } from "bun:test";
import { compareUtf8, encodeJson, encodeRowsUtf8, formatReal, JsonNumber, rowLayout, type Row } from "../../src/json-encoder";
import { ResultTooBigError } from "../../src/utf8-writer";

/** The whole body as a string. */
function encodeRows(columns: readonly string[], rows: Iterable<Row>, maxBytes = Infinity, chunkBytes?: number): string {
  return Buffer.concat(encodeRowsUtf8(columns, rows, { maxBytes, chunkBytes })).toString("utf8");
}
import { parseJson } from "../../src/json-parser";

describe("formatReal, the contract's table", () => {
  const table: [number, string][] = [
    [3, "3.0"],
    [2, "2.0"],
    [1e14, "100000000000000.0"],
    [123456789.125, "123456789.125"],
    [123456.789e3, "123456789.0"],
    [0.1, "0.1"],
    [0.0001, "0.0001"],
    [0.0025, "0.0025"],
    [1e15, "1e+15"],
    [1e16, "1e+16"],
    [1e21, "1e+21"],
    [1e100, "1e+100"],
    [1.5e-7, "1.5e-07"],
    [1e-5, "1e-05"],
    [-2.5, "-2.5"],
    [-1e-5, "-1e-05"],
    [0, "0.0"],
    [-0, "-0.0"],
    [Infinity, "null"],
    [-Infinity, "null"],
    [NaN, "null"],
    [123456789012345.6, "123456789012345.6"],
    [1234567890123456, "1.234567890123456e+15"],
    [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
  ];
  for (const [value, expected] of table) {
    test(`${value} -> ${expected}`, () => expect(formatReal(value)).toBe(expected));
  }

  test("every formatted value reads back as the same double", () => {
    let x = 1.2345e-12;
    for (let i = 0; i < 400; i++, x *= 1.7) {
      expect(Number(formatReal(x))).toBe(x);
      expect(Number(formatReal(-x))).toBe(-x);
    }
  });
});

describe("sorted keys", () => {
  test("compareUtf8 is UTF-8 byte order, not UTF-16 order", () => {
    const keys = ["z", "a", "10", "2", "B", "é", "_", "\uffff", "😀"];
    expect(keys.sort(compareUtf8)).toEqual(["10", "2", "B", "_", "a", "z", "é", "\uffff", "😀"]);
    const bytes = (s: string) => Buffer.from(s);
    for (const a of keys) for (const b of keys) expect(Math.sign(compareUtf8(a, b))).toBe(Buffer.compare(bytes(a), bytes(b)));
  });

  test("integer-like keys are sorted as text, at every depth", () => {
    const value = parseJson('{"10":1,"2":{"b":1,"a":[{"y":1,"x":2}]},"é":3,"E":4}');
    expect(encodeJson(value)).toBe('{"10":1,"2":{"a":[{"x":2,"y":1}],"b":1},"E":4,"é":3}');
  });

  test("scalars and numbers as parsed", () => {
    expect(encodeJson([null, true, false, "a\"b", new JsonNumber("1.0")])).toBe('[null,true,false,"a\\"b",1.0]');
  });
});

describe("encodeRows", () => {
  test("rows with every storage class, keys sorted", () => {
    const rows = [[1n, 2.0, "x", Uint8Array.of(0, 255), null, 9223372036854775807n, new Uint8Array(0)]];
    expect(encodeRows(["id", "r", "t", "b", "n", "big", "e"], rows)).toBe(
      '{"columns":["id","r","t","b","n","big","e"],"data":[{"b":"X\'00ff\'","big":9223372036854775807,"e":"X\'\'","id":1,"n":null,"r":2.0,"t":"x"}]}',
    );
  });

  test("rows as objects by name encode as the same rows as arrays", () => {
    const columns = ["z", "constructor", "1", "a"];
    const arrays = [
      [1n, "c", 2.5, Uint8Array.of(1)],
      [null, "", -0, 9007199254740993n],
    ];
    const objects = arrays.map((row) => Object.fromEntries(columns.map((name, i) => [name, row[i]!])));
    expect(encodeRows(columns, objects)).toBe(encodeRows(columns, arrays));
    expect(encodeRows(columns, objects)).toBe(
      '{"columns":["z","constructor","1","a"],"data":[{"1":2.5,"a":"X\'01\'","constructor":"c","z":1},{"1":-0.0,"a":9007199254740993,"constructor":"","z":null}]}',
    );
  });

  test("duplicate column names: the last value wins, columns keeps both", () => {
    expect(encodeRows(["a", "a"], [[1n, 2n]])).toBe('{"columns":["a","a"],"data":[{"a":2}]}');
    expect(rowLayout(["b", "a", "b"]).indexes).toEqual([1, 2]);
  });

  test("no columns, and columns without rows", () => {
    expect(encodeRows([], [])).toBe('{"columns":[],"data":[]}');
    expect(encodeRows(["x"], [])).toBe('{"columns":["x"],"data":[]}');
  });

  test("text is escaped as JSON.stringify does, non-ASCII kept as UTF-8", () => {
    expect(encodeRows(["s"], [["é\n\u0001\u001f\u007f"]])).toBe('{"columns":["s"],"data":[{"s":"é\\n\\u0001\\u001f\u007f"}]}');
  });
});

describe("encodeRowsUtf8", () => {
  const rows = Array.from({ length: 50 }, (_, i) => [BigInt(i), `name-${i}`, i * 0.5] as const);
  const columns = ["id", "name", "score"];

  test("the chunks join to the whole body, whatever the chunk size", () => {
    const whole = encodeRows(columns, rows);
    for (const size of [1, 10, 100, 100000]) {
      const chunks = encodeRowsUtf8(columns, rows, { chunkBytes: size });
      expect(Buffer.concat(chunks).toString("utf8")).toBe(whole);
      if (size < 100) expect(chunks.length).toBeGreaterThan(10);
    }
    expect(JSON.parse(whole).data[3]).toEqual({ id: 3, name: "name-3", score: 1.5 });
  });

  test("a body past the maximum is refused, before a huge value is allocated", () => {
    expect(() => encodeRowsUtf8(columns, rows, { maxBytes: 500, chunkBytes: 64 })).toThrow(ResultTooBigError);
    expect(Buffer.byteLength(encodeRows(columns, rows, 100000))).toBeLessThan(100000);
    const whole = encodeRows(columns, rows);
    expect(encodeRows(columns, rows, Buffer.byteLength(whole))).toBe(whole); // exactly at the maximum
    expect(() => encodeRows(columns, rows, Buffer.byteLength(whole) - 1)).toThrow(ResultTooBigError);
    expect(() => encodeRowsUtf8(["b"], [[new Uint8Array(1000)]], { maxBytes: 1000 })).toThrow(ResultTooBigError);
  });
});
