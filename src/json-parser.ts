// A strict JSON parser that keeps what JSON.parse loses and the echoed request needs:
// numbers exactly as the C++ server re-prints them (1.0 stays 1.0, 2^63-1 stays exact),
// and objects without a prototype (so "__proto__" is an ordinary key). Nesting depth is capped
// so that hostile input cannot exhaust the stack.

import { formatReal, JsonNumber, type JsonObject, type JsonValue } from "./json-encoder";

export const MAX_DEPTH = 512;

export class JsonSyntaxError extends Error {
  readonly code = "INVALID_JSON";
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

export function parseJson(text: string): JsonValue {
  return new Parser(text).parseDocument();
}

class Parser {
  #at = 0;
  constructor(readonly text: string) {}

  parseDocument(): JsonValue {
    const value = this.#value(0);
    this.#skipSpace();
    if (this.#at < this.text.length) this.#fail("unexpected content after the JSON value");
    return value;
  }

  #value(depth: number): JsonValue {
    this.#skipSpace();
    const c = this.text[this.#at];
    if (c === '"') return this.#string();
    if (c === "{") return this.#object(depth + 1);
    if (c === "[") return this.#array(depth + 1);
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.#number();
    if (this.text.startsWith("true", this.#at)) return this.#literal(4, true);
    if (this.text.startsWith("false", this.#at)) return this.#literal(5, false);
    if (this.text.startsWith("null", this.#at)) return this.#literal(4, null);
    return this.#fail(c === undefined ? "unexpected end of input; expected a value" : "expected a value");
  }

  #literal<T>(length: number, value: T): T {
    this.#at += length;
    return value;
  }

  #object(depth: number): JsonObject {
    if (depth > MAX_DEPTH) this.#fail(`nesting deeper than ${MAX_DEPTH}`);
    const object: JsonObject = Object.create(null);
    this.#at++; // {
    this.#skipSpace();
    if (this.text[this.#at] === "}") {
      this.#at++;
      return object;
    }
    for (;;) {
      this.#skipSpace();
      if (this.text[this.#at] !== '"') this.#fail("expected a string key");
      const key = this.#string();
      this.#skipSpace();
      if (this.text[this.#at] !== ":") this.#fail("expected ':'");
      this.#at++;
      object[key] = this.#value(depth); // a repeated key: the last one wins
      this.#skipSpace();
      const c = this.text[this.#at++];
      if (c === "}") return object;
      if (c !== ",") this.#fail("expected ',' or '}'", this.#at - 1);
    }
  }

  #array(depth: number): JsonValue[] {
    if (depth > MAX_DEPTH) this.#fail(`nesting deeper than ${MAX_DEPTH}`);
    const array: JsonValue[] = [];
    this.#at++; // [
    this.#skipSpace();
    if (this.text[this.#at] === "]") {
      this.#at++;
      return array;
    }
    for (;;) {
      array.push(this.#value(depth));
      this.#skipSpace();
      const c = this.text[this.#at++];
      if (c === "]") return array;
      if (c !== ",") this.#fail("expected ',' or ']'", this.#at - 1);
    }
  }

  #number(): JsonNumber {
    NUMBER.lastIndex = this.#at;
    const match = NUMBER.exec(this.text);
    if (!match || match[0] === "-") return this.#fail("invalid number");
    this.#at += match[0].length;
    const literal = match[0];
    if (match[1] === undefined && match[2] === undefined) {
      // Integers that fit int64 or uint64 print as integers, as in the C++ library.
      const big = BigInt(literal);
      if (big >= INT64_MIN && big <= UINT64_MAX) return new JsonNumber(big.toString());
    }
    return new JsonNumber(formatReal(Number(literal)));
  }

  #string(): string {
    const text = this.text;
    const start = ++this.#at; // opening quote
    // Fast path: no escapes.
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        this.#at = i + 1;
        return text.slice(start, i);
      }
      if (c === 92 || c < 0x20) break;
    }
    let out = "";
    let i = start;
    for (;;) {
      if (i >= text.length) this.#fail("unterminated string", start - 1);
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c < 0x20) this.#fail("control character in string", i);
      if (c !== 92) {
        out += text[i++];
        continue;
      }
      const e = text[i + 1];
      if (e === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.#fail("invalid \\u escape", i);
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e];
        i += 2;
      } else {
        this.#fail("invalid escape", i);
      }
    }
    this.#at = i + 1;
    return out;
  }

  #skipSpace(): void {
    const text = this.text;
    let i = this.#at;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
      i++;
    }
    this.#at = i;
  }

  #fail(what: string, at = this.#at): never {
    const before = this.text.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    throw new JsonSyntaxError(`${what} at line ${line} column ${column}`);
  }
}
