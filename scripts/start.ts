// `npm start`: builds dist/sqlite3-server if it is missing or older than the sources, creates
// ./data, and serves it on 127.0.0.1:3333 in the foreground (Ctrl-C stops it cleanly).

import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { compile } from "./build";

const root = join(import.meta.dir, "..");
const binary = join(root, "dist", "sqlite3-server");

function newestSource(): number {
  const files = readdirSync(join(root, "src")).map((name) => join(root, "src", name));
  return Math.max(...[...files, join(root, "package.json")].map((path) => statSync(path).mtimeMs));
}

if (!existsSync(binary) || statSync(binary).mtimeMs < newestSource()) await compile(binary);
const data = join(root, "data");
mkdirSync(data, { recursive: true });

const server = Bun.spawn([binary, "--ip", "127.0.0.1", "--port", "3333", "--databases-folder", data, ...process.argv.slice(2)], {
  stdio: ["inherit", "inherit", "inherit"],
});
// Ctrl-C (and `timeout`, npm, ...) signal the whole process group, so the server gets the
// signal itself; forwarding it would be a second signal, which means "exit at once".
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => {});
process.exitCode = await server.exited;
