// The messages between the main thread and a database Worker. They cross as plain strings
// (a string postMessage costs ~10 µs, an object ~45 µs): one letter for the kind, then
// fields separated by NUL, with the free-text field last. A db name never holds a NUL.
// Rows are the exception: the Worker sends the response already framed (length + UTF-8)
// in an ArrayBuffer it transfers, so the main thread neither copies nor encodes it.
// Every request gets exactly one reply, and a Worker replies in the order it was asked,
// so the main thread matches replies to requests with a FIFO and needs no ids.

import { HEADER_BYTES } from "./frame-parser";

const SEP = "\0";

export type WorkerRequest =
  | { kind: "init"; folder: string; busyTimeoutMs: number }
  /** `readOnly`: run on this Worker's shared handles, and only if SQLite deems it read-only. */
  | { kind: "query"; session: number; db: string; sql: string; readOnly: boolean }
  | { kind: "endSession"; session: number }
  | { kind: "closeDatabase"; db: string }
  | { kind: "closeAll" };

/**
 * `pinned`: after this statement the session holds state (a transaction, a PRAGMA, TEMP
 * objects, an attachment) that only its own handle has, so its next statements must run there.
 */
export type WorkerReply =
  | { kind: "rows"; frame: Uint8Array; pinned: boolean }
  | { kind: "sqlError"; code: number; message: string; pinned: boolean }
  | { kind: "notReadOnly" }
  | { kind: "unsafeName" }
  | { kind: "done" };

export function encodeRequest(request: WorkerRequest): string {
  switch (request.kind) {
    case "init":
      return "I" + request.busyTimeoutMs + SEP + request.folder;
    case "query":
      return (request.readOnly ? "R" : "Q") + request.session + SEP + request.db + SEP + request.sql;
    case "endSession":
      return "S" + request.session;
    case "closeDatabase":
      return "C" + request.db;
    case "closeAll":
      return "A";
  }
}

export function decodeRequest(message: string): WorkerRequest {
  const body = message.slice(1);
  switch (message[0]) {
    case "I": {
      const [busy, folder] = splitOnce(body);
      return { kind: "init", folder, busyTimeoutMs: Number(busy) };
    }
    case "Q":
    case "R": {
      const [session, rest] = splitOnce(body);
      const [db, sql] = splitOnce(rest);
      return { kind: "query", session: Number(session), db, sql, readOnly: message[0] === "R" };
    }
    case "S":
      return { kind: "endSession", session: Number(body) };
    case "C":
      return { kind: "closeDatabase", db: body };
    case "A":
      return { kind: "closeAll" };
  }
  throw new Error(`unknown worker request ${JSON.stringify(message.slice(0, 16))}`);
}

/** The rows response from its UTF-8 pieces: framed, then one byte for `pinned`; the buffer to transfer. */
export function frameRows(pieces: readonly Uint8Array[], pinned: boolean): ArrayBuffer {
  const size = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const buffer = new ArrayBuffer(HEADER_BYTES + size + 1);
  const bytes = new Uint8Array(buffer);
  new DataView(buffer).setUint32(0, size, true);
  let at = HEADER_BYTES;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  bytes[at] = pinned ? 1 : 0;
  return buffer;
}

export function encodeReply(reply: Exclude<WorkerReply, { kind: "rows" }>): string {
  switch (reply.kind) {
    case "sqlError":
      return "E" + reply.code + SEP + (reply.pinned ? "1" : "0") + reply.message;
    case "notReadOnly":
      return "N";
    case "unsafeName":
      return "U";
    case "done":
      return "D";
  }
}

export function decodeReply(message: string | ArrayBuffer): WorkerReply {
  if (typeof message !== "string") {
    const bytes = new Uint8Array(message);
    return { kind: "rows", frame: bytes.subarray(0, bytes.length - 1), pinned: bytes[bytes.length - 1] === 1 };
  }
  switch (message[0]) {
    case "E": {
      const [code, rest] = splitOnce(message.slice(1));
      return { kind: "sqlError", code: Number(code), message: rest.slice(1), pinned: rest[0] === "1" };
    }
    case "N":
      return { kind: "notReadOnly" };
    case "U":
      return { kind: "unsafeName" };
    case "D":
      return { kind: "done" };
  }
  throw new Error(`unknown worker reply ${JSON.stringify(message.slice(0, 16))}`);
}

function splitOnce(text: string): [string, string] {
  const at = text.indexOf(SEP);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}
