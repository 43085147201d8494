// The systemd unit in deploy/ must pass `systemd-analyze verify` (with ExecStart pointed at
// the binary built here, since verify checks that the executable exists).

import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, tempFolder } from "./harness";

const UNIT = join(import.meta.dir, "..", "..", "deploy", "sqlite3-server.service");
const analyze = Bun.which("systemd-analyze");

test("the unit runs the binary from /usr/local/bin, as docs/deploy.md installs it", () => {
  const unit = readFileSync(UNIT, "utf8");
  expect(unit).toMatch(/^Type=simple$/m);
  expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/sqlite3-server /m);
  expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/sqlite-server$/m);
});

test.skipIf(!analyze)("systemd-analyze verify passes", () => {
  using folder = tempFolder();
  const copy = join(folder, "sqlite3-server.service");
  writeFileSync(copy, readFileSync(UNIT, "utf8").replaceAll("/usr/local/bin/sqlite3-server", BINARY));
  const result = Bun.spawnSync([analyze!, "verify", copy], { stderr: "pipe", stdout: "pipe" });
  expect(result.stderr.toString() + result.stdout.toString()).toBe("");
  expect(result.exitCode).toBe(0);
});
