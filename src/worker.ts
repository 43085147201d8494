// Entry point of a database Worker thread: decodes each message, runs it against the
// Worker's sessions, and answers with exactly one reply, in order.

import { decodeRequest, encodeReply, type WorkerReply } from "./messages";
import { Sessions } from "./sessions";

declare const self: Worker;

let sessions: Sessions | null = null;

self.onmessage = (event: MessageEvent<string>) => {
  self.postMessage(encodeReply(handle(event.data)));
};

function handle(message: string): WorkerReply {
  const request = decodeRequest(message);
  if (request.kind === "init") {
    sessions = new Sessions(request.folder, request.busyTimeoutMs);
    return { kind: "done" };
  }
  if (!sessions) throw new Error("worker used before init");
  switch (request.kind) {
    case "query":
      return sessions.query(request.session, request.db, request.sql);
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
