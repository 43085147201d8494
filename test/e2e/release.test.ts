// The release executables of `npm run build:release`, cross-compiled from the Bun runtimes on
// the npm registry. What this machine can run, it runs: x64 and baseline natively, arm64
// under Debian's qemu-user-static (with libc6-arm64-cross). The musl build needs a musl
// libstdc++, which Debian does not ship, so for it we check the executable's ELF headers.

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect, query, runBinary, startServer } from "./harness";

const root = join(import.meta.dir, "..", "..");
const dist = (file: string) => join(root, "dist", file);
const QEMU = "/usr/bin/qemu-aarch64-static";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const canEmulateArm64 = existsSync(QEMU) && existsSync(ARM64_SYSROOT);
const head = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: root }).stdout.toString().trim();

beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, join(root, "scripts", "build-release.ts")], { cwd: root, stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build:release failed:\n${build.stderr}`);
}, 300_000);

function elf(file: string): { machine: string; interpreter: string; needed: string[] } {
  const out = Bun.spawnSync(["readelf", "-h", "-l", "-d", file]).stdout.toString();
  return {
    machine: out.match(/Machine:\s+(.+)/)?.[1]?.trim() ?? "",
    interpreter: out.match(/Requesting program interpreter: ([^\]]+)\]/)?.[1] ?? "",
    needed: [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!),
  };
}

async function servesAQuery(command: string[]) {
  await using server = await startServer([], { command });
  await using client = await connect(server.port);
  expect(await client.request(query("release.db", "SELECT 1.5 AS r, 9223372036854775807 AS i"))).toBe(
    '{"columns":["r","i"],"data":[{"i":9223372036854775807,"r":1.5}]}',
  );
}

describe("release executables", () => {
  for (const file of ["sqlite3-server-linux-x64", "sqlite3-server-linux-x64-baseline"]) {
    test(`${file} runs --version and serves`, async () => {
      expect(elf(dist(file)).machine).toContain("X86-64");
      const { stdout, code } = await runBinary(["--version"], { command: [dist(file)] });
      expect(code).toBe(0);
      expect(stdout).toContain(`commit ${head}`);
      await servesAQuery([dist(file)]);
    });
  }

  test("sqlite3-server-linux-arm64 is an AArch64 executable", () => {
    expect(elf(dist("sqlite3-server-linux-arm64"))).toMatchObject({ machine: "AArch64", interpreter: "/lib/ld-linux-aarch64.so.1" });
  });

  test.skipIf(!canEmulateArm64)("sqlite3-server-linux-arm64 runs --version and serves under qemu", async () => {
    const command = [QEMU, "-L", ARM64_SYSROOT, dist("sqlite3-server-linux-arm64")];
    const { stdout, code } = await runBinary(["--version"], { command });
    expect(code).toBe(0);
    expect(stdout).toContain(`commit ${head}`);
    await servesAQuery(command);
  }, 30_000);

  test("sqlite3-server-linux-x64-musl is an x86-64 executable for musl libc", () => {
    const info = elf(dist("sqlite3-server-linux-x64-musl"));
    expect(info.machine).toContain("X86-64");
    expect(info.interpreter).toBe("/lib/ld-musl-x86_64.so.1");
    expect(info.needed).toContain("libc.musl-x86_64.so.1");
    expect(info.needed.some((lib) => lib.startsWith("libc.so"))).toBe(false);
  });
});
