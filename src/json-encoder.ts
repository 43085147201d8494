// Compact JSON output, byte-identical to the C++ server's JSON library: object keys in
// ascending UTF-8 byte order at every depth, REALs formatted so they always read back as
// floats, INTEGERs (bigint) exact to 64 bits.

import { Utf8Writer } from "./utf8-writer";

/** A parsed JSON number, kept as the text the C++ server would print for it. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
/** A null-prototype object, so that any key ("__proto__" too) is an own property. */
export type JsonObject = { [key: string]: JsonValue };

/** A value as bun:sqlite returns it with safeIntegers: INTEGER, REAL, TEXT, BLOB, NULL. */
export type SqlValue = bigint | number | string | Uint8Array | null;

/**
 * Compares strings by Unicode code point, which is UTF-8 byte order. Plain `<` compares
 * UTF-16 code units and puts U+E000..U+FFFF after astral characters; this does not.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Move surrogates (astral code points) above U+E000..U+FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

export const encodeString: (s: string) => string = JSON.stringify;

/**
 * Formats a double as the C++ server does. With d1..dk the shortest round-trip digits and
 * value = 0.d1..dk × 10^n: plain notation with a forced ".0" up to 15 integer digits,
 * "0.000ddd" down to n = -3, exponent form (two exponent digits at least) beyond.
 */
export function formatReal(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const magnitude = Math.abs(x);
  if (magnitude >= 1e-4 && magnitude < 1e15) {
    // The common case: JavaScript's plain notation is already the C++ format, but for ".0".
    const plain = String(x);
    return plain.includes(".") ? plain : plain + ".0";
  }
  const sign = x < 0 ? "-" : "";
  const shortest = magnitude.toString(); // "1e-7", "1.5e-7", "1e+21", "1000000000000000"
  const e = shortest.indexOf("e");
  const mantissa = e < 0 ? shortest : shortest.slice(0, e);
  const exponent = e < 0 ? 0 : Number(shortest.slice(e + 1));
  const dot = mantissa.indexOf(".");
  const intPart = dot < 0 ? mantissa : mantissa.slice(0, dot);
  let digits = dot < 0 ? mantissa : intPart + mantissa.slice(dot + 1);
  let n = intPart.length + exponent;
  let lead = 0;
  while (digits.charCodeAt(lead) === 48) lead++;
  n -= lead;
  digits = digits.slice(lead).replace(/0+$/, "");
  const k = digits.length;
  if (k <= n && n <= 15) return sign + digits + "0".repeat(n - k) + ".0";
  if (0 < n && n <= 15) return sign + digits.slice(0, n) + "." + digits.slice(n);
  if (-4 < n && n <= 0) return sign + "0." + "0".repeat(-n) + digits;
  const exp = n - 1;
  const fraction = k > 1 ? "." + digits.slice(1) : "";
  const expSign = exp < 0 ? "-" : "+";
  const expDigits = String(Math.abs(exp)).padStart(2, "0");
  return sign + digits[0] + fraction + "e" + expSign + expDigits;
}

/** Encodes a parsed request for echoing back: keys sorted at every depth. */
export function encodeJson(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "string") return encodeString(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return "[" + value.map(encodeJson).join(",") + "]";
  const keys = Object.keys(value).sort(compareUtf8);
  return "{" + keys.map((k) => encodeString(k) + ":" + encodeJson(value[k]!)).join(",") + "}";
}

/** Writes one SQL value as JSON: INTEGER exact, REAL as the C++ server formats it, BLOB as "X'hex'". */
export function writeSqlValue(out: Utf8Writer, value: SqlValue): void {
  switch (typeof value) {
    case "bigint":
      return out.integer(value);
    case "number":
      return out.ascii(formatReal(value));
    case "string":
      return out.jsonString(value);
  }
  if (value === null) return out.ascii("null");
  out.ascii("\"X'");
  out.hex(value); // lowercase, as the C++ server writes it
  out.ascii("'\"");
}

const utf8 = new TextEncoder();

/**
 * The UTF-8 of the body up to its first row; and for each distinct column name, in sorted
 * order, the UTF-8 of what comes before its value (`{"a":` or `,"b":`), the name, and the
 * index of the column that supplies it (the last one, for duplicates). Built once per column
 * list so that encoding a row sorts nothing.
 */
export function rowLayout(columns: readonly string[]): { head: Uint8Array; prefixes: Uint8Array[]; names: string[]; indexes: number[] } {
  const lastIndex = new Map<string, number>();
  columns.forEach((name, i) => lastIndex.set(name, i));
  const names = [...lastIndex.keys()].sort(compareUtf8);
  return {
    head: utf8.encode('{"columns":' + JSON.stringify(columns) + ',"data":['),
    prefixes: names.map((name, i) => utf8.encode((i === 0 ? "{" : ",") + encodeString(name) + ":")),
    names,
    indexes: names.map((name) => lastIndex.get(name)!),
  };
}

/** Layouts of recent column lists, by their JSON: a point query's layout costs more than its row. */
const layouts = new Map<string, ReturnType<typeof rowLayout>>();
const MAX_LAYOUTS = 256;

function cachedRowLayout(columns: readonly string[]): ReturnType<typeof rowLayout> {
  const key = JSON.stringify(columns);
  let layout = layouts.get(key);
  if (!layout) {
    if (layouts.size >= MAX_LAYOUTS) layouts.clear();
    layouts.set(key, (layout = rowLayout(columns)));
  }
  return layout;
}

/**
 * A row as bun:sqlite returns it: its values in column order (values()), or, when the
 * column names are distinct, an object keyed by name (iterate()).
 */
export type Row = readonly SqlValue[] | { readonly [name: string]: SqlValue };

/** How encodeRowsUtf8 writes: see Utf8Writer. */
export type RowsOutput = { maxBytes?: number; chunkBytes?: number; onChunk?: (chunks: number) => void };

/**
 * The QUERY success body, `{"columns":[…],"data":[{…},…]}`, as UTF-8 in chunks of about
 * `chunkBytes`, so that a large result never exists as one string. Throws ResultTooBigError
 * once the body would pass `maxBytes`.
 */
export function encodeRowsUtf8(columns: readonly string[], rows: Iterable<Row>, output: RowsOutput = {}): Uint8Array[] {
  const { head, prefixes, names, indexes } = cachedRowLayout(columns);
  const width = indexes.length;
  const out = new Utf8Writer(output.maxBytes, output.chunkBytes, output.onChunk);
  out.bytes(head);
  let keys: readonly (string | number)[] | null = null;
  for (const row of rows as Iterable<Record<string | number, SqlValue>>) {
    if (keys === null) keys = Array.isArray(row) ? indexes : names;
    else out.ascii(",");
    if (width === 0) out.ascii("{");
    for (let c = 0; c < width; c++) {
      out.bytes(prefixes[c]!);
      writeSqlValue(out, row[keys[c]!]!);
    }
    out.ascii("}");
  }
  out.ascii("]}");
  return out.finish();
}
