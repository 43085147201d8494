// Every response body the server sends, built in one place. Keys are written in sorted
// order by hand: these objects are fixed, and the echoed request goes through encodeJson.

import { encodeJson, encodeString, type JsonObject } from "./json-encoder";
import type { WorkerReply } from "./messages";
import { GenericError, type GenericErrorCode } from "./request";

export const RESULT_OK = '{"result":"ok"}';
export const RESULT_ERROR = '{"result":"error"}';

/** generic_error 0-2 echo the raw body as a string; 3-4 echo the parsed request. */
export function genericError(code: GenericErrorCode, request: string | JsonObject, message?: string): string {
  const echo = typeof request === "string" ? encodeString(request) : encodeJson(request);
  const text = code === GenericError.INVALID_FORMAT ? ',"message":' + encodeString(message ?? "") : "";
  return '{"generic_error":' + code + text + ',"request":' + echo + "}";
}

export function sqlError(code: number, message: string, request: JsonObject): string {
  return '{"error_code":' + code + ',"error_message":' + encodeString(message) + ',"query":' + encodeJson(request) + "}";
}

export function list(names: readonly string[]): string {
  return '{"list":' + JSON.stringify(names) + "}";
}

/** The response to a QUERY, from what its Worker replied: a body, or rows already framed. */
export function queryResponse(reply: WorkerReply, request: JsonObject): string | Uint8Array[] {
  switch (reply.kind) {
    case "rows":
      return reply.frame;
    case "sqlError":
      return sqlError(reply.code, reply.message, request);
    case "unsafeName":
      return genericError(GenericError.NO_DATABASE_SPECIFIED, request);
    case "done":
    case "notReadOnly":
    case "skipped":
    case "busy":
      throw new Error(`a Worker answered a query with ${reply.kind}`);
  }
}
