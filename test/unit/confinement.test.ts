import { describe, expect, test } from "bun:test";
import { confine } from "../../src/confinement";

const resolve = (name: string) => (name.includes("/") || name === ".." ? null : `/srv/data/${name}`);

describe("confine", () => {
  test("ordinary statements pass unchanged", () => {
    for (const sql of ["SELECT 1", "VACUUM", "VACUUM main", "PRAGMA journal_mode", "DETACH other", "SELECT 'ATTACH' AS x"]) {
      expect(confine(sql, resolve)).toEqual({ ok: true, sql });
    }
  });

  test("ATTACH of a folder database is rewritten to its path", () => {
    expect(confine("ATTACH 'other.db' AS o", resolve)).toEqual({ ok: true, sql: "ATTACH '/srv/data/other.db' AS o" });
    expect(confine("attach database 'it''s.db' as o;", resolve)).toEqual({ ok: true, sql: "attach database '/srv/data/it''s.db' as o;" });
    expect(confine("ATTACH ':memory:' AS m", resolve)).toEqual({ ok: true, sql: "ATTACH ':memory:' AS m" });
  });

  test("ATTACH of anything else is refused", () => {
    for (const sql of [
      "ATTACH '/etc/passwd' AS p",
      "ATTACH '../x.db' AS p",
      "ATTACH 'a' || '.db' AS p",
      'ATTACH "x.db" AS p',
      "ATTACH ? AS p",
      "ATTACH DATABASE (SELECT '/tmp/x') AS p",
    ]) {
      const result = confine(sql, resolve);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toStartWith("not authorized: ");
    }
  });

  test("VACUUM INTO: a folder database only", () => {
    expect(confine("VACUUM INTO 'copy.db'", resolve)).toEqual({ ok: true, sql: "VACUUM INTO '/srv/data/copy.db'" });
    expect(confine("VACUUM main INTO 'copy.db';", resolve)).toEqual({ ok: true, sql: "VACUUM main INTO '/srv/data/copy.db';" });
    expect(confine("VACUUM INTO '/tmp/copy.db'", resolve).ok).toBe(false);
    expect(confine("VACUUM INTO 'a' || 'b'", resolve).ok).toBe(false);
  });

  test("PRAGMAs that move files elsewhere are refused", () => {
    expect(confine("PRAGMA temp_store_directory = '/tmp'", resolve).ok).toBe(false);
    expect(confine("pragma main.temp_store_directory('/tmp')", resolve).ok).toBe(false);
    expect(confine("PRAGMA data_store_directory='/tmp'", resolve).ok).toBe(false);
  });
});
