// From a request body to a command: lenient parse (key repair), then validation in the
// order the originals apply it, each failure carrying its generic_error code.

import * as v from "valibot";
import { isSafeDbName } from "./db-names";
import type { JsonObject, JsonValue } from "./json-encoder";
import { JsonSyntaxError, parseJson } from "./json-parser";
import { repairKeys } from "./key-repair";

export const GenericError = {
  INVALID_FORMAT: 0,
  NO_COMMAND_SPECIFIED: 1,
  UNKNOWN_COMMAND: 2,
  NO_DATABASE_SPECIFIED: 3,
  ERROR_READING_FROM_CLIENT: 4,
} as const;
export type GenericErrorCode = (typeof GenericError)[keyof typeof GenericError];

export type Command =
  | { kind: "list" }
  | { kind: "deleteDb"; db: string }
  | { kind: "query"; db: string; sql: string; request: JsonObject };

const WithCommand = v.object({ cmd: v.string() });
const WithDatabase = v.object({ db: v.pipe(v.string(), v.check(isSafeDbName)) });
const WithQuery = v.object({ query: v.string() });
const WithPassword = v.object({ auth: v.string() });

/** Parses a body as JSON, retrying once with bare or single-quoted keys quoted. */
export function parseBody(raw: string): { ok: true; value: JsonValue } | { ok: false; message: string } {
  try {
    return { ok: true, value: parseJson(raw) };
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const repaired = repairKeys(raw);
    if (repaired !== null) {
      try {
        return { ok: true, value: parseJson(repaired) };
      } catch {
        // report the error in the body as sent
      }
    }
    return { ok: false, message: error.message };
  }
}

/** The password of an `{"auth": "..."}` message, or null if the value is not one. */
export function authPassword(value: JsonValue): string | null {
  return v.is(WithPassword, value) ? value.auth : null;
}

/** A parsed request as a command, or the generic error it earns. */
export function toCommand(
  value: JsonValue,
  raw: string,
): { ok: true; command: Command } | { ok: false; code: GenericErrorCode; request: string | JsonObject } {
  if (!v.is(WithCommand, value)) return { ok: false, code: GenericError.NO_COMMAND_SPECIFIED, request: raw };
  const request = value as JsonObject;
  switch (value.cmd.toUpperCase()) {
    case "LIST":
      return { ok: true, command: { kind: "list" } };
    case "DELETE_DB":
      if (!v.is(WithDatabase, value)) return { ok: false, code: GenericError.NO_DATABASE_SPECIFIED, request };
      return { ok: true, command: { kind: "deleteDb", db: value.db } };
    case "QUERY":
      if (!v.is(WithDatabase, value)) return { ok: false, code: GenericError.NO_DATABASE_SPECIFIED, request };
      if (!v.is(WithQuery, value)) return { ok: false, code: GenericError.ERROR_READING_FROM_CLIENT, request };
      return { ok: true, command: { kind: "query", db: value.db, sql: value.query, request } };
    default:
      return { ok: false, code: GenericError.UNKNOWN_COMMAND, request: raw };
  }
}
