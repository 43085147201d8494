// Keeps statements inside the databases folder. SQLite can open other files on its own:
// ATTACH and VACUUM INTO take any path, and PRAGMA temp_store_directory moves temporary
// files. bun:sqlite offers no authorizer hook, so we look at the statement's tokens: ATTACH
// and VACUUM INTO must name a database of the folder with a plain string literal, which is
// rewritten to that database's resolved path; anything else is refused. (load_extension()
// is already refused by SQLite: extension loading is off in bun:sqlite.)

import { tokenize, type Token } from "./sql-statements";

export type Confined = { ok: true; sql: string } | { ok: false; message: string };

/** Resolves a database name of the folder to its path, or null if it is not a safe name. */
export type Resolve = (name: string) => string | null;

const REFUSED_PRAGMAS = new Set(["TEMP_STORE_DIRECTORY", "DATA_STORE_DIRECTORY"]);
/** Every statement confine() changes or refuses contains one of these; others skip the tokenizer. */
const MIGHT_REACH_OUT = /attach|vacuum|_store_directory/i;
/** Names SQLite opens without a file of ours: an in-memory or a private temporary database. */
const NO_FILE = new Set(["", ":memory:"]);

/** `sql` is one statement (see firstStatement). */
export function confine(sql: string, resolve: Resolve): Confined {
  if (!MIGHT_REACH_OUT.test(sql)) return { ok: true, sql };
  const tokens = [...tokenize(sql)].filter((t) => t.kind !== "semi");
  const word = (i: number) => (tokens[i]?.kind === "word" ? sql.slice(tokens[i]!.start, tokens[i]!.end).toUpperCase() : "");
  const first = word(0);
  if (first === "ATTACH") {
    const at = word(1) === "DATABASE" ? 2 : 1;
    if (word(at + 1) !== "AS") return refuse("ATTACH takes the name of a database in the folder as a string literal: ATTACH 'other.db' AS other");
    return rewriteLiteral(sql, tokens[at], resolve, "ATTACH");
  }
  if (first === "VACUUM") {
    const into = tokens.findIndex((_, i) => word(i) === "INTO");
    if (into < 0) return { ok: true, sql };
    if (into + 2 !== tokens.length) return refuse("VACUUM INTO takes the name of a database in the folder as a string literal");
    return rewriteLiteral(sql, tokens[into + 1], resolve, "VACUUM INTO");
  }
  if (first === "PRAGMA") {
    const name = REFUSED_PRAGMAS.has(word(1)) ? word(1) : word(3); // PRAGMA x or PRAGMA schema.x
    if (REFUSED_PRAGMAS.has(name)) return refuse(`PRAGMA ${name.toLowerCase()} is not allowed: files stay in the databases folder`);
  }
  return { ok: true, sql };
}

function rewriteLiteral(sql: string, token: Token | undefined, resolve: Resolve, what: string): Confined {
  if (token?.kind !== "string") return refuse(`${what} takes the name of a database in the folder as a string literal`);
  const name = sql.slice(token.start + 1, token.end - 1).replaceAll("''", "'");
  if (NO_FILE.has(name)) return { ok: true, sql };
  const path = resolve(name);
  if (path === null) return refuse(`${what} accepts only the name of a database in the databases folder, not "${name}"`);
  return { ok: true, sql: sql.slice(0, token.start) + quote(path) + sql.slice(token.end) };
}

function quote(text: string): string {
  return "'" + text.replaceAll("'", "''") + "'";
}

function refuse(message: string): Confined {
  return { ok: false, message: `not authorized: ${message}` };
}
