// One TCP connection: frames in, requests answered one at a time in arrival order, responses
// out through an outbox that honours backpressure. It owns the connection's session (its
// SQLite handles), opened on the first QUERY and ended when the connection closes.

import type { Socket } from "bun";
import { authFailureDelayMs, passwordMatches } from "./access";
import type { Deletions } from "./deletions";
import { listDatabases } from "./folder";
import { encodeFrame, FrameParser, FrameTooLargeError } from "./frame-parser";
import { log } from "./log";
import type { MemoryBudget } from "./memory-budget";
import { authPassword, parseBody, toCommand, GenericError, type Command } from "./request";
import * as responses from "./responses";
import type { WorkerReply } from "./messages";
import type { Session } from "./session";
import { WorkerCrashedError } from "./thread";
import type { WorkerPool } from "./worker-pool";

/** What every connection shares. */
export interface ServerContext {
  /** The databases folder's real path. */
  folder: string;
  maxPacketBytes: number;
  /** Runs the statements, at most `--workers` at once (see worker-pool.ts). */
  pool: WorkerPool;
  deletions: Deletions;
  /** The password every connection must send first; "" disables the check. */
  auth: string;
  /** Shared by every connection's partially received requests. */
  budget: MemoryBudget;
}

/** Stop reading a connection whose responses the client is not reading past this many bytes. */
export const MAX_UNSENT_BYTES = 8 * 1024 * 1024;
/** Stop reading a connection with this many requests received but not yet answered. */
export const MAX_QUEUED_REQUESTS = 1024;

const decoder = new TextDecoder("utf-8"); // not fatal: invalid UTF-8 becomes U+FFFD

export class Connection {
  readonly #socket: Socket<Connection>;
  readonly #context: ServerContext;
  readonly #parser: FrameParser;
  readonly #requests: string[] = [];
  #requestHead = 0;
  #answering = false;
  #closed = false;
  /** Set by finish(): answer the request in hand, then close. */
  #finishing = false;
  #finished: (() => void) | null = null;
  /** The socket ends as soon as the outbox is empty. */
  #closing = false;
  #session: Session | null = null;
  #authenticated: boolean;
  #authFailures = 0;
  /** Response bytes the socket has not taken yet, oldest first. */
  #outbox: Uint8Array[] = [];
  #outboxBytes = 0;
  /** Resolved when the outbox has drained below MAX_UNSENT_BYTES (or the connection closed). */
  #writable: (() => void) | null = null;
  #paused = false;
  /** When the incomplete frame now arriving began (0: none, or waiting for budget). */
  #frameStartedAt = 0;

