// How a Worker waits for its next request: not at all when one is on its way; otherwise it
// polls, but only while no other Worker polls and while polling pays. Time is a counter here.

import { afterEach, describe, expect, test } from "bun:test";
import { POLL_MS as DEFAULT_POLL_MS, pollMsFor, PollingFlag, PostedCount, RequestPoller } from "../../src/poll";

/** Moves 1/64 ms per reading (exact in binary, so sums are too) and counts its readings. */
class TickingClock {
  at = 0;
  readings = 0;
  /** Called at each reading, with its number. */
  onReading: (reading: number) => void = () => {};
  readonly now = () => {
    this.onReading(++this.readings);
    return (this.at += 1 / 64);
  };
}

describe("RequestPoller", () => {
  let clock = new TickingClock();
  let flag = new PollingFlag();
  let posted = new PostedCount();
  afterEach(() => {
    clock = new TickingClock();
    flag = new PollingFlag();
    posted = new PostedCount();
  });
  const OWNER = 3;
  const POLL_MS = 1 / 8; // 8 readings
  /** A Worker that has received `n` requests, as many as were posted. */
  const poller = (n = 1) => {
    const p = new RequestPoller(posted, flag, OWNER, POLL_MS, clock.now);
    for (let i = 0; i < n; i++) {
      posted.add();
      p.received();
    }
    clock.readings = 0;
    return p;
  };
  const anotherWorkerPolls = () => expect(flag.tryTake(OWNER + 1)).toBe(true);

  test("does not wait when a request is already on its way, even while another Worker polls", () => {
    const p = poller();
    anotherWorkerPolls();
    posted.add();
    expect(p.awaitNext()).toBe(true);
    expect(clock.readings).toBe(0);
    expect(flag.holder()).toBe(OWNER + 1); // not its to release
  });

  test("with nothing on its way, polls for POLL_MS, then gives up and frees the flag", () => {
    expect(poller().awaitNext()).toBe(false);
    expect(clock.readings).toBe(9); // going idle, then one per look until POLL_MS have passed
    expect(flag.holder()).toBe(0);
  });

  test("does not poll while another Worker does", () => {
    const p = poller();
    anotherWorkerPolls();
    expect(p.awaitNext()).toBe(false);
    expect(clock.readings).toBe(1); // going idle, nothing more
  });

  test("never polls when told to poll for 0 ms", () => {
    const p = new RequestPoller(posted, flag, OWNER, 0, clock.now);
    expect(p.awaitNext()).toBe(false);
    expect(clock.readings).toBe(1); // going idle, nothing more
    expect(flag.holder()).toBe(0);
  });

  test("sees a request posted while it polls", () => {
    const p = poller();
    clock.onReading = (reading) => reading === 3 && posted.add(); // as the main thread would
    expect(p.awaitNext()).toBe(true);
    expect(clock.readings).toBe(3);
    expect(flag.holder()).toBe(0);
  });

  test("after a request that came too late for a poll, polls again only once one comes in time", () => {
    const p = poller();
    expect(p.awaitNext()).toBe(false); // polled in vain; sleeps
    clock.at += 1; // the next request wakes it 1 ms later
    posted.add();
    p.received();
    let before = clock.readings;
    expect(p.awaitNext()).toBe(false);
    expect(clock.readings - before).toBe(1); // did not poll
    clock.at += POLL_MS / 2; // this one comes within POLL_MS
    posted.add();
    p.received();
    before = clock.readings;
    expect(p.awaitNext()).toBe(false);
    expect(clock.readings - before).toBe(9); // polled
  });
});

describe("pollMsFor", () => {
  test("polls with a core to spare and no more readers than cores", () => {
    expect(pollMsFor(2, 2)).toBe(DEFAULT_POLL_MS);
    expect(pollMsFor(1, 8)).toBe(DEFAULT_POLL_MS);
    expect(pollMsFor(3, 2)).toBe(0);
    expect(pollMsFor(1, 1)).toBe(0);
  });
});
