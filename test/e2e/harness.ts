// One harness for every end-to-end test: spawns the compiled binary on an ephemeral port,
// waits for its "listening on" line, and speaks the framed protocol. Servers, folders and
// clients are AsyncDisposable, so `await using` cleans them up on every path.

import type { Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFrame, FrameParser } from "../../src/frame-parser";

export const BINARY = join(import.meta.dir, "..", "..", "dist", "sqlite3-server");
const LISTENING = /^sqlite-server listening on (.+):(\d+)$/m;

export function tempFolder(): string & Disposable {
  const path = mkdtempSync(join(tmpdir(), "sqlite3-server-test-"));
  return Object.assign(path, { [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) }) as string &
    Disposable;
}

export interface Server extends AsyncDisposable {
  port: number;
  host: string;
  folder: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server printed so far, stdout and stderr. */
  output(): string;
  /** Resolves when the output matches `pattern` (rejects if the server exits first). */
  waitFor(pattern: RegExp): Promise<void>;
  /** Resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Collects a stream's text as it comes, so that both pipes are drained at all times. */
function collect(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  return (async () => {
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  })();
}

/**
 * Starts dist/sqlite3-server (or `options.command`, e.g. an emulator and another build) with
 * `--port 0` and the given flags, on a fresh folder unless a folder or --config is given.
 */
export async function startServer(
  args: string[] = [],
  options: { folder?: string; command?: string[]; env?: Record<string, string> } = {},
): Promise<Server> {
  const ownFolder = options.folder === undefined && !args.includes("--config") && !args.includes("-c");
  const folder = options.folder ?? (ownFolder ? mkdtempSync(join(tmpdir(), "sqlite3-server-test-")) : "");
  const fullArgs = args.includes("--config") || args.includes("-c") ? args : ["--port", "0", "-d", folder, ...args];
  const proc = Bun.spawn([...(options.command ?? [BINARY]), ...fullArgs], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
  let text = "";
  let notify = () => {};
  const watchers = new Set<() => void>();
  const onText = (chunk: string) => {
    text += chunk;
    notify();
    for (const watcher of watchers) watcher();
  };
  const drained = Promise.all([collect(proc.stdout, onText), collect(proc.stderr, onText)]);
  const found = await new Promise<RegExpMatchArray | null>((resolve) => {
    notify = () => {
      const match = text.match(LISTENING);
      if (match) resolve(match);
    };
    notify();
    proc.exited.then(() => resolve(null));
  });
  if (!found) {
    await drained;
    if (ownFolder) rmSync(folder, { recursive: true, force: true });
    throw new Error(`server exited (${proc.exitCode}) before listening:\n${text}`);
  }
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (proc.exitCode === null) proc.kill(signal);
    const code = await proc.exited;
    await drained;
    return code;
  };
  return {
    port: Number(found[2]),
    host: found[1]!.replace(/^\[(.*)\]$/, "$1"),
    folder,
    proc,
    output: () => text,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text)) return;
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
        proc.exited.then(() => {
          check();
          if (watchers.delete(check)) reject(new Error(`server exited before printing ${pattern}:\n${text}`));
        });
      }),
    stop,
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null) proc.kill("SIGKILL");
      await proc.exited;
      if (ownFolder) rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** Runs the binary to completion (for flags that exit, or start-up errors). */
export async function runBinary(args: string[], options: { cwd?: string; command?: string[] } = {}) {
  const proc = Bun.spawn([...(options.command ?? [BINARY]), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: options.cwd });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

export const frame = encodeFrame;

export interface Client extends AsyncDisposable {
  /** Sends raw bytes as they are (no framing). */
  write(bytes: Uint8Array): void;
  send(body: string | Uint8Array): void;
  /** The next response body, as a string. */
  receive(): Promise<string>;
  request(body: string | Uint8Array): Promise<string>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

export async function connect(port: number, host = "127.0.0.1"): Promise<Client> {
  const frames: string[] = [];
  const waiting: Array<{ resolve: (body: string) => void; reject: (error: Error) => void }> = [];
  const decoder = new TextDecoder();
  const parser = new FrameParser(2 ** 32, (body) => {
    const text = decoder.decode(body);
    const waiter = waiting.shift();
    if (waiter) waiter.resolve(text);
    else frames.push(text);
  });
  let closed = false;
  let onClosed = () => {};
  const closedPromise = new Promise<void>((resolve) => (onClosed = resolve));
  const unsent: Uint8Array[] = [];
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: {
      data: (_socket, chunk) => parser.push(chunk),
      drain: (s) => {
        while (unsent.length > 0) {
          const head = unsent[0]!;
          const n = Math.max(0, s.write(head));
          if (n < head.length) {
            unsent[0] = head.subarray(n);
            return;
          }
          unsent.shift();
        }
      },
      close: () => {
        closed = true;
        for (const w of waiting.splice(0)) w.reject(new Error("connection closed"));
        onClosed();
      },
    },
  });
  const write = (bytes: Uint8Array) => {
    if (unsent.length > 0) {
      unsent.push(bytes);
      return;
    }
    const n = Math.max(0, socket.write(bytes));
    if (n < bytes.length) unsent.push(bytes.subarray(n));
  };
  const receive = () =>
    frames.length > 0
      ? Promise.resolve(frames.shift()!)
      : closed
        ? Promise.reject(new Error("connection closed"))
        : new Promise<string>((resolve, reject) => waiting.push({ resolve, reject }));
  return {
    write,
    send: (body) => write(frame(body)),
    receive,
    request(body) {
      write(frame(body));
      return receive();
    },
    closed: closedPromise,
    isClosed: () => closed,
    close: () => socket.end(),
    async [Symbol.asyncDispose]() {
      if (!closed) socket.end();
      await closedPromise;
    },
  };
}

/** Resident memory of a process, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)![1]) * 1024;
}

/** A QUERY request body. */
export function query(db: string, sql: string): string {
  return JSON.stringify({ cmd: "QUERY", db, query: sql });
}

/** A read that takes a while: counts to `n` (about 0.1 s per million here). */
export function count(n: number): string {
  return `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ${n}) SELECT COUNT(*) AS n FROM c`;
}

/** Waits until the server has certainly read what was sent to it before this call. */
export async function roundTrip(port: number): Promise<void> {
  await using probe = await connect(port);
  await probe.request('{"cmd":"LIST"}');
}
