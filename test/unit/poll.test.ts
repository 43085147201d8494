// How a Worker looks for its next request: a queued one at once; otherwise polling, but only
// while no other Worker polls and while polling pays. Time is a counter here: no test waits.

import { afterEach, describe, expect, test } from "bun:test";
import { PollingFlag, RequestPoller } from "../../src/poll";

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
  let channel = new MessageChannel();
  let clock = new TickingClock();
  let flag = new PollingFlag();
  afterEach(() => {
    channel.port1.close();
    channel = new MessageChannel();
    clock = new TickingClock();
    flag = new PollingFlag();
  });
  const POLL_MS = 1 / 8; // 8 readings
  const OWNER = 3;
  const poller = () => new RequestPoller(channel.port2, flag, OWNER, POLL_MS, clock.now);
  const flagValue = () => flag.holder();
  const anotherWorkerPolls = () => expect(flag.tryTake(OWNER + 1)).toBe(true);

  test("takes a queued message at once, even while another Worker polls", () => {
    const p = poller();
    anotherWorkerPolls();
    channel.port1.postMessage("first");
    channel.port1.postMessage("second");
    expect(p.next()).toBe("first");
    expect(p.next()).toBe("second");
    expect(clock.readings).toBe(0);
    expect(flagValue()).toBe(OWNER + 1); // not its to release
  });

  test("with nothing queued, polls for POLL_MS, then gives up and frees the flag", () => {
    expect(poller().next()).toBeUndefined();
    expect(clock.readings).toBe(9); // going idle, then one per look until POLL_MS have passed
    expect(flagValue()).toBe(0);
  });

  test("does not poll while another Worker does", () => {
    anotherWorkerPolls();
    expect(poller().next()).toBeUndefined();
    expect(clock.readings).toBe(1); // going idle, nothing more
  });

  test("finds a message that arrives while it polls", () => {
    clock.onReading = (reading) => reading === 3 && channel.port1.postMessage("late"); // as another thread would
    expect(poller().next()).toBe("late");
    expect(clock.readings).toBe(3);
    expect(flagValue()).toBe(0);
  });

  test("after a poll that found nothing, polls again only once a request has come within POLL_MS", () => {
    const p = poller();
    expect(p.next()).toBeUndefined(); // polled in vain
    clock.at += 1; // the next request comes 1 ms later
    p.woken();
    let before = clock.readings;
    expect(p.next()).toBeUndefined();
    expect(clock.readings - before).toBe(1); // did not poll
    clock.at += POLL_MS / 2; // this one within POLL_MS
    p.woken();
    before = clock.readings;
    expect(p.next()).toBeUndefined();
    expect(clock.readings - before).toBe(9); // polled
  });
});
