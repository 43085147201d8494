import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { firstStatement } from "../../src/sql-statements";

const first = (sql: string) => {
  const found = firstStatement(sql);
  return found && { text: sql.slice(found.start, found.end), more: found.more };
};

describe("firstStatement", () => {
  test("nothing but blanks, comments and semicolons is no statement", () => {
    for (const sql of ["", "   ", "\n\t ", "-- only a comment", "/* block */", ";;", " ; -- x\n ; /* y */"]) {
      expect(firstStatement(sql)).toBeNull();
    }
  });

  test("one statement, with or without trailing semicolons and comments", () => {
    expect(first("SELECT 1")).toEqual({ text: "SELECT 1", more: false });
    expect(first("SELECT 1;")).toEqual({ text: "SELECT 1;", more: false });
    expect(first("SELECT 1;  -- done")).toEqual({ text: "SELECT 1;", more: false });
    expect(first("SELECT 1;;")).toEqual({ text: "SELECT 1;", more: false });
    expect(first("; /* lead */ SELECT 1")).toEqual({ text: "SELECT 1", more: false });
  });

  test("a second statement is reported", () => {
    expect(first("SELECT 1; SELECT 2")).toEqual({ text: "SELECT 1;", more: true });
    expect(first("SELECT 1; garbage")?.more).toBe(true);
  });

  test("semicolons inside strings, identifiers and comments do not end a statement", () => {
    for (const sql of [
      "SELECT 'a;b', 'it''s;'",
      'SELECT 1 AS "x;""y"',
      "SELECT 1 AS `a;b`",
      "SELECT 1 AS [a;b]",
      "SELECT 1 -- ; not here\n + 1",
      "SELECT /* ; */ 1",
      "SELECT x'3b'",
    ]) {
      expect(first(sql)).toEqual({ text: sql, more: false });
    }
  });

  test("a CREATE TRIGGER body ends at '; END;'", () => {
    const trigger = "CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); UPDATE u SET v = CASE WHEN 1 THEN 2 END; END;";
    expect(first(trigger)).toEqual({ text: trigger, more: false });
    expect(first(trigger + " SELECT 1")).toEqual({ text: trigger, more: true });
    expect(first("create trigger tr after delete on t begin select 1; end")?.more).toBe(false);
    // "trigger" as an ordinary word is not a trigger definition
    expect(first("SELECT 1 AS trigger; SELECT 2")?.more).toBe(true);
  });

  test("agrees with SQLite on where the first statement ends", () => {
    const db = new Database(":memory:");
    db.run("CREATE TABLE t(a); CREATE TABLE u(v)");
    const samples = [
      "SELECT 1; SELECT 2",
      "  /*x*/ select 'a;' ;  -- c",
      "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); END; SELECT 3",
      "SELECT \"a\"\"b;\" FROM (SELECT 1 AS \"a\"\"b;\"); SELECT 4",
      "SELECT [x;y] FROM (SELECT 1 AS [x;y]);",
    ];
    for (const sql of samples) {
      const statement = db.prepare(sql);
      const found = firstStatement(sql)!;
      expect(sql.slice(0, found.end)).toBe(statement.toString());
      statement.finalize();
    }
    db.close();
  });
});
