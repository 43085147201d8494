// `bun scripts/micro-bench.ts`: the costs docs/performance.md quotes, each measured alone on
// one thread (no sockets, no load generator): what a Worker spends on a point query, a
// 1,000-row SELECT and an INSERT, what the main thread's own code costs per request
// (scripts/bench/main-path.ts), and what a Worker round trip costs at a given depth of
// queued messages. Absolute µs, so only comparable on one machine.

import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sessions } from "../src/sessions";
import { rowsMessage } from "../src/messages";
import { prepareDatabase, ROWS } from "./bench/bench-db";
import { cpuByThread } from "./bench/cpu-time";
import { mainThreadMicros } from "./bench/main-path";

const folder = mkdtempSync(join(tmpdir(), "sqlite3-server-micro-"));
prepareDatabase(folder);

/** Mean µs per call of `run(i)` over `n` calls, after `n / 10` calls of warm-up. */
function perCall(n: number, run: (i: number) => void): number {
  for (let i = 0; i < n / 10; i++) run(i);
  const started = performance.now();
  for (let i = 0; i < n; i++) run(i);
  return ((performance.now() - started) * 1000) / n;
}

const someId = (i: number) => ((i * 7919) % ROWS) + 1;
const sessions = new Sessions(folder, 5000);
const point = perCall(50_000, (i) => {
  const reply = sessions.shared("bench.db", `SELECT * FROM kv WHERE id = ${someId(i)}`, null);
  if (reply.kind === "rowsUtf8") rowsMessage(reply.pieces, false, null);
});
const bare = new Database(join(folder, "bench.db"), { safeIntegers: true });
const barePoint = perCall(50_000, (i) => {
  const statement = bare.prepare(`SELECT * FROM kv WHERE id = ${someId(i)}`);
  statement.values();
  statement.finalize();
});
const scan = perCall(300, (i) => void sessions.shared("bench.db", `SELECT * FROM kv WHERE id > ${someId(i) % 99_000} LIMIT 1000`, null));
const bareScan = perCall(300, (i) => {
  const statement = bare.prepare(`SELECT * FROM kv WHERE id > ${someId(i) % 99_000} LIMIT 1000`);
  for (const _ of statement.iterate());
  statement.finalize();
});
const insert = perCall(20_000, (i) => void sessions.query(7, "bench.db", `INSERT INTO log(v) VALUES (${i})`));
// As readers run writes: two sessions taking turns, so the handle's counters are set before each.
const counters = ["0,0,0", "0,0,0"];
const sharedInsert = perCall(20_000, (i) => {
  const reply = sessions.shared("bench.db", `INSERT INTO log(v) VALUES (${i})`, { counters: counters[i % 2]!, since: Date.now() });
  if (reply.kind === "rowsUtf8" && reply.counters !== null) counters[i % 2] = reply.counters;
});
sessions.closeAll();
bare.close();
rmSync(folder, { recursive: true, force: true });

/** Round trips to a Worker that always has `depth` messages queued. */
async function roundTrips(depth: number, count = 100_000) {
  const worker = new Worker(new URL("./bench/echo-worker.ts", import.meta.url).href);
  const message = "R12\0bench.db\0SELECT * FROM kv WHERE id = 4242";
  await new Promise<void>((ready) => ((worker.onmessage = () => ready()), worker.postMessage(message)));
  const before = cpuByThread();
  const started = performance.now();
  await new Promise<void>((done) => {
    let sent = 0;
    let answered = 0;
    worker.onmessage = () => {
      if (++answered === count) done();
      else if (sent < count) (worker.postMessage(message), sent++);
    };
    for (; sent < depth; sent++) worker.postMessage(message);
  });
  const us = ((performance.now() - started) * 1000) / count;
  const after = cpuByThread();
  worker.terminate();
  // Threads that ended meanwhile (an earlier Worker) are left out; new ones count from zero.
  const spent = (which: (tid: string, name: string) => boolean) => {
    let us = 0;
    for (const [tid, { name, us: now }] of after) if (which(tid, name)) us += now - (before.get(tid)?.us ?? 0);
    return us / count;
  };
  const main = String(process.pid);
  return { us, mainCpu: spent((tid) => tid === main), workerCpu: spent((tid, name) => tid !== main && name === "Worker") };
}

console.log(`| measurement | µs |\n|---|---|`);
console.log(`| point SELECT through Sessions.query (as a reader runs it) | ${point.toFixed(1)} |`);
console.log(`| the same with bun:sqlite alone (prepare, values, finalize) | ${barePoint.toFixed(1)} |`);
console.log(`| 1,000-row SELECT of kv through Sessions.query | ${scan.toFixed(0)} |`);
console.log(`| the same with bun:sqlite alone (iterate) | ${bareScan.toFixed(0)} |`);
console.log(`| INSERT through Sessions.query (own session, WAL, synchronous=NORMAL) | ${insert.toFixed(1)} |`);
console.log(`| INSERT through Sessions.shared (two sessions' counters in turn) | ${sharedInsert.toFixed(1)} |`);
for (const [conns, statements] of [[1, "reads"], [16, "reads"], [8, "writes"]] as const) {
  await mainThreadMicros(conns, 50_000, statements); // warm-up
  const micros = await mainThreadMicros(conns, 300_000, statements);
  console.log(`| main thread's own code per request, ${statements} from ${conns} connection${conns > 1 ? "s" : ""} (sockets and Workers faked) | ${micros.toFixed(1)} |`);
}
for (const depth of [1, 4, 16]) {
  const trip = await roundTrips(depth);
  console.log(`| Worker message at depth ${depth}: wall / main thread CPU / Worker CPU | ${trip.us.toFixed(1)} / ${trip.mainCpu.toFixed(1)} / ${trip.workerCpu.toFixed(1)} |`);
}
process.exit(0);
