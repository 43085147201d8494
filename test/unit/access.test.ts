import { describe, expect, test } from "bun:test";
import { AllowList, authFailureDelayMs, passwordMatches } from "../../src/access";

describe("AllowList", () => {
  test("empty allows everyone", () => {
    expect(new AllowList([]).allows("203.0.113.9")).toBe(true);
  });

  test("IPv4 CIDRs and bare addresses (/32)", () => {
    const list = new AllowList(["10.0.0.0/8", "192.168.1.7"]);
    expect(list.allows("10.255.0.1")).toBe(true);
    expect(list.allows("192.168.1.7")).toBe(true);
    expect(list.allows("192.168.1.8")).toBe(false);
    expect(list.allows("11.0.0.1")).toBe(false);
  });

  test("IPv6, and IPv4-mapped peers against IPv4 entries", () => {
    const list = new AllowList(["2001:db8::/32", "::1", "127.0.0.1"]);
    expect(list.allows("2001:db8:1::5")).toBe(true);
    expect(list.allows("::1")).toBe(true);
    expect(list.allows("::2")).toBe(false);
    expect(list.allows("::ffff:127.0.0.1")).toBe(true);
    expect(list.allows("::ffff:127.0.0.2")).toBe(false);
    expect(list.allows("fe80::1%eth0")).toBe(false);
    expect(list.allows("garbage")).toBe(false);
  });

  test("invalid entries are refused with their text", () => {
    for (const entry of ["10.0.0.0/33", "x", "10", "0x7f.0.0.1", "::1/129", "1.2.3.4/", "/8"]) {
      expect(() => new AllowList([entry])).toThrow(`"${entry}"`);
    }
  });
});

describe("passwords", () => {
  test("match exactly", () => {
    expect(passwordMatches("pa:ss", "pa:ss")).toBe(true);
    expect(passwordMatches("pa:ss", "pa:sS")).toBe(false);
    expect(passwordMatches("", "x")).toBe(false);
    expect(passwordMatches("a-much-longer-guess", "x")).toBe(false);
  });

  test("the delay after failures grows and is capped", () => {
    const delays = [1, 2, 3, 4, 5, 6, 10, 100].map(authFailureDelayMs);
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
  });
});
