// CPU time and involuntary context switches from /proc, for the benchmarks: of a process, or
// of each of its threads.

import { readdirSync, readFileSync } from "node:fs";

/** utime + stime of `/proc/…/stat` (a process's or a thread's), in µs. */
export function cpuMicros(statPath: string): number {
  const stat = readFileSync(statPath, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // the name may hold spaces and ")"
  return (Number(fields[11]) + Number(fields[12])) * 10_000; // ticks of 10 ms
}

/** One thread's CPU µs so far, with its name, and how often it was switched out while it could run. */
export type ThreadCpu = { name: string; us: number; switchedOut: number };

/** Each thread of process `pid` (or this one), by thread id. */
export function cpuByThread(pid: number | "self" = "self"): Map<string, ThreadCpu> {
  const threads = new Map<string, ThreadCpu>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const dir = `/proc/${pid}/task/${task}`;
    try {
      const name = readFileSync(`${dir}/comm`, "utf8").trim();
      const switchedOut = Number(readFileSync(`${dir}/status`, "utf8").match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)?.[1] ?? 0);
      threads.set(task, { name, us: cpuMicros(`${dir}/stat`), switchedOut });
    } catch {
      // the thread ended while we looked
    }
  }
  return threads;
}
