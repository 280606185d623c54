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

/** Optional white space (RFC 9110 §5.6.3): SP or HTAB. */
export function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * `s` without optional white space at either end (RFC 9110 §5.5), and only that: `trim()` would
 * also remove characters that are part of a field value, as obs-text 0xA0 (NBSP in Latin-1).
 * Returns `s` itself when there is none.
 */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Whether a list contains `want` (given in lower case), compared case-insensitively. */
export function hasToken(value: HeaderValue, want: string): boolean {
  if (typeof value === 'string') {
    // The usual field is the one element as it is ("Upgrade", "websocket"): no search for commas.
    if (value.length === want.length && elementIs(value, 0, value.length, want)) return true;
    // Read in place: no element is sliced out (but one that is not ASCII, to lower-case it as a whole).
    const n = value.length;
    for (let start = 0; start <= n; ) {
      let end = value.indexOf(',', start);
      if (end < 0) end = n;
      let a = start;
      let b = end;
      while (a < b && isOws(value.charCodeAt(a))) a++;
      while (b > a && isOws(value.charCodeAt(b - 1))) b--;
      if (b > a && elementIs(value, a, b, want)) return true;
      start = end + 1;
    }
    return false;
  }
  for (const element of splitList(value)) {
    if (element.toLowerCase() === want) return true;
  }
  return false;
}

/** Whether `s.toLowerCase() === lower` (`lower` in lower case), without making the lower-cased copy. */
export function isCaselessly(s: string, lower: string): boolean {
  return s.length === lower.length && elementIs(s, 0, s.length, lower);
}

/**
 * Whether `s.slice(a, b).toLowerCase() === want`, for ASCII without the slice. An ASCII letter
 * lower-cases to one letter, so the first ASCII difference (with only ASCII before it) settles it;
 * a length that differs is settled only once no character past ASCII (which `toLowerCase` may
 * lengthen: 'İ') is found.
 */
function elementIs(s: string, a: number, b: number, want: string): boolean {
  const sameLength = b - a === want.length;
  for (let i = a; i < b; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x80) return s.slice(a, b).toLowerCase() === want;
    if (!sameLength) continue;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== want.charCodeAt(i - a)) return false;
  }
  return sameLength;
}

/**
 * 1 for each byte that is a tchar of RFC 9110 §5.6.2, else 0: 256 entries, so that any byte indexes it
 * (a scan of a head's bytes needs no range check).
 */
export const tcharTable = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") tcharTable[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) tcharTable[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) tcharTable[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) tcharTable[c] = 1;

/** Whether `s` is a non-empty RFC 9110 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    if (!isTokenChar(s.charCodeAt(i))) return false;
  }
  return true;
}

/** Whether the character code `c` is a tchar (RFC 9110 §5.6.2). */
export function isTokenChar(c: number): boolean {
  return c < 128 && tcharTable[c] === 1;
}

// unreserved and sub-delims of RFC 3986 §2.2-2.3: what a reg-name or an IPv4 address is made of
const hostCharTable = new Uint8Array(128);
for (const c of "-._~!$&'()*+,;=") hostCharTable[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) hostCharTable[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) hostCharTable[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) hostCharTable[c] = 1;

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * Whether `s` is a Host field value, `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a
 * reg-name or IPv4 address of unreserved, sub-delims and %HH, or a bracketed IP literal (IPv6,
 * IPvFuture, an RFC 6874 zone), then optionally a colon and digits. Checked in one pass.
 */
export function isHostValue(s: string): boolean {
  let i = 0;
  const n = s.length;
  if (n > 0 && s.charCodeAt(0) === 0x5b /* [ */) {
    i = 1;
    while (i < n && s.charCodeAt(i) !== 0x5d /* ] */) {
      const c = s.charCodeAt(i);
      if (c >= 128 || (hostCharTable[c] === 0 && c !== 0x3a /* : */ && c !== 0x25) /* % */) return false;
      i++;
    }
    if (i === n || i === 1) return false;
    i++;
  } else {
    while (i < n && s.charCodeAt(i) !== 0x3a /* : */) {
      const c = s.charCodeAt(i);
      if (c === 0x25 /* % */) {
        if (i + 2 >= n || !isHexDigit(s.charCodeAt(i + 1)) || !isHexDigit(s.charCodeAt(i + 2))) return false;
        i += 3;
        continue;
      }
      if (c >= 128 || hostCharTable[c] === 0) return false;
      i++;
    }
  }
  if (i === n) return true;
  if (s.charCodeAt(i) !== 0x3a /* : */) return false;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
