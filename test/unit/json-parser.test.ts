import { describe, expect, test } from "bun:test";
import { encodeJson, JsonNumber } from "../../src/json-encoder";
import { JsonSyntaxError, MAX_DEPTH, parseJson } from "../../src/json-parser";

const roundTrip = (text: string) => encodeJson(parseJson(text));

describe("parseJson", () => {
  test("numbers print back as the C++ server prints them", () => {
    expect(roundTrip("[1, -0, 1.0, 1e2, 1.50, 9223372036854775807, -9223372036854775808]")).toBe(
      "[1,0,1.0,100.0,1.5,9223372036854775807,-9223372036854775808]",
    );
    expect(roundTrip("[18446744073709551615, 18446744073709551616, 1e999]")).toBe(
      "[18446744073709551615,1.8446744073709552e+19,null]",
    );
  });

  test("strings with escapes", () => {
    expect(parseJson('"a\\u00e9\\n\\"\\\\\\/"')).toBe('aé\n"\\/');
  });

  test("objects have no prototype; __proto__ is an ordinary key; the last duplicate wins", () => {
    const value = parseJson('{"__proto__":1,"a":1,"a":2}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.keys(value)).toEqual(["__proto__", "a"]);
    expect(value.a).toEqual(new JsonNumber("2"));
  });

  for (const bad of ["", "garbage", "{", '{"a"}', '{"a":1,}', "[1,]", "01", "1.", "-", '"\u0001"', '"\\x"', "{} {}", "tru", "{'a':1}"]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      expect(() => parseJson(bad)).toThrow(JsonSyntaxError);
    });
  }

  test("error messages carry line and column", () => {
    expect(() => parseJson('{\n  "a": x}')).toThrow("line 2 column 8");
  });

  test("nesting is capped, not a stack overflow", () => {
    expect(parseJson("[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH))).toBeArray();
    expect(() => parseJson("[".repeat(MAX_DEPTH + 1) + "]".repeat(MAX_DEPTH + 1))).toThrow(JsonSyntaxError);
    expect(() => parseJson('{"a":'.repeat(100000))).toThrow(JsonSyntaxError);
  });
});
