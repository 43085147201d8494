// What the main thread's own code costs per request, alone on one thread: Connections and the
// WorkerPool wired as server.ts wires them, with sockets and Workers faked so that neither the
// kernel nor a thread hop is in the figure. Each fake Worker answers at once: every read with
// the same one-row response, every write on a reader's shared handle with no rows and the
// session's new counters. Each fake socket sends its connection's next request when a
// response is written (closed loop, one request in flight per connection).

import { Connection, type ServerContext } from "../../src/connection";
import { Deletions } from "../../src/deletions";
import { encodeFrame } from "../../src/frame-parser";
import { encodeRowsUtf8, type Row } from "../../src/json-encoder";
import { MemoryBudget } from "../../src/memory-budget";
import { decodeRequest, rowsMessage } from "../../src/messages";
import { Semaphore } from "../../src/semaphore";
import { WorkerPool } from "../../src/worker-pool";

const row: Row = { id: 42n, name: "name-42", value: 52.5 };
const rowReply = rowsMessage(encodeRowsUtf8(["id", "name", "value"], [row], { maxBytes: 1 << 20 }), false, null).message as ArrayBuffer;
const writeReply = rowsMessage(encodeRowsUtf8([], [], { maxBytes: 1 << 20 }), false, "100042,1,5000").message as ArrayBuffer;

/** Answers each message on the next microtask, as a Worker with its inbox full would. */
class InstantWorker {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: unknown = null;
  addEventListener(): void {}
  terminate(): void {}
  postMessage(message: unknown): void {
    const request = decodeRequest(message as string);
    const reply = request.kind === "read" && request.write ? writeReply : request.kind === "read" || request.kind === "query" ? rowReply : null;
    const data = reply?.slice(0) ?? "D"; // a copy: the real one is transferred
    queueMicrotask(() => this.onmessage?.({ data }));
  }
}

/**
 * Mean µs of main-thread work per request, over `total` requests from `conns` connections:
 * point reads, or autocommit INSERTs (which run on readers and carry counters both ways).
 */
export async function mainThreadMicros(conns: number, total: number, statements: "reads" | "writes" = "reads"): Promise<number> {
  const folder = "/nonexistent"; // nothing here touches the disk
  const pool = new WorkerPool({
    folder,
    busyTimeoutMs: 5000,
    statements: new Semaphore(2),
    readers: 2,
    maxThreads: 256,
    keepIdle: 0,
    pollMs: 0,
    createWorker: () => new InstantWorker() as unknown as Worker,
  });
  const context: ServerContext = {
    folder,
    maxPacketBytes: 1 << 24,
    pool,
    deletions: new Deletions(pool, folder),
    auth: "",
    budget: new MemoryBudget(1 << 28),
  };
  const sql = statements === "reads" ? (i: number) => `SELECT * FROM kv WHERE id = ${i * 97 + 1}` : (i: number) => `INSERT INTO log(v) VALUES (${i})`;
  const requests = Array.from({ length: 1000 }, (_, i) => encodeFrame(`{"cmd":"QUERY","db":"bench.db","query":"${sql(i)}"}`));
  let answered = 0;
  let finished = () => {};
  const done = new Promise<void>((resolve) => (finished = resolve));
  const connections = Array.from({ length: conns }, (_, c) => {
    let next = c;
    const socket = {
      remoteAddress: "127.0.0.1",
      pause() {},
      resume() {},
      end() {},
      write(frame: Uint8Array) {
        if (++answered === total) finished();
        else if (answered < total) setImmediate(() => connection.onData(requests[next++ % requests.length]!));
        return frame.length;
      },
    };
    const connection = new Connection(socket as never, context);
    return connection;
  });
  await Bun.sleep(10); // the pool's init messages answered
  const started = performance.now();
  connections.forEach((connection, c) => connection.onData(requests[c]!));
  await done;
  const micros = ((performance.now() - started) * 1000) / total;
  for (const connection of connections) connection.onClose();
  return micros;
}
