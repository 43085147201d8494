// A database Worker whose requests and replies travel on a MessageChannel of their own rather
// than on the Worker's global port: a Worker can poll a MessagePort for its next request
// (`receiveMessageOnPort`, see poll.ts), and cannot poll its global port.

import type { InitRequest, WorkerInit } from "./messages";
import type { DatabaseWorker, WorkerMessage } from "./worker-pool";

export class ChannelledWorker implements DatabaseWorker {
  onmessage: ((event: { data: WorkerMessage }) => void) | null = null;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  /** The Worker's end, until `init` carries it there. */
  #workerPort: MessagePort | null;
  #onerror: ((event: { message: string }) => void) | null = null;

  constructor(url: string) {
    this.#worker = new Worker(url);
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = (event) => this.onmessage?.(event);
    this.#port = port1;
    this.#workerPort = port2;
  }

  get onerror(): ((event: { message: string }) => void) | null {
    return this.#onerror;
  }

  set onerror(handler: ((event: { message: string }) => void) | null) {
    this.#onerror = handler;
    this.#worker.onerror = handler;
  }

  addEventListener(type: "close", listener: () => void): void {
    this.#worker.addEventListener(type, listener);
  }

  /** `init` comes first, on the global port, and hands the Worker its end of the channel. */
  postMessage(message: string | InitRequest): void {
    if (typeof message === "string") return this.#port.postMessage(message);
    const port = this.#workerPort;
    if (!port) throw new Error("init sent twice");
    this.#workerPort = null;
    const init: WorkerInit = { ...message, port };
    this.#worker.postMessage(init, [port]);
  }

  terminate(): void {
    this.#port.close();
    this.#worker.terminate();
  }
}
