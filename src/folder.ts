// The databases folder on disk: where a safe name resolves, what LIST shows, and removing a
// database with its sidecars. `folder` is always the folder's real path (symlinks resolved).

import { lstatSync, realpathSync } from "node:fs";
import { readdir, stat, unlink } from "node:fs/promises";
import { join, dirname } from "node:path";
import { isSafeDbName, isSidecarName, SIDECAR_SUFFIXES } from "./db-names";
import { compareUtf8 } from "./json-encoder";

/**
 * The path of database `name`, or null if the name is unsafe: it must be a plain name and,
 * if something by that name exists (a symlink too, even a dangling one), it must resolve
 * to a direct child of the folder, so that no symlink leads a statement outside it.
 */
export function resolveDbPath(folder: string, name: string): string | null {
  if (!isSafeDbName(name)) return null;
  const path = join(folder, name);
  try {
    lstatSync(path);
  } catch {
    return path; // not there yet: SQLite creates it inside the folder
  }
  try {
    return dirname(realpathSync(path)) === folder ? path : null;
  } catch {
    return null; // a dangling symlink
  }
}

/** Regular files (or symlinks to them), without sidecars, in UTF-8 byte order. */
export async function listDatabases(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const names: string[] = [];
  for (const entry of entries) {
    if (isSidecarName(entry.name)) continue;
    if (entry.isFile()) names.push(entry.name);
    else if (entry.isSymbolicLink() && (await isRegularFile(join(folder, entry.name)))) names.push(entry.name);
  }
  return names.sort(compareUtf8);
}

async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Removes the database file and its sidecars; true if the database file itself was removed. */
export async function removeDatabaseFiles(folder: string, name: string): Promise<boolean> {
  const path = resolveDbPath(folder, name);
  if (path === null) return false;
  const removed = await unlink(path).then(
    () => true,
    () => false,
  );
  await Promise.all(SIDECAR_SUFFIXES.map((suffix) => unlink(path + suffix).catch(() => {})));
  return removed;
}
