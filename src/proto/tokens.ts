/**
 * Header token lists (RFC 9110 §5.6.1: `#element`), parsed in one linear pass without regular
 * expressions, so that a pathological value costs time in proportion to its length.
 */

/** A header value as node:http and plain request objects carry it. */
export type HeaderValue = string | string[] | undefined;

/** The elements of a comma-separated list, trimmed of optional white space, empty elements dropped. */
export function splitList(value: HeaderValue): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((v) => splitList(v));
  const out: string[] = [];
  let start = 0;
  const n = value.length;
  for (let i = 0; i <= n; i++) {
    if (i === n || value.charCodeAt(i) === 0x2c /* , */) {
      let a = start;
      let b = i;
      while (a < b && isOws(value.charCodeAt(a))) a++;
      while (b > a && isOws(value.charCodeAt(b - 1))) b--;
      if (b > a) out.push(value.slice(a, b));
      start = i + 1;
    }
  }
  return out;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether a list contains `token`, compared case-insensitively. */
export function hasToken(value: HeaderValue, token: string): boolean {
  const want = token.toLowerCase();
  for (const element of splitList(value)) {
    if (element.toLowerCase() === want) return true;
  }
  return false;
}

// tchar of RFC 9110 §5.6.2
const tcharTable = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") tcharTable[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) tcharTable[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) tcharTable[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) tcharTable[c] = 1;

/** Whether `s` is a non-empty RFC 9110 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || tcharTable[c] === 0) return false;
  }
  return true;
}
