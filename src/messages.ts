// The messages between the main thread and a database Worker. They cross as plain strings
// (a string postMessage costs ~10 µs, an object ~45 µs): one letter for the kind, then
// fields separated by NUL, with the free-text field last. A db name never holds a NUL.
// Rows are the exception: the Worker sends the response already framed (length + UTF-8)
// in an ArrayBuffer it transfers, so the main thread neither copies nor encodes it. A large
// response goes as the encoder's chunks, transferred as they are, so that it is never copied
// into one buffer at all (see rowsMessage).
// Every request gets exactly one reply, and a Worker replies in the order it was asked,
// so the main thread matches replies to requests with a FIFO and needs no ids.
// `init` is the one object message (it carries the shared memory); it is sent once.

import { HEADER_BYTES } from "./frame-parser";

const SEP = "\0";

/**
 * `claims`: one flag per read in flight, shared by every reader. A read may be sent to two
 * readers (see worker-pool.ts); the one that flips its flag from 0 to 1 first runs it.
 * `gates`: the write gates (write-gate.ts), shared by every Worker; `polling`: the flag that
 * lets one Worker at a time poll for its next request, and `posted` the count of requests
 * posted to this Worker (poll.ts). `owner`: this Worker's number (> 0), which marks the gates
 * and the flag while it holds them.
 */
export type InitRequest = {
  kind: "init";
  folder: string;
  busyTimeoutMs: number;
  claims: SharedArrayBuffer;
  gates: SharedArrayBuffer;
  owner: number;
  polling: SharedArrayBuffer;
  posted: SharedArrayBuffer;
  /** How long the Worker polls for its next request (poll.ts); 0: never. */
  pollMs: number;
};

/** `counters`: the session's (see counters.ts); `since`: when it was sent (Date.now()). */
export type SharedWrite = { counters: string; since: number };

export type WorkerRequest =
  | InitRequest
  /**
   * Run on the session's own handle, set first to the counters `seed` if given (see counters.ts).
   * `sharedSince`: the session shares its Worker, and the statement was first sent then
   * (Date.now()): it must not wait for locks there (see Sessions.query). `refresh`: the
   * session's statements on `db` ran on shared handles since its own handle's last one, so
   * that handle's idea of the schema may be old (see Sessions.query).
   */
  | { kind: "query"; session: number; db: string; sql: string; seed: string | null; sharedSince: number | null; refresh: boolean }
  /**
   * Run on this reader's shared handle, if it is a read, or with `write` an autocommit write
   * (see Sessions.shared); `claim` < 0: no flag.
   */
  | { kind: "read"; claim: number; db: string; sql: string; write: SharedWrite | null }
  | { kind: "endSession"; session: number }
  | { kind: "closeDatabase"; db: string }
  | { kind: "closeAll" };

/**
 * `pinned`: after this statement the session holds state (a transaction, a PRAGMA, TEMP
 * objects, an attachment) that only its own handle has, so its next statements must run there.
 * `counters`: after a write on a shared handle, the session's new counters; else null.
 */
export type WorkerReply =
  /** `frame`: the response, length header included, to be written in this order. */
  | { kind: "rows"; frame: Uint8Array[]; pinned: boolean; counters: string | null }
  | { kind: "sqlError"; code: number; message: string; pinned: boolean; counters: string | null }
  | { kind: "notReadOnly" }
  | { kind: "unsafeName" }
  /** The read was claimed by another reader, which answers it. */
  | { kind: "skipped" }
  /** A lock was taken and the statement did not wait for it: send it again, within `leftMs`. */
  | { kind: "busy"; leftMs: number }
  | { kind: "done" };

export function encodeRequest(request: Exclude<WorkerRequest, InitRequest>): string;
export function encodeRequest(request: WorkerRequest): string | InitRequest;
export function encodeRequest(request: WorkerRequest): string | InitRequest {
  switch (request.kind) {
    case "init":
      return request;
    case "query":
      return (
        "Q" + request.session + SEP + request.db + SEP + (request.seed ?? "") + SEP + (request.sharedSince ?? "") + SEP + (request.refresh ? "1" : "") + SEP + request.sql
      );
    case "read":
      if (request.write === null) return "R" + request.claim + SEP + request.db + SEP + request.sql;
      return "W" + request.claim + SEP + request.db + SEP + request.write.counters + SEP + request.write.since + SEP + request.sql;
    case "endSession":
      return "S" + request.session;
    case "closeDatabase":
      return "C" + request.db;
    case "closeAll":
      return "A";
  }
}

