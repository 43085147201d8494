// The command line and config file, against the compiled binary: every start-up error is
// one line on stderr, exit status 1, and nothing listening.

import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, runBinary, startServer, tempFolder } from "./harness";

function expectStartupError(result: { stdout: string; stderr: string; code: number }, mention: string) {
  expect(result.code).toBe(1);
  expect(result.stdout).not.toContain("listening");
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("sqlite3-server: ");
  expect(lines[0]).toContain(mention);
}

const VALID = {
  client_max_packet_size: 16777216,
  workers: 2,
  listen_ip: "127.0.0.1",
  listen_port: 0,
  databases_folder: "",
};

describe("command line", () => {
  test("-h lists every option of the original servers", async () => {
    const { stdout, code } = await runBinary(["-h"]);
    expect(code).toBe(0);
    for (const flag of ["-h, --help", "-v, --version", "-c, --config", "--ip", "-p, --port", "-a, --auth", "--ip-whitelist", "-d, --databases-folder", "-w, --workers", "--client-max-packet-size", "--busy-timeout"]) {
      expect(stdout).toContain(flag);
    }
  });

  test("-v prints the branch and commit the binary was built from", async () => {
    const { stdout, code } = await runBinary(["-v"]);
    expect(code).toBe(0);
    const head = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: import.meta.dir }).stdout.toString().trim();
    expect(stdout).toMatch(/^sqlite3-server \S+ \(branch \S+, commit [0-9a-f]{40}\)\n$/);
    // Built from this checkout (possibly with uncommitted changes, so HEAD is the closest check).
    if (head) expect(stdout).toContain(head);
  });

  for (const [args, mention] of [
    [["--port", "x"], "--port"],
    [["--port", "70000"], "--port"],
    [["--workers", "0"], "--workers"],
    [["--bogus"], "--bogus"],
    [["stray"], "argument"],
    [["-d", "/nonexistent/folder"], "/nonexistent/folder"],
  ] as const) {
    test(`bad flags: ${args.join(" ")}`, async () => {
      expectStartupError(await runBinary(["--port", "0", ...args]), mention);
    });
  }

  test("a port already in use is a one-line error", async () => {
    using folder = tempFolder();
    await using first = await startServer([], { folder });
    expectStartupError(await runBinary(["--port", String(first.port), "-d", folder]), String(first.port));
  });
});

describe("config file", () => {
  test("a valid config file is used, and other flags are ignored", async () => {
    using folder = tempFolder();
    const path = join(folder, "config.json");
    mkdirSync(join(folder, "data"));
    writeFileSync(path, JSON.stringify({ ...VALID, databases_folder: join(folder, "data"), busy_timeout_ms: 1234 }));
    await using server = await startServer(["--config", path, "--busy-timeout", "99", "-d", "/nonexistent"]);
    await using client = await connect(server.port);
    expect(await client.request('{"cmd":"QUERY","db":"c.db","query":"PRAGMA busy_timeout"}')).toBe(
      '{"columns":["timeout"],"data":[{"timeout":1234}]}',
    );
  });

  const cases: [string, string | object, string][] = [
    ["a missing required key", { ...VALID, workers: undefined }, '"workers"'],
    ["a wrong type", { ...VALID, listen_port: "3333" }, '"listen_port"'],
    ["a negative worker count", { ...VALID, workers: -1 }, '"workers"'],
    ["a wrong optional type", { ...VALID, ip_whitelist: "127.0.0.1" }, '"ip_whitelist"'],
    ["text that is not JSON", "{ workers: 2 ", "not valid JSON"],
    ["a missing databases folder", { ...VALID, databases_folder: "/nonexistent/folder" }, "/nonexistent/folder"],
  ];
  for (const [name, content, mention] of cases) {
    test(`refuses ${name}`, async () => {
      using folder = tempFolder();
      const path = join(folder, "config.json");
      const config = typeof content === "string" ? content : JSON.stringify({ databases_folder: folder, ...content });
      writeFileSync(path, config.replace('"databases_folder":""', `"databases_folder":${JSON.stringify(folder)}`));
      expectStartupError(await runBinary(["--config", path]), mention);
    });
  }

  test("refuses a config file that does not exist", async () => {
    expectStartupError(await runBinary(["-c", "/nonexistent/config.json"]), "/nonexistent/config.json");
  });
});

describe("the binary stands alone", () => {
  test("runs from another directory, ignoring a bunfig.toml and .env there", async () => {
    using folder = tempFolder();
    mkdirSync(join(folder, "sqlite"));
    writeFileSync(join(folder, "bunfig.toml"), 'preload = ["./nope.ts"]\n');
    writeFileSync(join(folder, ".env"), "NODE_OPTIONS=--bogus\n");
    writeFileSync(join(folder, "package.json"), "{ not json");
    const { stdout, code } = await runBinary(["-v"], { cwd: folder });
    expect(code).toBe(0);
    expect(stdout).toStartWith("sqlite3-server ");
  });
});
