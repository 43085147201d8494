import { describe, expect, test } from "bun:test";
import { repairKeys } from "../../src/key-repair";
import { parseBody } from "../../src/request";

describe("repairKeys", () => {
  test("bare keys, as the Android plugin sends them", () => {
    expect(repairKeys('{cmd:"LIST"}')).toBe('{"cmd":"LIST"}');
    expect(repairKeys('{ cmd : "QUERY", db:"a.db" ,query:"SELECT 1"}')).toBe('{ "cmd" : "QUERY", "db":"a.db" ,"query":"SELECT 1"}');
  });

  test("single-quoted keys", () => {
    expect(repairKeys("{'cmd':\"LIST\"}")).toBe('{"cmd":"LIST"}');
    expect(repairKeys("{'it\\'s':1}")).toBe('{"it\'s":1}');
  });

  test("never touches string values, even ones that look like keys", () => {
    expect(repairKeys('{auth:"pa:ss"}')).toBe('{"auth":"pa:ss"}');
    expect(repairKeys('{auth:"a\\"b,c:d{e:f"}')).toBe('{"auth":"a\\"b,c:d{e:f"}');
    expect(repairKeys('{"query":"SELECT word: 1, {x:2}"}')).toBeNull();
  });

  test("leaves values and arrays alone", () => {
    expect(repairKeys("[true, false, null]")).toBeNull();
    expect(repairKeys("{'cmd':'QUERY'}")).toBe("{\"cmd\":'QUERY'}");
  });
});

describe("parseBody", () => {
  test("repairs only when the body is not JSON", () => {
    expect(parseBody('{auth:"pa:ss\\\\"}')).toEqual({ ok: true, value: Object.assign(Object.create(null), { auth: "pa:ss\\" }) });
    expect(parseBody("{'cmd':'QUERY'}").ok).toBe(false);
  });
});