  constructor(socket: Socket<Connection>, context: ServerContext) {
    this.#socket = socket;
    this.#context = context;
    this.#authenticated = context.auth === "";
    this.#parser = new FrameParser(
      context.maxPacketBytes,
      (body) => this.#requests.push(decoder.decode(body)),
      context.budget,
    );
  }

  get peer(): string {
    return this.#socket.remoteAddress;
  }

  onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.#parser.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      log.warn(`closing ${this.peer}: ${error.message}`);
      this.#close();
      return;
    }
    if (this.#parser.stalled) this.#context.budget.wait(this.#retryBudget);
    this.#afterInput();
  }

  /** Called by the budget when room may have been freed. */
  readonly #retryBudget = (): void => {
    if (this.#closed) return;
    if (this.#parser.resume()) this.#afterInput();
    else this.#context.budget.wait(this.#retryBudget);
  };

  #afterInput(): void {
    const parser = this.#parser;
    if (!parser.midFrame || parser.stalled) this.#frameStartedAt = 0;
    else if (this.#frameStartedAt === 0) this.#frameStartedAt = performance.now();
    this.#updateReading();
    if (!this.#answering) void this.#answerAll();
  }

  /** Closes the connection if a frame has been arriving for longer than `limitMs`. */
  expireSlowFrame(now: number, limitMs: number): void {
    if (this.#frameStartedAt === 0 || now - this.#frameStartedAt <= limitMs) return;
    log.warn(`closing ${this.peer}: request incomplete after ${limitMs / 1000} s`);
    this.#close();
  }

  /** Reads only while this connection's buffered input and unsent output are within bounds. */
  #updateReading(): void {
    const pause =
      this.#parser.stalled ||
      this.#outboxBytes > MAX_UNSENT_BYTES ||
      this.#requests.length - this.#requestHead >= MAX_QUEUED_REQUESTS;
    if (pause === this.#paused || this.#closed) return;
    this.#paused = pause;
    if (pause) this.#socket.pause();
    else this.#socket.resume();
  }

  onDrain(): void {
    while (this.#outbox.length > 0) {
      const head = this.#outbox[0]!;
      const written = Math.max(0, this.#socket.write(head));
      this.#outboxBytes -= written;
      if (written < head.length) {
        this.#outbox[0] = head.subarray(written);
        if (this.#outboxBytes <= MAX_UNSENT_BYTES) this.#wakeWriter();
        return;
      }
      this.#outbox.shift();
    }
    if (this.#closing) this.#socket.end();
    this.#wakeWriter();
    this.#updateReading();
  }

  #wakeWriter(): void {
    const writable = this.#writable;
    this.#writable = null;
    writable?.();
  }

  onClose(): void {
    if (!this.#closed) {
      this.#parser.dispose();
      this.#context.budget.cancel(this.#retryBudget);
    }
    this.#closed = true;
    this.#wakeWriter();
    this.#session?.end();
    this.#session = null;
    this.#finished?.();
  }

  async #answerAll(): Promise<void> {
    this.#answering = true;
    try {
      while (!this.#closed && !this.#finishing && this.#requestHead < this.#requests.length) {
        const raw = this.#requests[this.#requestHead]!;
        this.#requests[this.#requestHead++] = "";
        if (this.#requestHead === this.#requests.length) {
          this.#requests.length = 0;
          this.#requestHead = 0;
        }
        const response = await this.#answer(raw);
        if (!this.#closed) {
          if (typeof response === "string") this.#send(encodeFrame(response));
          else for (const piece of response) this.#send(piece);
        }
        this.#updateReading();
        // A client that does not read its responses gets no more answers until it does.
        if (this.#outboxBytes > MAX_UNSENT_BYTES) await new Promise<void>((resolve) => (this.#writable = resolve));
      }
    } catch (error) {
      // A Worker that died took this connection's session with it: its transaction and
      // TEMP state are gone, so carrying on silently would be wrong. Close the connection.
      // Any other error is a bug; it too costs this connection only, never the server.
      const what = error instanceof WorkerCrashedError ? error.message : `internal error: ${(error as Error)?.stack ?? error}`;
      log.error(`closing ${this.peer}: ${what}`);
      this.#close();
    } finally {
      this.#answering = false;
      if (this.#finishing) this.#close();
    }
  }

  /**
   * For shutdown: stop taking requests, let the one being answered finish and its response
   * go out, then close. Resolves when the connection is closed.
   */
  finish(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#finishing = true;
    const done = new Promise<void>((resolve) => (this.#finished = resolve));
    if (!this.#answering) this.#close();
    return done;
  }

  /** A response body, or a response already framed, in pieces (rows from a Worker). */
  async #answer(raw: string): Promise<string | Uint8Array[]> {
    const parsed = parseBody(raw);
    // With a password set, an {"auth": ...} message is always an attempt, even beside a cmd.
    const password = parsed.ok && this.#context.auth !== "" ? authPassword(parsed.value) : null;
    if (password !== null) return this.#authenticate(password);
    if (!this.#authenticated) return responses.RESULT_ERROR;
    if (!parsed.ok) return responses.genericError(GenericError.INVALID_FORMAT, raw, parsed.message);
    const command = toCommand(parsed.value, raw);
    if (!command.ok) return responses.genericError(command.code, command.request);
    return this.#run(command.command);
  }

  /** A wrong password is logged, and its reply held back longer after each failure. */
  async #authenticate(password: string): Promise<string> {
    if (passwordMatches(password, this.#context.auth)) {
      this.#authenticated = true;
      return responses.RESULT_OK;
    }
    const failures = ++this.#authFailures;
    log.warn(`failed auth from ${this.peer} (attempt ${failures} on this connection)`);
    await Bun.sleep(authFailureDelayMs(failures));
    return responses.RESULT_ERROR;
  }

  async #run(command: Command): Promise<string | Uint8Array[]> {
    const context = this.#context;
    switch (command.kind) {
      case "list":
        return responses.list(await listDatabases(context.folder));
      case "deleteDb":
        return (await context.deletions.delete(command.db)) ? responses.RESULT_OK : responses.RESULT_ERROR;
      case "query": {
        const session = (this.#session ??= context.pool.openSession());
        let reply = await this.#dispatch(session, command.db, command.sql, false);
        // A reader found it is not read-only after all: it runs on the session's own handle.
        if (reply?.kind === "notReadOnly") reply = await this.#dispatch(session, command.db, command.sql, true);
        return reply ? responses.queryResponse(reply, command.request) : "";
      }
    }
  }

  /**
   * Waits for the statement's turn, then hands it to a Worker once no deletion of its
   * database runs; null if the connection closed meanwhile.
   */
  async #dispatch(session: Session, db: string, sql: string, own: boolean): Promise<WorkerReply | null> {
    using turn = await session.turn(db, sql, own);
    const deletions = this.#context.deletions;
    while (deletions.isRunning(db)) await deletions.finished(db);
    // Closed while waiting: nobody to answer, and dispatching would reopen handles for a
    // session that has ended. The check and the dispatch are one synchronous step.
    if (this.#closed) return null;
    return await turn.run(db, sql);
  }

  /** One write per response (per piece of a large one); what the socket does not take waits for `drain`. */
  #send(frame: Uint8Array): void {
    const written = this.#outbox.length > 0 ? 0 : Math.max(0, this.#socket.write(frame));
    if (written < frame.length) {
      this.#outbox.push(frame.subarray(written));
      this.#outboxBytes += frame.length - written;
    }
  }

  /** Closes once the outbox is empty, so that responses already made are not lost. */
  #close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#outbox.length === 0) this.#socket.end();
    this.onClose();
  }
}
