// Settings, from command-line flags or from a JSON config file with the C++ server's keys.
// Every problem is a ConfigError whose message is one line naming it.

import { existsSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import * as v from "valibot";

export interface Settings {
  listenIp: string;
  listenPort: number;
  databasesFolder: string;
  workers: number;
  clientMaxPacketSize: number;
  busyTimeoutMs: number;
  auth: string;
  ipWhitelist: string[];
}

export class ConfigError extends Error {
  readonly code = "CONFIG";
}

export const DEFAULTS: Settings = {
  listenIp: "localhost",
  listenPort: 3333,
  databasesFolder: "sqlite",
  workers: availableParallelism(),
  clientMaxPacketSize: 16 * 1024 * 1024,
  busyTimeoutMs: 5000,
  auth: "",
  ipWhitelist: [],
};

const Port = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const Count = v.pipe(v.number(), v.integer(), v.minValue(1));
const Millis = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31 - 1));

/** The config file's keys, exactly as the C++ server reads them. Unknown keys are ignored. */
const ConfigFile = v.object({
  client_max_packet_size: v.pipe(Count, v.maxValue(2 ** 32 - 1)),
  workers: Count,
  listen_ip: v.pipe(v.string(), v.nonEmpty()),
  listen_port: Port,
  databases_folder: v.pipe(v.string(), v.nonEmpty()),
  busy_timeout_ms: v.optional(Millis, DEFAULTS.busyTimeoutMs),
  auth: v.optional(v.string(), DEFAULTS.auth),
  ip_whitelist: v.optional(v.array(v.string()), DEFAULTS.ipWhitelist),
});

export function loadConfigFile(path: string): Settings {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read config file ${path}: ${code === "ENOENT" ? "no such file" : (code ?? error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const result = v.safeParse(ConfigFile, json);
  if (!result.success) {
    const issue = result.issues[0];
    const key = issue.path?.map((item) => String(item.key)).join(".");
    const what = !key ? issue.message : issue.input === undefined ? `missing required key "${key}"` : `"${key}": ${issue.message}`;
    throw new ConfigError(`config file ${path}: ${what}`);
  }
  const file = result.output;
  return {
    listenIp: file.listen_ip,
    listenPort: file.listen_port,
    databasesFolder: file.databases_folder,
    workers: file.workers,
    clientMaxPacketSize: file.client_max_packet_size,
    busyTimeoutMs: file.busy_timeout_ms,
    auth: file.auth,
    ipWhitelist: file.ip_whitelist,
  };
}

/** The databases folder must exist already; the server never creates it. */
export function checkDatabasesFolder(folder: string): void {
  if (!existsSync(folder)) throw new ConfigError(`databases folder ${folder} does not exist`);
  if (!statSync(folder).isDirectory()) throw new ConfigError(`databases folder ${folder} is not a directory`);
}
