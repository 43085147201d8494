import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSafeDbName } from "../../src/db-names";
import { listDatabases, resolveDbPath } from "../../src/folder";

describe("isSafeDbName", () => {
  test("plain names are safe", () => {
    for (const name of ["a.db", "mydb", "with space", "é☃", "..x", "x..", ".hidden", "a\\b"]) expect(isSafeDbName(name)).toBe(true);
  });
  test("empty, dot names, separators, NUL and sidecar names are not", () => {
    for (const name of ["", ".", "..", "a/b", "/etc/passwd", "../x", "a\0b", "x.db-wal", "x.db-shm", "x.db-journal"]) {
      expect(isSafeDbName(name)).toBe(false);
    }
  });
});

describe("the databases folder", () => {
  test("symlinks resolve only to direct children of the folder", async () => {
    const base = mkdtempSync(join(tmpdir(), "db-names-"));
    try {
      const folder = join(base, "data");
      mkdirSync(folder);
      mkdirSync(join(folder, "sub"));
      writeFileSync(join(folder, "real.db"), "");
      writeFileSync(join(folder, "real.db-wal"), "");
      writeFileSync(join(folder, "sub", "deep.db"), "");
      writeFileSync(join(base, "outside.db"), "");
      symlinkSync(join(folder, "real.db"), join(folder, "inside-link"));
      symlinkSync(join(base, "outside.db"), join(folder, "outside-link"));
      symlinkSync(join(folder, "sub", "deep.db"), join(folder, "deep-link"));
      symlinkSync(join(base, "missing.db"), join(folder, "dangling"));
      const real = realpathSync(folder);
      expect(resolveDbPath(real, "real.db")).toBe(join(real, "real.db"));
      expect(resolveDbPath(real, "new.db")).toBe(join(real, "new.db"));
      expect(resolveDbPath(real, "inside-link")).toBe(join(real, "inside-link"));
      expect(resolveDbPath(real, "outside-link")).toBeNull();
      expect(resolveDbPath(real, "deep-link")).toBeNull();
      expect(resolveDbPath(real, "dangling")).toBeNull();
      expect(resolveDbPath(real, "..")).toBeNull();
      // LIST: regular files and links to them, no sidecars, no directories, sorted
      expect(await listDatabases(real)).toEqual(["deep-link", "inside-link", "outside-link", "real.db"]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
