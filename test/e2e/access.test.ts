// Access control against the compiled binary: the auth handshake and the IP allow-list.

import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, query, runBinary, startServer, tempFolder } from "./harness";

const OK = '{"result":"ok"}';
const ERROR = '{"result":"error"}';

describe("auth", () => {
  test("commands before the handshake are refused; the right password opens the connection", async () => {
    await using server = await startServer(["--auth", "s3cret"]);
    await using client = await connect(server.port);
    expect(await client.request('{"cmd":"LIST"}')).toBe(ERROR);
    expect(await client.request(query("a.db", "SELECT 1"))).toBe(ERROR);
    expect(await client.request("not json")).toBe(ERROR);
    expect(await client.request('{"auth":"s3cret"}')).toBe(OK);
    expect(await client.request(query("a.db", "SELECT 1 AS one"))).toBe('{"columns":["one"],"data":[{"one":1}]}');
    // Authentication is per connection.
    await using second = await connect(server.port);
    expect(await second.request('{"cmd":"LIST"}')).toBe(ERROR);
  });

  test("a message with both auth and cmd only authenticates", async () => {
    await using server = await startServer(["--auth", "pw"]);
    await using client = await connect(server.port);
    expect(await client.request('{"auth":"pw","cmd":"LIST"}')).toBe(OK);
    expect(await client.request('{"cmd":"LIST"}')).toStartWith('{"list":');
  });

  test("the Android plugin's bare-key form, with ':' and '\\' in the password", async () => {
    await using server = await startServer(["--auth", 'pa:ss\\w"rd']);
    await using client = await connect(server.port);
    expect(await client.request('{auth:"pa:ss\\\\w\\"rd"}')).toBe(OK);
  });

  test("wrong passwords fail, are logged, and each failure holds the reply back longer", async () => {
    await using server = await startServer(["--auth", "right"]);
    await using client = await connect(server.port);
    const timed = async (body: string) => {
      const start = performance.now();
      const response = await client.request(body);
      return { response, ms: performance.now() - start };
    };
    const first = await timed('{"auth":"wrong"}');
    const second = await timed('{"auth":"wrong again"}');
    expect(first.response).toBe(ERROR);
    expect(second.response).toBe(ERROR);
    expect(first.ms).toBeGreaterThanOrEqual(240);
    expect(second.ms).toBeGreaterThanOrEqual(490);
    expect(await client.request('{"auth":"right"}')).toBe(OK);
    expect(server.output()).toMatch(/WARN failed auth from \S+ \(attempt 2 on this connection\)/);
    expect(server.output()).not.toContain("wrong again");
  });

  test("the password never reaches the log", async () => {
    await using server = await startServer(["--auth", "topsecretpw"]);
    expect(server.output()).toContain("auth=on");
    expect(server.output()).not.toContain("topsecretpw");
  });
});

/**
 * Connects, sends a request, and tells whether the server answered or just closed. A refused
 * peer is reset right after the handshake, which can make the connect itself fail.
 */
async function answered(port: number, host: string): Promise<boolean> {
  let client;
  try {
    client = await connect(port, host);
  } catch {
    return false;
  }
  await using _client = client;
  client.send('{"cmd":"LIST"}');
  return await client.receive().then(
    () => true,
    () => false,
  );
}

describe("ip_whitelist", () => {
  test("an allowed IPv4 peer is served; a CIDR that excludes it closes with no reply", async () => {
    await using allowed = await startServer(["--ip-whitelist", "10.0.0.0/8, 127.0.0.1"]);
    expect(await answered(allowed.port, "127.0.0.1")).toBe(true);
    await using refused = await startServer(["--ip-whitelist", "10.0.0.0/8,192.168.1.0/24"]);
    expect(await answered(refused.port, "127.0.0.1")).toBe(false);
    expect(refused.output()).toContain("WARN rejected peer 127.0.0.1");
  });

  test("IPv6: listening on ::1, bare and CIDR entries", async () => {
    await using bare = await startServer(["--ip", "::1", "--ip-whitelist", "::1"]);
    expect(bare.output()).toContain(`listening on [::1]:${bare.port}`);
    expect(await answered(bare.port, "::1")).toBe(true);
    await using cidr = await startServer(["--ip", "::1", "--ip-whitelist", "::/127"]);
    expect(await answered(cidr.port, "::1")).toBe(true);
    await using v4only = await startServer(["--ip", "::1", "--ip-whitelist", "127.0.0.1"]);
    expect(await answered(v4only.port, "::1")).toBe(false);
  });

  test("an IPv4 client of a dual-stack listener (::ffff:a.b.c.d) matches IPv4 entries", async () => {
    await using server = await startServer(["--ip", "::", "--ip-whitelist", "127.0.0.0/8"]);
    expect(await answered(server.port, "127.0.0.1")).toBe(true);
    expect(await answered(server.port, "::1")).toBe(false);
  });

  for (const entry of ["10.0.0.0/33", "not-an-ip", "10.1", "::1/129", "1.2.3.4/8/1"]) {
    test(`an invalid entry (${entry}) is fatal at start, naming it`, async () => {
      const { code, stdout, stderr } = await runBinary(["--port", "0", "-d", ".", "--ip-whitelist", `127.0.0.1,${entry}`]);
      expect(code).toBe(1);
      expect(stdout).not.toContain("listening");
      expect(stderr.trim()).toBe(`sqlite3-server: invalid ip_whitelist entry "${entry}"`);
    });
  }

  test("the config file's ip_whitelist and auth", async () => {
    using folder = tempFolder();
    mkdirSync(join(folder, "data"));
    const config = join(folder, "config.json");
    const base = { client_max_packet_size: 1024, workers: 1, listen_ip: "127.0.0.1", listen_port: 0, databases_folder: join(folder, "data") };
    writeFileSync(config, JSON.stringify({ ...base, auth: "pw", ip_whitelist: ["127.0.0.1"] }));
    await using server = await startServer(["--config", config]);
    await using client = await connect(server.port);
    expect(await client.request('{"auth":"pw"}')).toBe(OK);
    writeFileSync(config, JSON.stringify({ ...base, ip_whitelist: ["127.0.0.1", "bad"] }));
    expect((await runBinary(["--config", config])).stderr).toContain('invalid ip_whitelist entry "bad"');
  });
});
