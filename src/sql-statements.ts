// Finds the first SQL statement of a query text. bun:sqlite's prepare() silently ignores
// everything after the first statement, but the protocol runs exactly one statement and must
// reject "SELECT 1; SELECT 2". A tokenizer that knows strings, quoted identifiers and
// comments finds the `;` that ends a statement; CREATE TRIGGER bodies, whose inner
// statements end in `;` too, end only at a `;` that follows `; END` (as sqlite3_complete).

import { PRIVATE_SCHEMA } from "./counters";

export interface FirstStatement {
  /** Offset of the statement's first token (leading blanks, comments and `;` skipped). */
  start: number;
  /** Offset just past the statement (past its `;`, if it has one). */
  end: number;
  /** Whether anything other than blanks, comments and `;` follows it. */
  more: boolean;
}

/** `string` is a single-quoted literal; `quoted` a "…", `…` or […] identifier. */
export type Token = { kind: "semi" | "word" | "string" | "quoted" | "other"; start: number; end: number };

/** The first statement, or null when the text holds only blanks, comments and `;`. */
export function firstStatement(sql: string): FirstStatement | null {
  const tokens = tokenize(sql);
  let next = tokens.next();
  while (!next.done && next.value.kind === "semi") next = tokens.next();
  if (next.done) return null;
  const start = next.value.start;
  // Without a `;` the first statement runs to the end: nothing past its first token to read.
  if (!sql.includes(";", start)) return { start, end: sql.length, more: false };

  const words: string[] = []; // the statement's first few keywords, to spot CREATE TRIGGER
  let trigger = false;
  let previous: string[] = []; // the last two significant tokens, upper-cased
  let end = sql.length;
  for (; !next.done; next = tokens.next()) {
    const token = next.value;
    const text = token.kind === "semi" ? ";" : sql.slice(token.start, token.end).toUpperCase();
    if (words.length < 4 && token.kind === "word") {
      words.push(text);
      trigger = isCreateTrigger(words);
    }
    if (token.kind === "semi" && (!trigger || (previous[1] === "END" && previous[0] === ";"))) {
      end = token.end;
      break;
    }
    previous = [previous[1] ?? "", text];
  }
  for (next = tokens.next(); !next.done; next = tokens.next()) {
    if (next.value.kind !== "semi") return { start, end, more: true };
  }
  return { start, end, more: false };
}

function isCreateTrigger(words: string[]): boolean {
  let i = 0;
  if (words[i] === "EXPLAIN") i++;
  if (words[i] === "QUERY" && words[i + 1] === "PLAN") i += 2;
  if (words[i++] !== "CREATE") return false;
  if (words[i] === "TEMP" || words[i] === "TEMPORARY") i++;
  return words[i] === "TRIGGER";
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD = /[A-Za-z0-9_$\u0080-\uffff]*/y;
const CLOSING: Record<string, string> = { "'": "'", '"': '"', "`": "`", "[": "]" };

/** Significant tokens only: blanks and comments are dropped. */
export function* tokenize(sql: string): Generator<Token> {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const start = i;
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const newline = sql.indexOf("\n", i);
      i = newline < 0 ? sql.length : newline + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const close = sql.indexOf("*/", i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (c in CLOSING) {
      i = skipQuoted(sql, i, CLOSING[c]!);
      yield { kind: c === "'" ? "string" : "quoted", start, end: i };
    } else if (c === ";") {
      i++;
      yield { kind: "semi", start, end: i };
    } else if (WORD_START.test(c)) {
      WORD.lastIndex = i + 1;
      WORD.exec(sql);
      i = WORD.lastIndex;
      yield { kind: "word", start, end: i };
    } else {
      i++;
      yield { kind: "other", start, end: i };
    }
  }
}

/** Past the closing quote; a doubled quote ('it''s') is an escaped one. */
function skipQuoted(sql: string, at: number, close: string): number {
  let i = at + 1;
  for (;;) {
    const found = sql.indexOf(close, i);
    if (found < 0) return sql.length;
    if (close !== "]" && sql[found + 1] === close) {
      i = found + 2;
      continue;
    }
    return found + 1;
  }
}

/** How a read that may run on a shared handle starts. */
const READ_START = /^\s*(?:SELECT|WITH|VALUES)\b/i;
/**
 * How a write that may run on a shared handle starts: INSERT, UPDATE or DELETE, perhaps
 * after WITH. Those cannot leave the handle in a transaction or with any other state behind.
 */
const WRITE_START = /^\s*(?:INSERT|UPDATE|DELETE|REPLACE|WITH)\b/i;

/** Whether a statement starts like a query. */
export function startsLikeRead(sql: string): boolean {
  return READ_START.test(sql);
}

const PRAGMA_START = /^\s*PRAGMA\b/i;

/** Whether a statement starts like a PRAGMA. */
export function startsLikePragma(sql: string): boolean {
  return PRAGMA_START.test(sql);
}

/** Whether a statement starts like an INSERT, UPDATE or DELETE. */
export function startsLikeWrite(sql: string): boolean {
  return WRITE_START.test(sql);
}

/** SQL functions whose value depends on the connection, not on the database. */
const CONNECTION_FUNCTIONS = /\b(?:last_insert_rowid|changes|total_changes)\s*\(/i;

/** Whether SQL text (a statement, or a view's definition) asks for the connection's own counters. */
export function asksForCounters(sql: string): boolean {
  return CONNECTION_FUNCTIONS.test(sql);
}

/**
 * Whether a statement may run on any handle of the database rather than the session's own:
 * it must start like a query and not ask for the connection's own counters. (The handle that
 * runs it still checks that SQLite considers it read-only, and that no view it may read asks
 * for them.)
 */
export function mayReadAnywhere(sql: string): boolean {
  return READ_START.test(sql) && !asksForCounters(sql) && !SEES_PRIVATE.test(sql);
}

/**
 * Whether an autocommit write may run on a reader's handle (see worker-pool.ts): it must
 * start like one and not ask for the connection's counters. (The reader still checks that it
 * is one and that no trigger or view asks for them.)
 */
export function mayWriteAnywhere(sql: string): boolean {
  return WRITE_START.test(sql) && !asksForCounters(sql) && !SEES_PRIVATE.test(sql);
}

/**
 * A reader's handle has a private database attached (see counters.ts), which the session's
 * own would not: a statement that names it, or lists databases or tables through a pragma
 * function, runs on the session's own handle.
 */
const SEES_PRIVATE = new RegExp(`\\bpragma_|${PRIVATE_SCHEMA}`, "i");

const STATEFUL_FIRST_WORDS = new Set(["PRAGMA", "ATTACH", "DETACH"]);

/**
 * Whether running this statement leaves state on the connection that later statements could
 * see, besides a transaction: a PRAGMA setting, an attached database, a TEMP object.
 */
export function leavesConnectionState(sql: string): boolean {
  const words: string[] = [];
  for (const token of tokenize(sql)) {
    if (token.kind === "word") words.push(sql.slice(token.start, token.end).toUpperCase());
    if (words.length === 1 && STATEFUL_FIRST_WORDS.has(words[0]!)) return true;
    if (words.length > 0 && words[0] !== "CREATE") return false;
    if (words.length > 1 && (words.at(-1) === "TEMP" || words.at(-1) === "TEMPORARY")) return true;
  }
  return false;
}
