// The SQLiteStudio/Letos Android plugin sends object keys unquoted or single-quoted
// ({cmd:"LIST"}, {'cmd':"LIST"}). The originals fix that with a regex that also rewrites
// text inside string values ({auth:"pa:ss"} breaks); this scanner skips string values and
// quotes only what stands in key position: right after `{` or `,`, followed by `:`.

const BARE_KEY = /[A-Za-z0-9_$-]+/y;

/** The body with bare and single-quoted keys double-quoted, or null if there were none. */
export function repairKeys(body: string): string | null {
  let out = "";
  let copiedTo = 0;
  let i = 0;
  while (i < body.length) {
    const c = body[i];
    if (c === '"') {
      i = skipDoubleQuoted(body, i);
      continue;
    }
    i++;
    if (c !== "{" && c !== ",") continue;
    const keyStart = skipSpace(body, i);
    const key = readKey(body, keyStart);
    if (!key) continue;
    const colon = skipSpace(body, key.end);
    if (body[colon] !== ":") continue;
    out += body.slice(copiedTo, keyStart) + JSON.stringify(key.name);
    copiedTo = key.end;
    i = key.end;
  }
  return copiedTo === 0 ? null : out + body.slice(copiedTo);
}

function readKey(body: string, at: number): { name: string; end: number } | null {
  if (body[at] === "'") {
    let name = "";
    for (let i = at + 1; i < body.length; i++) {
      if (body[i] === "'") return { name, end: i + 1 };
      if (body[i] === "\\" && i + 1 < body.length) i++;
      name += body[i];
    }
    return null;
  }
  BARE_KEY.lastIndex = at;
  const match = BARE_KEY.exec(body);
  return match ? { name: match[0], end: at + match[0].length } : null;
}

/** Index just past the double-quoted string starting at `at` (or the end, if unterminated). */
function skipDoubleQuoted(body: string, at: number): number {
  for (let i = at + 1; i < body.length; i++) {
    if (body[i] === "\\") i++;
    else if (body[i] === '"') return i + 1;
  }
  return body.length;
}

function skipSpace(body: string, at: number): number {
  while (at < body.length && " \t\r\n".includes(body[at]!)) at++;
  return at;
}
