import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { firstStatement, leavesConnectionState, mayReadAnywhere, mayWriteAnywhere } from "../../src/sql-statements";

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

describe("which statements may read from any handle", () => {
  test("queries that do not ask for the connection's counters", () => {
    for (const sql of ["SELECT 1", "  select * from t", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)"]) expect(mayReadAnywhere(sql)).toBe(true);
  });
  test("not statements that are not queries, nor the connection's counters", () => {
    for (const sql of ["INSERT INTO t VALUES (1)", "/* c */ SELECT 1", "PRAGMA x", "SELECT last_insert_rowid()", "SELECT changes ()", "select TOTAL_CHANGES()", "BEGIN"]) {
      expect(mayReadAnywhere(sql)).toBe(false);
    }
  });
});

describe("which statements may write on a reader's handle", () => {
  test("INSERT, UPDATE, DELETE and REPLACE, and WITH before them", () => {
    for (const sql of ["INSERT INTO t VALUES (1)", " update t set a = 1", "DELETE FROM t", "REPLACE INTO t VALUES (1)", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"]) {
      expect(mayWriteAnywhere(sql)).toBe(true);
    }
  });
  test("not other statements, nor writes that ask for the connection's counters", () => {
    for (const sql of ["BEGIN", "CREATE TABLE t(a)", "PRAGMA x = 1", "/* c */ INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (last_insert_rowid())", "UPDATE t SET a = changes()"]) {
      expect(mayWriteAnywhere(sql)).toBe(false);
    }
  });
  test("nothing that lists databases or names the readers' private one, which a session's own handle lacks", () => {
    for (const sql of ["SELECT * FROM pragma_database_list", "select name from PRAGMA_TABLE_LIST()", "SELECT * FROM sqlite3_server.sqlite3_server_rows", "INSERT INTO t SELECT * FROM pragma_database_list"]) {
      expect([sql, mayReadAnywhere(sql) || mayWriteAnywhere(sql)]).toEqual([sql, false]);
    }
  });
});

describe("which statements leave state on the connection", () => {
  test("PRAGMAs, ATTACH, DETACH and TEMP objects do", () => {
    for (const sql of ["PRAGMA cache_size=10", "pragma foreign_keys", "ATTACH 'x' AS y", "DETACH y", "CREATE TEMP TABLE t(a)", "create temporary view v as select 1", "CREATE TABLE temp.t(a)", "CREATE TRIGGER temp.tr AFTER INSERT ON t BEGIN SELECT 1; END"]) {
      expect(leavesConnectionState(sql)).toBe(true);
    }
  });
  test("ordinary statements do not", () => {
    for (const sql of ["SELECT 'PRAGMA'", "CREATE TABLE t(temp_value)", "INSERT INTO t VALUES ('TEMP')", "BEGIN", "CREATE TABLE t(a)", "UPDATE t SET a = 1"]) {
      expect(leavesConnectionState(sql)).toBe(false);
    }
  });
});
