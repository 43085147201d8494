// The process boundary: arguments in, exit status out, signals. Nothing else in src/ touches
// process.argv, process.exit or signal handlers.

import { realpathSync } from "node:fs";
import { AllowList } from "./access";
import { oneLine, parseCommandLine } from "./cli";
import { checkDatabasesFolder, ConfigError, type Settings } from "./config";
import { log } from "./log";
import { startServer, type RunningServer } from "./server";
import { versionText } from "./version";

// A compiled binary finds the Worker by this path because scripts/build.ts passes it as an
// extra entrypoint; run from source, it resolves next to this file.
const createWorker = () => new Worker(new URL("./worker.ts", import.meta.url).href);

function fail(message: string): never {
  process.stderr.write(oneLine(message));
  process.exit(1);
}

function displayHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function start(settings: Settings): RunningServer {
  let allowList: AllowList;
  try {
    checkDatabasesFolder(settings.databasesFolder);
    allowList = new AllowList(settings.ipWhitelist);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const folder = realpathSync(settings.databasesFolder);
  // "localhost" would let the resolver pick ::1 or 127.0.0.1; clients and the originals use 127.0.0.1.
  const listenIp = settings.listenIp === "localhost" ? "127.0.0.1" : settings.listenIp;
  try {
    return startServer({ ...settings, listenIp }, folder, allowList, createWorker);
  } catch (error) {
    fail(`cannot listen on ${displayHost(listenIp)}:${settings.listenPort}: ${(error as Error).message}`);
  }
}

const outcome = parseCommandLine(process.argv.slice(2));
if (outcome.kind === "exit") {
  process.stdout.write(outcome.stdout);
  process.stderr.write(outcome.stderr);
  process.exit(outcome.status);
}
const server = start(outcome.settings);
const { settings } = outcome;
log.info(
  `${versionText()} serving ${realpathSync(settings.databasesFolder)}: workers=${settings.workers} ` +
    `busy_timeout_ms=${settings.busyTimeoutMs} client_max_packet_size=${settings.clientMaxPacketSize} ` +
    `auth=${settings.auth === "" ? "off" : "on"} ip_whitelist=${settings.ipWhitelist.join(",") || "off"}`,
);
// Last, so that whoever waits for it has seen the settings line too. Tests and service
// managers wait for this exact line, so it has no timestamp prefix.
process.stdout.write(`sqlite-server listening on ${displayHost(server.hostname)}:${server.port}\n`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    log.warn(`${signal} again: exiting at once`);
    process.exit(1);
  }
  stopping = true;
  log.info(`${signal}: shutting down`);
  await server.stop();
  log.info("stopped");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
