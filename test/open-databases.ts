// Which database files a process holds open: what the tests of the readers' handle cap observe.

import { readdirSync, readlinkSync } from "node:fs";
import { basename, dirname } from "node:path";

/** The `.db` files directly in `folder` (a real path) that process `pid` has a descriptor on, sorted. */
export function openDatabases(pid: number | "self", folder: string): string[] {
  const names = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed since it was listed
    }
    if (dirname(target) === folder && target.endsWith(".db")) names.add(basename(target));
  }
  return [...names].sort();
}
