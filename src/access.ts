// Who may talk to the server: the IP allow-list, checked when a connection is accepted, and
// the password check of the auth handshake. No I/O.

import { createHash, timingSafeEqual } from "node:crypto";
import ipaddr from "ipaddr.js";
import { ConfigError } from "./config";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export class AllowList {
  readonly #v4: Range[] = [];
  readonly #v6: Range[] = [];

  /** Entries are CIDRs or bare addresses (v4 /32, v6 /128). An invalid one is a ConfigError naming it. */
  constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const range = parseEntry(entry.trim());
      if (!range) throw new ConfigError(`invalid ip_whitelist entry "${entry}"`);
      (range[0].kind() === "ipv4" ? this.#v4 : this.#v6).push(range);
    }
  }

  /** An empty list allows everyone. */
  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  /** Whether a peer address (as the socket reports it) is allowed. */
  allows(peer: string): boolean {
    if (this.isEmpty) return true;
    let address: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      address = ipaddr.parse(peer.replace(/%.*$/, "")); // drop an IPv6 zone ("fe80::1%eth0")
    } catch {
      return false;
    }
    if (address.kind() === "ipv6") {
      const v6 = address as ipaddr.IPv6;
      if (this.#v6.some((range) => v6.match(range))) return true;
      // An IPv4 client of a dual-stack socket shows up as ::ffff:a.b.c.d.
      if (!v6.isIPv4MappedAddress()) return false;
      address = v6.toIPv4Address();
    }
    const v4 = address as ipaddr.IPv4;
    return this.#v4.some((range) => v4.match(range));
  }
}

function parseEntry(entry: string): Range | null {
  const [text, bits, extra] = entry.split("/");
  if (extra !== undefined || !text) return null;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  // Only dotted-quad IPv4: ipaddr.js would also take "10" or "0x7f.1", which nobody means.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) address = ipaddr.IPv4.parse(text);
  else if (text.includes(":") && ipaddr.IPv6.isValid(text)) address = ipaddr.IPv6.parse(text);
  else return null;
  const max = address.kind() === "ipv4" ? 32 : 128;
  if (bits === undefined) return [address, max];
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return null;
  return [address, Number(bits)];
}

/** Compares passwords in time independent of where they differ, and of their lengths. */
export function passwordMatches(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** How long to hold the reply after the n-th failed attempt on a connection (n ≥ 1). */
export function authFailureDelayMs(failures: number): number {
  return Math.min(250 * 2 ** (failures - 1), 4000);
}
