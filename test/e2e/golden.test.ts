// Replays every recorded transcript of the original servers against the compiled binary and
// compares the response bytes (or, where the transcript says so, only some top-level keys).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, startServer, type Server } from "./harness";

type Step = { send: string; expect: string; source: string; compare_keys?: string[] };
type Case = { case: string; steps: Step[] };

const TRANSCRIPTS = join(import.meta.dir, "..", "..", "..", "shared", "golden", "transcripts.jsonl");
const cases: Case[] = readFileSync(TRANSCRIPTS, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line));

let server: Server;
beforeAll(async () => {
  server = await startServer(["--workers", "2"]);
});
afterAll(async () => {
  await server[Symbol.asyncDispose]();
});

describe("golden transcripts", () => {
  test("there are transcripts to replay", () => {
    expect(cases.length).toBeGreaterThan(20);
  });

  for (const recorded of cases) {
    test(recorded.case, async () => {
      await using client = await connect(server.port);
      for (const step of recorded.steps) {
        const actual = await client.request(step.send);
        if (step.compare_keys) {
          const want = JSON.parse(step.expect);
          const got = JSON.parse(actual);
          for (const key of step.compare_keys) expect([key, got[key]]).toEqual([key, want[key]]);
        } else {
          expect(actual).toBe(step.expect);
        }
      }
    });
  }
});
