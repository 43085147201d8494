// Compiles dist/sqlite3-server: one executable holding the server and its database Worker
// (an extra entrypoint, so the Worker is found inside the binary), with the git branch and
// commit baked in for --version. The binary never reads a bunfig.toml or .env where it runs.

import { $ } from "bun";
import { join } from "node:path";

const root = join(import.meta.dir, "..");

async function git(...args: string[]): Promise<string> {
  const result = await $`git ${args}`.cwd(root).nothrow().quiet();
  return result.exitCode === 0 ? result.stdout.toString().trim() : "unknown";
}

/** Builds one executable; `target` cross-compiles, with the Bun runtime at `executablePath`. */
export async function compile(outfile: string, options: { target?: string; executablePath?: string } = {}): Promise<void> {
  const pkg = await Bun.file(join(root, "package.json")).json();
  const define = {
    BUILD_VERSION: JSON.stringify(pkg.version),
    BUILD_GIT_BRANCH: JSON.stringify(await git("rev-parse", "--abbrev-ref", "HEAD")),
    BUILD_GIT_COMMIT: JSON.stringify(await git("rev-parse", "HEAD")),
  };
  const args = [
    "build",
    "--compile",
    "--minify-syntax",
    "--minify-whitespace",
    "--no-compile-autoload-bunfig",
    "--no-compile-autoload-dotenv",
    ...Object.entries(define).map(([name, value]) => `--define=${name}=${value}`),
    ...(options.target ? [`--target=${options.target}`] : []),
    ...(options.executablePath ? [`--compile-executable-path=${options.executablePath}`] : []),
    `--outfile=${outfile}`,
    "src/main.ts",
    "src/worker.ts",
  ];
  // Bun's progress lines go to stderr, so that the stdout of a script that builds first (the
  // bench's tables) is only its own.
  const build = Bun.spawnSync([process.execPath, ...args], { cwd: root, stdout: 2, stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error(`bun build failed for ${outfile}`);
}

if (import.meta.main) {
  await compile(join(root, "dist", "sqlite3-server"));
}
