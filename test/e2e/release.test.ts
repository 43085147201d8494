// The release executables of `npm run build:release`, cross-compiled from the Bun runtimes on
// the npm registry. What this machine can run, it runs: x64 and baseline natively, arm64
// under Debian's qemu-user-static (with libc6-arm64-cross). The musl build needs a musl
// libstdc++, which Debian does not ship, so for it we check the executable's ELF headers.

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
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

/** The ELF header's machine and the program interpreter (read here, so no binutils needed). */
function elf(file: string): { machine: string; interpreter: string } {
  const bytes = readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect([...bytes.subarray(0, 5)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 2]); // ELF, 64-bit
  const machine = { 62: "X86-64", 183: "AArch64" }[view.getUint16(18, true)] ?? "other";
  const programHeaders = Number(view.getBigUint64(32, true));
  const entrySize = view.getUint16(54, true);
  let interpreter = "";
  for (let i = 0; i < view.getUint16(56, true); i++) {
    const at = programHeaders + i * entrySize;
    if (view.getUint32(at, true) !== 3) continue; // PT_INTERP
    const offset = Number(view.getBigUint64(at + 8, true));
    const size = Number(view.getBigUint64(at + 32, true));
    interpreter = bytes.subarray(offset, offset + size - 1).toString();
  }
  return { machine, interpreter };
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
    expect(elf(dist("sqlite3-server-linux-x64-musl"))).toEqual({ machine: "X86-64", interpreter: "/lib/ld-musl-x86_64.so.1" });
    expect(elf(dist("sqlite3-server-linux-x64"))).toEqual({ machine: "X86-64", interpreter: "/lib64/ld-linux-x86-64.so.2" });
  });
});
