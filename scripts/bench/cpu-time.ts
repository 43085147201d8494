// CPU time from /proc, for the benchmarks: of a process, or of one of its threads.

import { readFileSync } from "node:fs";

/** utime + stime of `/proc/…/stat` (a process's or a thread's), in µs. */
export function cpuMicros(statPath: string): number {
  const stat = readFileSync(statPath, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // the name may hold spaces and ")"
  return (Number(fields[11]) + Number(fields[12])) * 10_000; // ticks of 10 ms
}
