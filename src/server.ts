// The TCP listener: wires Bun.listen's socket events to Connections, and owns the shared
// state (Worker pool, statement semaphore, deletions) for the server's life.

import type { TCPSocketListener } from "bun";
import { availableParallelism } from "node:os";
import type { AllowList } from "./access";
import { Connection, type ServerContext } from "./connection";
import { Deletions } from "./deletions";
import { log } from "./log";
import { MemoryBudget } from "./memory-budget";
import { pollMsFor } from "./poll";
import { Semaphore } from "./semaphore";
import type { Settings } from "./config";
import { WorkerPool } from "./worker-pool";

/** Sessions that need their own handles get a Worker each, up to this many (see worker-pool.ts). */
export const MAX_WORKER_THREADS = 256;
/** On shutdown, how long statements already running may take before we stop waiting. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** Bytes of partially received requests held across all connections (at least one max packet). */
export const REQUEST_BUFFER_BUDGET = 256 * 1024 * 1024;
/** A request whose bytes are still arriving after this long closes its connection. */
export const FRAME_DEADLINE_MS = 30_000;

export interface RunningServer {
  readonly hostname: string;
  readonly port: number;
  /**
   * Stops accepting, lets the requests being answered finish (for up to SHUTDOWN_GRACE_MS)
   * and their responses go out, closes every connection, then closes every SQLite handle
   * (rolling back open transactions, checkpointing WAL).
   */
  stop(): Promise<void>;
}

export function startServer(
  settings: Settings,
  folder: string,
  allowList: AllowList,
  createWorker: () => Worker,
): RunningServer {
  const pool = new WorkerPool({
    folder,
    busyTimeoutMs: settings.busyTimeoutMs,
    statements: new Semaphore(settings.workers),
    readers: settings.workers,
    maxThreads: Math.max(MAX_WORKER_THREADS, settings.workers),
    // Past the cap, one connection's long statement holds up the others on its Worker.
    onShared: (workers) =>
      log.warn(`all ${workers} session Workers are in use: connections that need their own SQLite handle now share them, so one's long statement can hold up another's`),
    keepIdle: settings.workers,
    pollMs: pollMsFor(settings.workers, availableParallelism()),
    createWorker,
  });
  const context: ServerContext = {
    folder,
    maxPacketBytes: settings.clientMaxPacketSize,
    pool,
    deletions: new Deletions(pool, folder),
    auth: settings.auth,
    budget: new MemoryBudget(Math.max(REQUEST_BUFFER_BUDGET, settings.clientMaxPacketSize)),
  };
  const connections = new Set<Connection>();

  let listener: TCPSocketListener<Connection>;
  try {
    listener = Bun.listen<Connection>({
      hostname: settings.listenIp,
      port: settings.listenPort,
      socket: {
        open(socket) {
          // Checked before any byte is read; a refused peer gets no reply, just a close.
          if (!allowList.allows(socket.remoteAddress)) {
            log.warn(`rejected peer ${socket.remoteAddress}: not in ip_whitelist`);
            socket.terminate();
            return;
          }
          socket.data = new Connection(socket, context);
          connections.add(socket.data);
        },
        data(socket, chunk) {
          socket.data?.onData(chunk);
        },
        drain(socket) {
          socket.data?.onDrain();
        },
        close(socket) {
          if (socket.data) connections.delete(socket.data);
          socket.data?.onClose();
        },
        error(socket) {
          socket.data?.onClose();
        },
      },
    });
  } catch (error) {
    void pool.close(0);
    throw error;
  }

  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.expireSlowFrame(now, FRAME_DEADLINE_MS);
  }, 1000);
  sweeper.unref();

  return {
    hostname: settings.listenIp,
    port: listener.port,
    async stop() {
      clearInterval(sweeper);
      listener.stop(false);
      const finished = Promise.all([...connections].map((connection) => connection.finish()));
      const timer = Bun.sleep(SHUTDOWN_GRACE_MS).then(() => "timeout" as const);
      if ((await Promise.race([finished, timer])) === "timeout") {
        log.warn(`statements still running after ${SHUTDOWN_GRACE_MS} ms; closing anyway`);
      }
      listener.stop(true);
      await pool.close(SHUTDOWN_GRACE_MS);
    },
  };
}
