// Entry point of a database Worker thread: decodes each message, runs it against the
// Worker's sessions, and answers with exactly one reply, in order.

import { decodeRequest, encodeReply, rowsMessage, type InitRequest, type WorkerRequest } from "./messages";
import { PollingFlag, PostedCount, RequestPoller } from "./poll";
import { IDLE_SWEEP_MS, Sessions, type SessionReply } from "./sessions";
import { WriteGate } from "./write-gate";

declare const self: Worker;

let sessions: Sessions | null = null;
/** Closes the shared handles left idle, in a reader: started by its first read. */
let idleSweep: Timer | null = null;
let claims: Int32Array | null = null;
/** Watches for the next request after each answer (poll.ts). */
let poller: RequestPoller | null = null;

// For the tests of Worker faults only: with this set in the server's environment, this exact
// query makes the Worker die as a bug or an out-of-memory would.
const FAULT_QUERY = process.env.SQLITE3_SERVER_FAULT_INJECTION === "1" ? "SELECT 'crash this worker'" : null;

self.onmessage = (event: MessageEvent<string | InitRequest>) => {
  poller?.received();
  const request = decodeRequest(event.data);
  if ((request.kind === "query" || request.kind === "read") && request.sql === FAULT_QUERY) throw new Error("injected fault");
  const reply = handle(request);
  if (reply.kind === "rowsUtf8") {
    const { message, transfer } = rowsMessage(reply.pieces, reply.pinned, reply.counters);
    self.postMessage(message, transfer);
  } else {
    self.postMessage(encodeReply(reply));
  }
  // Once a request is on its way, the event loop delivers it without this thread sleeping.
  poller?.awaitNext();
};

function handle(request: WorkerRequest): SessionReply {
  if (request.kind === "init") {
    const gate = request.owner > 0 ? { gate: new WriteGate(request.gates), owner: request.owner } : null;
    sessions = new Sessions(request.folder, request.busyTimeoutMs, gate);
    claims = new Int32Array(request.claims);
    poller = new RequestPoller(new PostedCount(request.posted), new PollingFlag(request.polling), request.owner, request.pollMs);
    poller.received(); // this very message
    return { kind: "done" };
  }
  if (!sessions || !claims) throw new Error("worker used before init");
  switch (request.kind) {
    case "read":
      idleSweep ??= setInterval(() => sessions?.closeIdleShared(), IDLE_SWEEP_MS);
      // Sent to another reader too, and already taken there: that reader answers it.
      if (request.claim >= 0 && Atomics.compareExchange(claims, request.claim, 0, 1) !== 0) return { kind: "skipped" };
      return sessions.shared(request.db, request.sql, request.write);
    case "query":
      return sessions.query(request.session, request.db, request.sql, request.seed, request.sharedSince, request.refresh);
    case "endSession":
      sessions.endSession(request.session);
      return { kind: "done" };
    case "closeDatabase":
      sessions.closeDatabase(request.db);
      return { kind: "done" };
    case "closeAll":
      sessions.closeAll();
      return { kind: "done" };
  }
}
