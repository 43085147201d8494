// `npm run build:release`: cross-compiles the release executables into dist/. The Bun
// runtime for each target comes from the npm registry (@oven/bun-linux-*), at the version of
// the Bun that builds, so nothing is downloaded from anywhere else.

import { $ } from "bun";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { compile } from "./build";

const root = join(import.meta.dir, "..");

export const RELEASES = [
  { file: "sqlite3-server-linux-x64", target: "bun-linux-x64", runtime: "@oven/bun-linux-x64" },
  { file: "sqlite3-server-linux-x64-baseline", target: "bun-linux-x64-baseline", runtime: "@oven/bun-linux-x64-baseline" },
  { file: "sqlite3-server-linux-arm64", target: "bun-linux-arm64", runtime: "@oven/bun-linux-aarch64" },
  { file: "sqlite3-server-linux-x64-musl", target: "bun-linux-x64-musl", runtime: "@oven/bun-linux-x64-musl" },
] as const;

/** The `bun` executable of `pkg@version`, fetched once with `npm pack` into a cache folder. */
async function runtime(pkg: string, version: string): Promise<string> {
  const cache = join(root, "node_modules", ".cache", "bun-runtimes", `${pkg.replace("/", "+")}@${version}`);
  const bun = join(cache, "package", "bin", "bun");
  if (existsSync(bun)) return bun;
  mkdirSync(cache, { recursive: true });
  const packed = await $`npm pack ${`${pkg}@${version}`} --silent --pack-destination ${cache}`.cwd(cache).text();
  await $`tar -xzf ${packed.trim().split("\n").at(-1)!} -C ${cache}`.cwd(cache);
  if (!existsSync(bun)) throw new Error(`${pkg}@${version} has no bin/bun`);
  return bun;
}

if (import.meta.main) {
  const version = Bun.version;
  for (const release of RELEASES) {
    const executablePath = await runtime(release.runtime, version);
    await compile(join(root, "dist", release.file), { target: release.target, executablePath });
  }
}
