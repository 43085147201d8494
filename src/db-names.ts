// Which `db` values name a database file directly inside the databases folder. This is the
// part of the rule that needs no file system; `folder.ts` adds the symlink check.

/** Suffixes SQLite gives a database's sidecar files. */
export const SIDECAR_SUFFIXES = ["-wal", "-shm", "-journal"] as const;

/**
 * One non-empty path component: no `/`, no NUL, not `.` or `..`. We also refuse sidecar
 * names ("x.db-wal"): opening one as a database would corrupt the database it belongs to.
 */
export function isSafeDbName(name: string): boolean {
  return (
    name.length > 0 &&
    name !== "." &&
    name !== ".." &&
    !name.includes("/") &&
    !name.includes("\0") &&
    !isSidecarName(name)
  );
}

export function isSidecarName(name: string): boolean {
  return SIDECAR_SUFFIXES.some((suffix) => name.endsWith(suffix));
}
