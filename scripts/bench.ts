// `npm run bench [-- --seconds 3 --rounds 3 --target name=host:port ...]`
//
// Builds the binary and the C load tools (scripts/bench/, with gcc -O2), prepares bench.db as
// ../shared/bench/README.md describes, starts sqlite3-server with --workers 2 and the echo
// floor, and drives every scenario against each in turn, --rounds times (and against any
// --target, e.g. the C++ or Rust server you run today, serving a folder with the same
// bench.db); a scenario's figures are those of its round with the median ratio. Then measures memory
// and how a large SELECT scales. Prints Markdown tables; --json writes the raw figures too.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compile } from "./build";
import { encodeFrame, FrameParser } from "../src/frame-parser";
import { IDLE_SWEEP_MS, SHARED_HANDLE_IDLE_MS } from "../src/sessions";
import { prepareDatabase, prepareSmallDatabases, ROWS } from "./bench/bench-db";
import { cpuByThread, cpuMicros, type ThreadCpu } from "./bench/cpu-time";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    target: { type: "string", multiple: true, default: [] },
    json: { type: "string" },
    only: { type: "string" },
  },
});
const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
/**
 * Each scenario runs this many times against the floor and then the server, and reports the
 * round with the median ratio: at one connection, one run of the floor or the server alone
 * can be 1.5x faster or slower than the next (thread placement on the VM's cores), and a
 * single pair turned that into the ratio.
 */
const ROUNDS = Number(values.rounds);
/** `--only`: scenarios and memory parts (memory, with_state_64, databases, scaling) by name; all if omitted. */
const ONLY = values.only ? new Set(values.only.split(",")) : null;
const wanted = (part: string) => ONLY === null || ONLY.has(part);

/** A QUERY of bench.db (the SQL holds no character JSON would escape). */
const onBenchDb = (sql: string) => `{"cmd":"QUERY","db":"bench.db","query":"${sql}"}`;
const point = (id = "%ID%") => onBenchDb(`SELECT * FROM kv WHERE id = ${id}`);
/**
 * The issue's targets: a ratio to the floor's req/s in the same run, or MB/s of responses.
 * `scan1k_4c` is the one given in MB/s.
 */
type Target = { ratio: number } | { mbPerS: number };
const SCENARIOS: { name: string; conns: number; templates: string[]; target: Target }[] = [
  { name: "ping_1c", conns: 1, templates: [onBenchDb("SELECT 1")], target: { ratio: 0.7 } },
  { name: "point_1c", conns: 1, templates: [point()], target: { ratio: 0.6 } },
  { name: "point_16c", conns: 16, templates: [point()], target: { ratio: 0.42 } },
  { name: "point_64c", conns: 64, templates: [point()], target: { ratio: 0.47 } },
  { name: "insert_8c", conns: 8, templates: [onBenchDb("INSERT INTO log(v) VALUES (%ID%)")], target: { ratio: 0.34 } },
  {
    name: "mixed_16c",
    conns: 16,
    templates: [...Array(9).fill(point()), onBenchDb("UPDATE kv SET n = n + 1 WHERE id = %ID%")],
    target: { ratio: 0.39 },
  },
  { name: "scan1k_4c", conns: 4, templates: [onBenchDb("SELECT * FROM kv WHERE id > %ID% LIMIT 1000")], target: { mbPerS: 120 } },
];

function gcc(source: string, out: string): string {
  const result = Bun.spawnSync(["gcc", "-O2", "-o", out, join(import.meta.dir, "bench", source)], { stderr: "inherit" });
  if (result.exitCode !== 0) throw new Error(`gcc failed for ${source}`);
  return out;
}

