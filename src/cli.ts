// The command line, flag for flag as the C++ server's. Parsing never exits the process:
// it returns what main.ts should do (run, or print and exit with a status).

import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError, DEFAULTS, loadConfigFile, type Settings } from "./config";
import { versionText } from "./version";

export type CliOutcome = { kind: "run"; settings: Settings } | { kind: "exit"; status: number; stdout: string; stderr: string };

function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

function buildProgram(): Command {
  return new Command("sqlite3-server")
    .description("Serve a folder of SQLite databases over TCP (length-prefixed JSON).")
    .helpOption("-h, --help", "Show usage and exit")
    .version(versionText(), "-v, --version", "Show git branch + commit and exit")
    .option("-c, --config <path>", "Load settings from a JSON config file (other flags are then ignored)")
    .option("--ip <ip>", "Listen address", DEFAULTS.listenIp)
    .addOption(
      new Option("-p, --port <port>", "Listen port (0: any free port)")
        .default(DEFAULTS.listenPort)
        .argParser(integer(0, 65535)),
    )
    .option("-a, --auth <password>", 'Require clients to authenticate with this password ("": disabled)', DEFAULTS.auth)
    .option("--ip-whitelist <list>", 'Comma-separated IPs/CIDRs allowed to connect ("": allow all)', "")
    .option("-d, --databases-folder <dir>", "Folder holding the database files (must exist)", DEFAULTS.databasesFolder)
    .addOption(
      new Option("-w, --workers <n>", "Statements executed at once; more wait their turn")
        .default(DEFAULTS.workers, "CPU cores")
        .argParser(integer(1, 1024)),
    )
    .addOption(
      new Option("--client-max-packet-size <bytes>", "Max request size; a larger request closes the connection")
        .default(DEFAULTS.clientMaxPacketSize)
        .argParser(integer(1, 2 ** 32 - 1)),
    )
    .addOption(
      new Option("--busy-timeout <ms>", "SQLite busy_timeout: how long a statement waits for a lock")
        .default(DEFAULTS.busyTimeoutMs)
        .argParser(integer(0, 2 ** 31 - 1)),
    )
    .allowExcessArguments(false)
    .exitOverride();
}

export function parseCommandLine(argv: readonly string[]): CliOutcome {
  let stdout = "";
  let stderr = "";
  const program = buildProgram().configureOutput({
    writeOut: (text) => (stdout += text),
    writeErr: (text) => (stderr += text),
    outputError: (text, write) => write(oneLine(text.replace(/^error: /, ""))),
  });
  try {
    program.parse(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { kind: "exit", status: error.exitCode, stdout, stderr };
  }
  const options = program.opts();
  try {
    if (options.config !== undefined) return { kind: "run", settings: loadConfigFile(options.config) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { kind: "exit", status: 1, stdout, stderr: oneLine(error.message) };
  }
  return {
    kind: "run",
    settings: {
      listenIp: options.ip,
      listenPort: options.port,
      databasesFolder: options.databasesFolder,
      workers: options.workers,
      clientMaxPacketSize: options.clientMaxPacketSize,
      busyTimeoutMs: options.busyTimeout,
      auth: options.auth,
      ipWhitelist: splitList(options.ipWhitelist),
    },
  };
}

/** Start-up errors are one line on stderr, prefixed with the program name. */
export function oneLine(message: string): string {
  return `sqlite3-server: ${message.split("\n")[0]}\n`;
}

function splitList(list: string): string[] {
  return list
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}
