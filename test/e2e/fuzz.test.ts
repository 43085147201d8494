// CI's short, fixed-seed run of scripts/fuzz.ts (the long run: `npm run fuzz`).

import { expect, test } from "bun:test";
import { join } from "node:path";

test("20,000 fuzzed requests (seed 1): every response documented, server alive", async () => {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "scripts", "fuzz.ts"), "--seed", "1", "--requests", "20000"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
  expect(stdout).toMatch(/^fuzz: seed 1: \d+ requests and \d+ abusive connections .* every response documented, server alive$/m);
}, 120_000);