/** Starts a process and waits for its "listening on host:port" line. */
async function listen(argv: string[]): Promise<{ proc: ReturnType<typeof Bun.spawn>; port: number }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${argv[0]} exited before listening:\n${text}`);
    text += new TextDecoder().decode(value);
    const port = text.match(/listening on .+:(\d+)/)?.[1];
    if (port) {
      void (async () => {
        while (!(await reader.read()).done) {} // keep the pipe drained
      })();
      return { proc, port: Number(port) };
    }
  }
}

function rss(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m)![1]) * 1024;
}

/**
 * Where the CPU went, per response, over the loadgen's measured seconds: the server process,
 * its main thread, its busiest other thread (a reader, at load), how often its main thread
 * was switched out while it could run, and the loadgen itself (which shares the cores).
 */
type CpuPerRequest = {
  cpu_us_per_req: number;
  main_thread_us_per_req: number;
  busiest_other_thread_us_per_req: number;
  main_switched_out_per_req: number;
  loadgen_us_per_req: number;
};

type Load = { rps: number; p50_us: number; p99_us: number; p999_us: number; max_us: number; responses: number; errors: number; mb_in_per_s: number; cpu_us_per_req: number };

/** The server's CPU so far, in all and by thread (a /proc reading). */
type ServerSample = { process: number; threads: Map<string, ThreadCpu> };
const sampleServer = (pid: number): ServerSample => ({ process: cpuMicros(`/proc/${pid}/stat`), threads: cpuByThread(pid) });

function cpuPerRequest(pid: number, warm: ServerSample, end: ServerSample, load: Load): CpuPerRequest {
  const responses = Math.max(load.responses, 1);
  // Threads that ended meanwhile are left out; new ones count from zero.
  const delta = (tid: string, field: "us" | "switchedOut") => end.threads.get(tid)![field] - (warm.threads.get(tid)?.[field] ?? 0);
  const main = String(pid);
  const others = [...end.threads.keys()].filter((tid) => tid !== main).map((tid) => delta(tid, "us"));
  return {
    cpu_us_per_req: (end.process - warm.process) / responses,
    main_thread_us_per_req: delta(main, "us") / responses,
    busiest_other_thread_us_per_req: Math.max(0, ...others) / responses,
    main_switched_out_per_req: delta(main, "switchedOut") / responses,
    loadgen_us_per_req: load.cpu_us_per_req,
  };
}

/** Runs one scenario's load against host:port; with the server's `pid`, also its memory and CPU. */
async function drive(loadgen: string, host: string, port: number, scenario: (typeof SCENARIOS)[number], pid?: number) {
  const args = [loadgen, "--host", host, "--port", String(port), "--conns", String(scenario.conns), "--seconds", String(SECONDS)];
  args.push("--warmup", String(WARMUP), "--ids", String(ROWS), ...scenario.templates.flatMap((t) => ["--template", t]));
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "inherit" });
  let peak = 0;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rss(pid))), 200) : null;
  // The server's threads are read when the loadgen's warm-up ends and when it stops measuring (to within a few ms).
  const sample = () => (pid ? sampleServer(pid) : null);
  let warm = sample();
  let done: ServerSample | null = null;
  const marks = [setTimeout(() => (warm = sample()), WARMUP * 1000), setTimeout(() => (done = sample()), (WARMUP + SECONDS) * 1000)];
  const out = await new Response(proc.stdout).text();
  if (sampler) clearInterval(sampler);
  for (const mark of marks) clearTimeout(mark);
  if ((await proc.exited) !== 0) throw new Error(`loadgen failed against ${host}:${port} in ${scenario.name}`);
  const load = JSON.parse(out) as Load;
  const end = done ?? sample(); // the loadgen may finish a moment before the timer
  const cpu = pid && warm && end ? cpuPerRequest(pid, warm, end, load) : null;
  return { ...load, rss_mb: pid ? Math.max(peak, rss(pid)) / 1e6 : null, cpu };
}

/** A minimal client for the memory and scaling measurements. */
async function client(port: number) {
  const waiting: Array<(body: string) => void> = [];
  const decoder = new TextDecoder();
  const parser = new FrameParser(2 ** 32, (body) => waiting.shift()?.(decoder.decode(body)));
  const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, chunk) => parser.push(chunk) } });
  return {
    request(body: string): Promise<string> {
      const reply = new Promise<string>((resolve) => waiting.push(resolve));
      socket.write(encodeFrame(body));
      return reply;
    },
    close: () => socket.end(),
  };
}

async function settle(pid: number): Promise<number> {
  await Bun.sleep(1000);
  return rss(pid);
}

async function memoryFigures(serverPid: number, port: number) {
  const idle = await settle(serverPid);
  const figures: Record<string, number> = { idle_mb: idle / 1e6 };
  for (const count of [64, 1000]) {
    const clients = await Promise.all(Array.from({ length: count }, () => client(port)));
    figures[`connected_${count}_mb`] = (await settle(serverPid)) / 1e6;
    await Promise.all(clients.map((c) => c.request(point("1"))));
    figures[`after_one_query_${count}_mb`] = (await settle(serverPid)) / 1e6;
    for (const c of clients) c.close();
    await settle(serverPid);
  }
  return figures;
}

/** When the connections with state, still open, count as idle: Bun collects a quiet Worker's garbage within about 8 s. */
const IDLE_MS = 12_000;

/** Read transactions each connection with state runs (about 2 s for 64 connections here). */
const STATEFUL_ROUNDS = 100;

/**
 * 64 connections that each hold connection state (a PRAGMA, as many ORMs send on connecting)
 * and then run read transactions of random point reads: each needs its own handle, so each
 * gets a session Worker. Peak RSS while they run, RSS a second after, and once they have
 * been idle for IDLE_MS.
 */
async function memoryWithState(serverPid: number, port: number) {
  const clients = await Promise.all(Array.from({ length: 64 }, () => client(port)));
  let peak = rss(serverPid);
  const sampler = setInterval(() => (peak = Math.max(peak, rss(serverPid))), 20);
  await Promise.all(
    clients.map(async (c, k) => {
      await c.request(onBenchDb("PRAGMA foreign_keys=ON")); // no rows, no error
      for (let i = 0; i < STATEFUL_ROUNDS; i++) {
        const id = ((i * 64 + k) * 7919) % ROWS + 1;
        for (const sql of ["BEGIN", `SELECT * FROM kv WHERE id = ${id}`, "COMMIT"]) {
          const reply = await c.request(onBenchDb(sql));
          if (reply.includes('"error_code"')) throw new Error(`${sql}: ${reply}`);
        }
      }
    }),
  );
  clearInterval(sampler);
  const peakMb = Math.max(peak, rss(serverPid)) / 1e6;
  const afterMb = (await settle(serverPid)) / 1e6;
  await Bun.sleep(IDLE_MS - 1000);
  const figures = { with_state_64_peak_mb: peakMb, with_state_64_after_mb: afterMb, with_state_64_idle_mb: rss(serverPid) / 1e6 };
  for (const c of clients) c.close();
  return figures;
}

/** How many databases `manyDatabases` reads, from a folder that holds only them. */
const MANY_DATABASES = 2000;

/**
 * Clients that read many databases, once each: RSS after each of two rounds over all of them,
 * as 16 connections read them in turn, and once the readers have closed the handles left
 * idle (the connections still open). What the readers keep of the databases they read.
 */
async function manyDatabases(serverPid: number, port: number) {
  const clients = await Promise.all(Array.from({ length: 16 }, () => client(port)));
  const figures: Record<string, number> = {};
  for (const round of [1, 2]) {
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = k; i < MANY_DATABASES; i += clients.length) {
          const reply = await c.request(`{"cmd":"QUERY","db":"d${i}.db","query":"SELECT * FROM t"}`);
          if (!reply.startsWith('{"columns"')) throw new Error(`d${i}.db: ${reply}`);
        }
      }),
    );
    figures[`databases_${MANY_DATABASES}_round_${round}_mb`] = (await settle(serverPid)) / 1e6;
  }
  // Closed after SHARED_HANDLE_IDLE_MS, by the next sweep.
  await Bun.sleep(SHARED_HANDLE_IDLE_MS + IDLE_SWEEP_MS);
  figures[`databases_${MANY_DATABASES}_idle_mb`] = (await settle(serverPid)) / 1e6;
  for (const c of clients) c.close();
  return figures;
}

/**
 * On a server of its own: peaks are above its idle RSS after one point query (which starts
 * a reader), not above the RSS the SELECTs before left behind.
 */
async function scaling(serverPid: number, port: number) {
  const rows: { rows: number; ms: number; response_mb: number; peak_rss_above_idle_mb: number }[] = [];
  const c = await client(port);
  await c.request(point("1"));
  const idle = await settle(serverPid);
  for (const limit of [1_000, 10_000, 100_000]) {
    await settle(serverPid);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(serverPid))), 5);
    const started = performance.now();
    const response = await c.request(onBenchDb(`SELECT * FROM kv WHERE id <= ${limit}`));
    const ms = performance.now() - started;
    clearInterval(sampler);
    rows.push({ rows: limit, ms, response_mb: Buffer.byteLength(response) / 1e6, peak_rss_above_idle_mb: (Math.max(peak, rss(serverPid)) - idle) / 1e6 });
  }
  c.close();
  return rows;
}

type Measured = Awaited<ReturnType<typeof drive>>;
/** One round of a scenario: the floor, then the server, then each --target. */
type Round = { floor: Measured; server: Measured; targets: Measured[] };

/** `of(round)`'s req/s over the floor's in the same round. */
const ratio = (round: Round, of: (round: Round) => Measured) => of(round).rps / round.floor.rps;

/** The middle item (the lower middle one for an even count) of items sorted ascending. */
const middle = <T>(sorted: T[]): T => sorted[Math.floor((sorted.length - 1) / 2)]!;

/** The round in which `of` had the median ratio. */
function medianRound(rounds: Round[], of: (round: Round) => Measured): Round {
  return middle([...rounds].sort((a, b) => ratio(a, of) - ratio(b, of)));
}

/** The median ratio, then the range over the rounds: `0.98 (0.95–1.10)`. */
function ratioCell(rounds: Round[], of: (round: Round) => Measured): string {
  const ratios = rounds.map((round) => ratio(round, of)).sort((a, b) => a - b);
  const median = middle(ratios).toFixed(2);
  return ratios.length === 1 ? median : `${median} (${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)})`;
}

function cpuColumn(floor: CpuPerRequest, server: CpuPerRequest): string {
  return `${floor.cpu_us_per_req.toFixed(1)} / ${server.cpu_us_per_req.toFixed(1)} (${server.main_thread_us_per_req.toFixed(1)})`;
}

const CORES = availableParallelism();
const BUDGET_HEADER = [
  "| scenario | target | req/s it asks for | CPU µs/req left to the server there | server spent | main thread | busiest other thread | main thread switched out /req | loadgen µs/req |",
  "|---|---|---|---|---|---|---|---|---|",
];

/**
 * What a scenario's target leaves the server to spend: at the req/s it asks for, the cores
 * give each response CORES s / (req/s) of CPU, less what the loadgen takes per response. An
 * upper bound, as it counts every core busy all the time with nothing else; where the server
 * spends more than this, no scheduling can meet the target on this machine.
 */
function budgetRow(scenario: (typeof SCENARIOS)[number], floor: Load, ours: Load, cpu: CpuPerRequest): string {
  const target = scenario.target;
  const asks = "ratio" in target ? target.ratio * floor.rps : target.mbPerS / (ours.mb_in_per_s / ours.rps);
  const left = (CORES * 1e6) / asks - cpu.loadgen_us_per_req;
  const named = "ratio" in target ? `≥ ${target.ratio.toFixed(2)}` : `≥ ${target.mbPerS} MB/s`;
  const us = (n: number) => n.toFixed(1);
  return `| ${scenario.name} | ${named} | ${asks.toFixed(0)} | ${us(left)} | ${us(cpu.cpu_us_per_req)} | ${us(cpu.main_thread_us_per_req)} | ${us(cpu.busiest_other_thread_us_per_req)} | ${cpu.main_switched_out_per_req.toFixed(2)} | ${us(cpu.loadgen_us_per_req)} |`;
}

async function main() {
  await compile(join(dist, "sqlite3-server"));
  const loadgen = gcc("loadgen.c", join(dist, "loadgen"));
  const echoFloor = gcc("echo-floor.c", join(dist, "echo-floor"));
  const folder = mkdtempSync(join(tmpdir(), "sqlite3-server-bench-"));
  prepareDatabase(folder);
  const manyFolder = mkdtempSync(join(tmpdir(), "sqlite3-server-bench-many-"));
  if (wanted("databases")) prepareSmallDatabases(manyFolder, MANY_DATABASES);
  const server = await listen([join(dist, "sqlite3-server"), "--port", "0", "--workers", "2", "-d", folder]);
  const floor = await listen([echoFloor, "0"]);
  const targets = values.target!.map((spec) => {
    const [name, address] = spec.split("=") as [string, string];
    const at = address.lastIndexOf(":");
    return { name, host: address.slice(0, at), port: Number(address.slice(at + 1)) };
  });
  const results: Record<string, unknown> = { seconds: SECONDS, warmup: WARMUP, rounds: ROUNDS, bun: Bun.version, cores: CORES };
  try {
    const table: string[] = [
      `| scenario | floor req/s | sqlite3-server req/s | ratio | p50 µs | p99 µs | MB/s | server RSS MB | CPU µs/req floor / server (main thread) |${targets.map((t) => ` ${t.name} req/s | ${t.name} ratio |`).join("")}`,
      `|---|---|---|---|---|---|---|---|---|${targets.map(() => "---|---|").join("")}`,
    ];
    const budget = [...BUDGET_HEADER];
    for (const scenario of SCENARIOS.filter((s) => wanted(s.name))) {
      const rounds: Round[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // The floor and the server, back to back, so that both see the same machine.
        const floorLoad = await drive(loadgen, "127.0.0.1", floor.port, scenario, floor.proc.pid);
        const ours = await drive(loadgen, "127.0.0.1", server.port, scenario, server.proc.pid);
        const others: Measured[] = [];
        for (const target of targets) others.push(await drive(loadgen, target.host, target.port, scenario));
        rounds.push({ floor: floorLoad, server: ours, targets: others });
      }
      results[scenario.name] = { rounds: rounds.map((round) => ({ ...round, targets: Object.fromEntries(targets.map((t, i) => [t.name, round.targets[i]])) })) };
      const { floor: floorLoad, server: ours } = medianRound(rounds, (round) => round.server);
      const peakRss = Math.max(...rounds.map((round) => round.server.rss_mb!));
      const errors = rounds.reduce((n, round) => n + round.server.errors, 0);
      const targetCells = targets.map((_, i) => {
        const of = (round: Round) => round.targets[i]!;
        return ` ${of(medianRound(rounds, of)).rps.toFixed(0)} | ${ratioCell(rounds, of)} |`;
      });
      table.push(
        `| ${scenario.name} | ${floorLoad.rps.toFixed(0)} | ${ours.rps.toFixed(0)} | ${ratioCell(rounds, (round) => round.server)} | ${ours.p50_us} | ${ours.p99_us} | ${ours.mb_in_per_s.toFixed(1)} | ${peakRss.toFixed(0)} | ${cpuColumn(floorLoad.cpu!, ours.cpu!)} |` +
          targetCells.join("") +
          (errors > 0 ? ` (${errors} errors)` : ""),
      );
      budget.push(budgetRow(scenario, floorLoad, ours, ours.cpu!));
      console.error(`${scenario.name}: done`);
    }
    if (table.length > 2) console.log(`${table.join("\n")}\n\n${budget.join("\n")}`);
    server.proc.kill("SIGTERM");
    await server.proc.exited;
    // Fresh servers for memory: nothing warmed by the load above, or by each other.
    const onFreshServer = async <T>(measure: (pid: number, port: number) => Promise<T>, on = folder): Promise<T> => {
      const fresh = await listen([join(dist, "sqlite3-server"), "--port", "0", "--workers", "2", "-d", on]);
      try {
        return await measure(fresh.proc.pid, fresh.port);
      } finally {
        fresh.proc.kill("SIGTERM");
        await fresh.proc.exited;
      }
    };
    const memory = {
      ...(wanted("memory") ? await onFreshServer(memoryFigures) : {}),
      ...(wanted("with_state_64") ? await onFreshServer(memoryWithState) : {}),
      ...(wanted("databases") ? await onFreshServer(manyDatabases, manyFolder) : {}),
    };
    if (Object.keys(memory).length > 0) {
      results.memory = memory;
      console.log("\n| memory | RSS MB |\n|---|---|");
      for (const [name, mb] of Object.entries(memory)) console.log(`| ${name} | ${mb.toFixed(1)} |`);
    }
    if (wanted("scaling")) {
      const scale = await onFreshServer(scaling);
      results.scaling = scale;
      console.log("\n| SELECT rows | ms | response MB | peak RSS above idle MB | ms per 1k rows |\n|---|---|---|---|---|");
      for (const r of scale) {
        console.log(`| ${r.rows} | ${r.ms.toFixed(1)} | ${r.response_mb.toFixed(2)} | ${r.peak_rss_above_idle_mb.toFixed(1)} | ${((r.ms / r.rows) * 1000).toFixed(2)} |`);
      }
    }
    if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
  } finally {
    server.proc.kill("SIGKILL");
    floor.proc.kill("SIGKILL");
    rmSync(folder, { recursive: true, force: true });
    rmSync(manyFolder, { recursive: true, force: true });
  }
}

await main();
