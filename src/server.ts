// The TCP listener: wires Bun.listen's socket events to Connections, and owns the shared
// state (Worker pool, statement semaphore, deletions) for the server's life.

import type { TCPSocketListener } from "bun";
import { Connection, type ServerContext } from "./connection";
import { Deletions } from "./deletions";
import { Semaphore } from "./semaphore";
import type { Settings } from "./config";
import { WorkerPool } from "./worker-pool";

/** Sessions get a Worker of their own up to this many Workers (see worker-pool.ts). */
export const MAX_WORKER_THREADS = 256;

export interface RunningServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting, waits for running statements, closes every handle. */
  stop(): Promise<void>;
}

export function startServer(settings: Settings, folder: string, createWorker: () => Worker): RunningServer {
  const pool = new WorkerPool({
    folder,
    busyTimeoutMs: settings.busyTimeoutMs,
    maxThreads: Math.max(MAX_WORKER_THREADS, settings.workers),
    keepIdle: settings.workers,
    createWorker,
  });
  const context: ServerContext = {
    folder,
    maxPacketBytes: settings.clientMaxPacketSize,
    statements: new Semaphore(settings.workers),
    pool,
    deletions: new Deletions(pool, folder),
  };

  let listener: TCPSocketListener<Connection>;
  try {
    listener = Bun.listen<Connection>({
      hostname: settings.listenIp,
      port: settings.listenPort,
      socket: {
        open(socket) {
          socket.data = new Connection(socket, context);
        },
        data(socket, chunk) {
          socket.data.onData(chunk);
        },
        drain(socket) {
          socket.data.onDrain();
        },
        close(socket) {
          socket.data?.onClose();
        },
        error(socket) {
          socket.data?.onClose();
        },
      },
    });
  } catch (error) {
    void pool.close();
    throw error;
  }

  return {
    hostname: settings.listenIp,
    port: listener.port,
    async stop() {
      listener.stop(true);
      await pool.close();
    },
  };
}