export function decodeRequest(message: string | InitRequest): WorkerRequest {
  if (typeof message !== "string") return message;
  const body = message.slice(1);
  switch (message[0]) {
    case "R": {
      const [claim, db, sql] = fields(body, 3);
      return { kind: "read", claim: Number(claim), db, sql, write: null };
    }
    case "W": {
      const [claim, db, counters, since, sql] = fields(body, 5);
      return { kind: "read", claim: Number(claim), db, sql, write: { counters, since: Number(since) } };
    }
    case "Q": {
      const [session, db, seed, since, refresh, sql] = fields(body, 6);
      return { kind: "query", session: Number(session), db, sql, seed: seed === "" ? null : seed, sharedSince: since === "" ? null : Number(since), refresh: refresh === "1" };
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

/** Up to this size, a rows response is copied into one buffer: one write, one small message. */
export const ONE_BUFFER_MAX_BYTES = 1024 * 1024;

/**
 * The rows response from the UTF-8 chunks of its body, and the buffers to transfer with it.
 * Up to ONE_BUFFER_MAX_BYTES: one buffer, framed, then the counters as ASCII, one byte for
 * their length and one for `pinned`. Past it: an array of a buffer of Uint32 [body length,
 * pinned, length of each chunk] followed by the counters, and the chunks' own buffers (each
 * chunk starts at offset 0 of its buffer).
 */
export function rowsMessage(
  chunks: readonly Uint8Array[],
  pinned: boolean,
  counters: string | null,
): { message: ArrayBuffer | ArrayBuffer[]; transfer: ArrayBuffer[] } {
  const tail = counters ?? "";
  const size = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  if (size > ONE_BUFFER_MAX_BYTES) {
    const words = [size, pinned ? 1 : 0, ...chunks.map((chunk) => chunk.length)];
    const meta = new ArrayBuffer(words.length * 4 + tail.length);
    new Uint32Array(meta, 0, words.length).set(words);
    writeAscii(new Uint8Array(meta, words.length * 4), tail);
    const buffers = chunks.map((chunk) => chunk.buffer as ArrayBuffer);
    return { message: [meta, ...buffers], transfer: [meta, ...buffers] };
  }
  const buffer = new ArrayBuffer(HEADER_BYTES + size + tail.length + 2);
  const bytes = new Uint8Array(buffer);
  new DataView(buffer).setUint32(0, size, true);
  let at = HEADER_BYTES;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  writeAscii(bytes.subarray(at), tail);
  bytes[at + tail.length] = tail.length;
  bytes[at + tail.length + 1] = pinned ? 1 : 0;
  return { message: buffer, transfer: [buffer] };
}

/** Counters are digits, `-` and `,`: one byte each, at most 62 of them. */
function writeAscii(into: Uint8Array, text: string): void {
  for (let i = 0; i < text.length; i++) into[i] = text.charCodeAt(i);
}

/** ASCII is the same bytes in windows-1252, which is what WHATWG's "latin1" decodes. */
const ascii = new TextDecoder("latin1");

function readAscii(bytes: Uint8Array): string | null {
  return bytes.length === 0 ? null : ascii.decode(bytes); // 0.04 µs, where spreading into fromCharCode took 0.33
}

export function encodeReply(reply: Exclude<WorkerReply, { kind: "rows" }>): string {
  switch (reply.kind) {
    case "sqlError":
      return "E" + reply.code + SEP + (reply.pinned ? "1" : "0") + (reply.counters ?? "") + SEP + reply.message;
    case "notReadOnly":
      return "N";
    case "unsafeName":
      return "U";
    case "skipped":
      return "K";
    case "busy":
      return "B" + reply.leftMs;
    case "done":
      return "D";
  }
}

export function decodeReply(message: string | ArrayBuffer | ArrayBuffer[]): WorkerReply {
  if (Array.isArray(message)) {
    const [meta, ...buffers] = message;
    const info = new Uint32Array(meta!, 0, 2 + buffers.length);
    const counters = readAscii(new Uint8Array(meta!, info.byteLength));
    const header = new Uint8Array(HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, info[0]!, true);
    const chunks = buffers.map((buffer, i) => new Uint8Array(buffer, 0, info[2 + i]));
    return { kind: "rows", frame: [header, ...chunks], pinned: info[1] === 1, counters };
  }
  if (typeof message !== "string") {
    const bytes = new Uint8Array(message);
    const tail = bytes[bytes.length - 2]!;
    const frameEnd = bytes.length - 2 - tail;
    const counters = readAscii(bytes.subarray(frameEnd, frameEnd + tail));
    return { kind: "rows", frame: [bytes.subarray(0, frameEnd)], pinned: bytes[bytes.length - 1] === 1, counters };
  }
  switch (message[0]) {
    case "E": {
      const [code, flags, text] = fields(message.slice(1), 3);
      const counters = flags.length > 1 ? flags.slice(1) : null;
      return { kind: "sqlError", code: Number(code), message: text, pinned: flags[0] === "1", counters };
    }
    case "N":
      return { kind: "notReadOnly" };
    case "U":
      return { kind: "unsafeName" };
    case "K":
      return { kind: "skipped" };
    case "B":
      return { kind: "busy", leftMs: Number(message.slice(1)) };
    case "D":
      return { kind: "done" };
  }
  throw new Error(`unknown worker reply ${JSON.stringify(message.slice(0, 16))}`);
}

/** `count` strings. */
type Fields<N extends number, T extends string[] = []> = T["length"] extends N ? T : Fields<N, [...T, string]>;

/** The first `count` - 1 fields, and all the rest as the last one (free text, which may hold SEP). */
function fields<N extends number>(text: string, count: N): Fields<N> {
  const parts: string[] = [];
  let from = 0;
  for (let i = 1; i < count; i++) {
    const at = text.indexOf(SEP, from);
    parts.push(text.slice(from, at < 0 ? text.length : at));
    from = at < 0 ? text.length : at + 1;
  }
  parts.push(text.slice(from));
  return parts as Fields<N>;
}
