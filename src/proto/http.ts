/**
 * HTTP/1.1 heads for the handshake (RFC 9112): an incremental, strict request-head parser with
 * limits, and response serialisation. Pure: bytes in, values out.
 */
import { Buffer } from 'node:buffer';
import { shown, WebSocketError, type ErrorCode } from '../errors.js';
import { isOws, isToken, tcharTable, trimOws, type HeaderValue } from './tokens.js';

/** Request header fields by lower-case name, as node:http's `IncomingMessage.headers`. */
export type HttpHeaders = Record<string, HeaderValue>;

/** The shape of an upgrade request that `accept` reads; `IncomingMessage` has it too (with `url`). */
export interface UpgradeRequest {
  method?: string;
  /** The request target; `IncomingMessage` calls it `url`. */
  target?: string;
  url?: string;
  /** "1.1" */
  httpVersion?: string;
  headers: HttpHeaders;
}

/** A request read by the library's own parser. */
export interface ParsedRequest {
  method: string;
  target: string;
  httpVersion: string;
  headers: HttpHeaders;
  /** Header fields in order with their original case, as [name, value] pairs. */
  rawHeaders: string[];
}

export interface HeadLimits {
  maxHeaderBytes: number;
  maxHeaders: number;
}

/** A failed request head: the error, and the HTTP status that answers it. */
export class HeadError extends WebSocketError {
  readonly status: number;
  /** What is wrong, without the code's description (for an error of another code made from it). */
  readonly detail: string;
  /** For ERR_WS_HEADER_LIMIT: the limit the head is over (the option that sets it). */
  readonly limit: keyof HeadLimits | undefined;
  constructor(code: ErrorCode, status: number, detail: string, limit?: keyof HeadLimits) {
    super(code, detail);
    this.status = status;
    this.detail = detail;
    this.limit = limit;
  }
}

export type HeadResult<T> = { done: false } | { done: true; head: T; rest: Buffer };

/** A response read by the client handshake. */
export interface ParsedResponse {
  status: number;
  reason: string;
  httpVersion: string;
  headers: HttpHeaders;
  rawHeaders: string[];
}

/**
 * Collects bytes until a whole HTTP head (ending in CRLF CRLF) has arrived, then parses it with
 * `parse` (requests or responses). Each byte is scanned once: the search resumes where it stopped.
 */
export class HeadReader<T> {
  /** Bytes received so far when the head spans chunks; grows by doubling so each byte is copied O(1) times. */
  private acc: Buffer | null = null;
  private size = 0;
  /** Bytes of empty lines before the request line, skipped (they count towards `maxHeaderBytes`). */
  private lead = 0;
  /** Whether the head's first line has begun (no empty line to skip any more). */
  private started: boolean;
  /** Whether the heads read are requests (a request line too long is then 414). */
  private readonly requests: boolean;

  /**
   * `skipEmptyLines`: empty lines (CRLF, or a bare LF) before the first line are ignored, as RFC 9112
   * §2.2 asks of a server before the request line (a client that sent CRLF after a POST body, say).
   * node:http skips any number; here they count towards `maxHeaderBytes`, so a peer sending empty
   * lines without end is cut by the limit. A bare CR there is refused (§2.2: invalid).
   */
  constructor(
    private readonly limits: HeadLimits,
    private readonly parse: (head: string, limits: HeadLimits, bytes: Uint8Array, at: number) => T,
    skipEmptyLines = parse === (parseRequestHead as unknown),
  ) {
    this.started = !skipEmptyLines;
    this.requests = parse === (parseRequestHead as unknown);
  }

  /** Feeds bytes; returns the parsed head once complete, or throws a HeadError. */
  push(chunk: Buffer): HeadResult<T> {
    let buf: Buffer;
    let from: number;
    if (this.acc === null) {
      buf = chunk;
      from = 0;
    } else {
      if (this.size + chunk.length > this.acc.length) {
        const grown = Buffer.allocUnsafe(Math.max(this.acc.length * 2, this.size + chunk.length));
        this.acc.copy(grown, 0, 0, this.size);
        this.acc = grown;
      }
      chunk.copy(this.acc, this.size);
      from = Math.max(0, this.size - 3); // the terminator may straddle the two pieces
      this.size += chunk.length;
      buf = this.acc.subarray(0, this.size);
    }
    if (!this.started) this.skipEmptyLines(buf);
    from = Math.max(from, this.lead);
    const at = this.started ? headEnd(buf, from) : -1;
    const end = at < 0 ? -1 : at + 4;
    if (end < 0 ? buf.length > this.limits.maxHeaderBytes : end > this.limits.maxHeaderBytes) throw this.overLimit(buf);
    if (end < 0) {
      // A line ended by a bare LF (which RFC 9112 §2.2 lets a recipient refuse) would leave the
      // head unfinished until the handshake deadline: it is refused at once. A whole head with one
      // is refused by the parser (no field, request line or status line may hold an LF).
      if (bareLf(buf, from)) throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'a line ends in a bare LF, not CRLF');
      // So would lines ended by a bare CR (RFC 9112 §2.2: invalid), which the parser refuses in any
      // whole head: refused as soon as the byte after the CR is not an LF.
      if (bareCr(buf, from)) throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'a bare CR not followed by LF');
      if (this.acc === null) {
        this.acc = Buffer.allocUnsafe(Math.max(1024, chunk.length * 2));
        chunk.copy(this.acc);
        this.size = chunk.length;
      }
      return { done: false };
    }
    const head = this.parse(buf.toString('latin1', this.lead, end - 4), this.limits, buf, this.lead);
    // The rest is copied out of the accumulator, or is a view of the caller's own chunk.
    const rest = this.acc === null ? buf.subarray(end) : Buffer.from(buf.subarray(end));
    this.acc = null;
    return { done: true, head, rest };
  }

  /**
   * The error for a head over `maxHeaderBytes`: 414 URI Too Long (RFC 9110 §15.5.15) when a request
   * line alone is longer than that (ended past the limit, or not ended at all), else 431.
   */
  private overLimit(buf: Buffer): HeadError {
    const max = this.limits.maxHeaderBytes;
    if (this.requests && this.started) {
      const eol = buf.indexOf('\r\n', this.lead, 'latin1');
      if ((eol < 0 ? buf.length : eol + 2) - this.lead > max)
        return new HeadError('ERR_WS_HEADER_LIMIT', 414, `request line over ${max} bytes`, 'maxHeaderBytes');
    }
    return new HeadError('ERR_WS_HEADER_LIMIT', 431, `HTTP head over ${max} bytes`, 'maxHeaderBytes');
  }

  /** Moves `lead` past the empty lines at the start of `buf`; sets `started` once a line begins. */
  private skipEmptyLines(buf: Buffer): void {
    let i = this.lead;
    while (i < buf.length) {
      const c = buf[i]!;
      if (c === 0x0a) i++;
      else if (c !== 0x0d) break;
      else if (i + 1 === buf.length) {
        this.lead = i; // a CR whose LF has not come yet
        return;
      } else if (buf[i + 1] === 0x0a) i += 2;
      else throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'a bare CR before the request line');
    }
    this.lead = i;
    this.started = i < buf.length;
  }
}

/**
 * Where the first CRLF CRLF in `buf` at or after `from` begins; -1 for none. Horspool's search, in
 * JavaScript (a head is short: node's `indexOf` costs more in its calls than in its search): the
 * window's last byte tells how far the next one may start, most often four bytes on. Internal (exported
 * for its test).
 */
export function headEnd(buf: Uint8Array, from: number): number {
  const n = buf.length;
  let i = from + 3;
  while (i < n) {
    const c = buf[i]!;
    if (c === 0x0a) {
      if (buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return i - 3;
      i += 2; // the LF may be the pattern's first one
    } else i += c === 0x0d ? 1 : 4;
  }
  return -1;
}

/** Whether `buf` holds an LF not preceded by a CR at or after `from` (`from` - 1 may be its CR). */
function bareLf(buf: Buffer, from: number): boolean {
  for (let i = buf.indexOf(0x0a, from); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (i === 0 || buf[i - 1] !== 0x0d) return true;
  }
  return false;
}

/** Whether `buf` holds a CR followed by another byte than LF at or after `from` (a CR at its end may still get its LF). */
function bareCr(buf: Buffer, from: number): boolean {
  for (let i = buf.indexOf(0x0d, from); i >= 0 && i + 1 < buf.length; i = buf.indexOf(0x0d, i + 1)) {
    if (buf[i + 1] !== 0x0a) return true;
  }
  return false;
}

/**
 * Parses a request head without its final CRLF CRLF. `bytes`, when given, holds the head's bytes from
 * `at` on (`bytes[at + i]` is `head.charCodeAt(i)`, as for a head decoded as Latin-1): the scans read
 * them, which V8 does faster than a string's characters; the strings are cut from `head`.
 */
export function parseRequestHead(head: string, limits: HeadLimits, bytes?: Uint8Array, at = 0): ParsedRequest {
  const b = bytes ?? codesOf(head);
  const eol = head.indexOf('\r\n');
  const requestLine = eol < 0 ? head : head.slice(0, eol);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 <= sp1 + 1 || requestLine.indexOf(' ', sp2 + 1) >= 0) {
    throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'malformed request line');
  }
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!isToken(method)) throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'malformed method');
  if (!isHttpVersion(version)) throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'malformed HTTP version');
  for (let i = at + sp1 + 1; i < at + sp2; i++) {
    const c = b[i]!;
    if (c <= 0x20 || c >= 0x7f) throw new HeadError('ERR_WS_BAD_REQUEST', 400, 'malformed request target');
  }
  const { headers, rawHeaders } = parseFields(head, eol, limits, b, at);
  return { method, target, httpVersion: version.slice(5), headers, rawHeaders };
}

/** Whether `v` is `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3), as /^HTTP\/\d\.\d$/ says, without running it. */
function isHttpVersion(v: string): boolean {
  return (
    v.length === 8 && v.startsWith('HTTP/') && isDigit(v.charCodeAt(5)) && v[6] === '.' && isDigit(v.charCodeAt(7))
  );
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * A string's characters as bytes, for the scans of a head given as a string alone: its Latin-1 bytes,
 * and 0x80 for a character past U+00FF, which the scans take as they take that character (obs-text:
 * no tchar, allowed in a value).
 */
function codesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    b[i] = c > 0xff ? 0x80 : c;
  }
  return b;
}

/**
 * Parses the header fields of a head, the CRLF-separated lines after its first line (which ends at
 * `eol`; -1: there are none), strictly: token names, no obs-fold, one Host. One pass over the bytes
 * (`b[at + i]` is `head.charCodeAt(i)`), in place: no line is sliced out, only each name and value.
 */
function parseFields(
  head: string,
  eol: number,
  limits: HeadLimits,
  b: Uint8Array,
  at: number,
): { headers: HttpHeaders; rawHeaders: string[] } {
  // No prototype (a field named `constructor` or `__proto__` is one like any other), and in V8's
  // fast mode, which Object.create(null) is not: heads with the same fields in the same order share
  // a hidden class, so the look-ups of validation and its Object.keys hit V8's caches.
  const headers: HttpHeaders = Object.setPrototypeOf({}, null) as HttpHeaders;
  const rawHeaders: string[] = [];
  const n = head.length;
  let fields = 0;
  /** The known names met so far, a bit each (by their index in KNOWN_NAMES): a repeat is found without a look-up. */
  let seen = 0;
  const tchar = tcharTable;
  while (eol >= 0) {
    const start = eol + 2;
    // Counted as they come; a refused field first counts the rest (a head over the limit is 431 whatever its fields hold).
    if (++fields > limits.maxHeaders) throw tooManyFields(limits);
    // The name: token characters up to the colon; no white space before it, no obs-fold (RFC 9112 §5).
    let colon = start;
    while (colon < n && tchar[b[at + colon]!] === 1) colon++;
    if (colon === start || colon === n || b[at + colon] !== 0x3a /* : */) throw badName(head, start, fields, limits);
    // The value, up to the CRLF (or the end of the head): no control character, a lone CR or LF included.
    eol = -1;
    let end = colon + 1;
    for (; end < n; end++) {
      const c = b[at + end]!;
      if (c < 0x20 ? c !== 0x09 : c === 0x7f) {
        if (c === 0x0d && end + 1 < n && b[at + end + 1] === 0x0a) {
          eol = end;
          break;
        }
        throw badField(head, end, fields, limits, 'control character in header value');
      }
    }
    let a = colon + 1;
    while (a < end && isOws(b[at + a]!)) a++;
    while (end > a && isOws(b[at + end - 1]!)) end--;
    const value = head.slice(a, end);
    const known = knownName(b, at + start, colon - start);
    if (known < 0) {
      const name = head.slice(start, colon);
      const key = name.toLowerCase();
      rawHeaders.push(name, value);
      const prev = headers[key];
      headers[key] = prev === undefined ? value : `${String(prev)}, ${value}`;
      continue;
    }
    const k = known & KNOWN_INDEX;
    // A name spelled as usual is that constant, not a slice of the head.
    rawHeaders.push(known & AS_SPELLED ? SPELLED[k]! : head.slice(start, colon), value);
    if ((seen & (1 << k)) === 0) {
      seen |= 1 << k;
      storeKnown(headers, k, value);
    } else if (k === 0 /* host */) throw badField(head, end, fields, limits, 'more than one Host header');
    else {
      const key = KNOWN_NAMES[k]!;
      headers[key] = `${String(headers[key])}, ${value}`;
    }
  }
  return { headers, rawHeaders };
}

/**
 * The field names of a handshake request, lower-case, written here as constants: a field with one
 * of them takes it as its key (V8 then neither lower-cases nor looks the name up to use it as one).
 * `host` first: index 0.
 */
const KNOWN_NAMES = [
  'host',
  'upgrade',
  'connection',
  'origin',
  'user-agent',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
];

/** The same names as clients usually spell them. */
const SPELLED = [
  'Host',
  'Upgrade',
  'Connection',
  'Origin',
  'User-Agent',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
];

const KNOWN_BYTES = KNOWN_NAMES.map((name) => Buffer.from(name, 'latin1'));
const SPELLED_BYTES = SPELLED.map((name) => Buffer.from(name, 'latin1'));
/** In knownName's answer: the index (KNOWN_INDEX bits), and whether the name is spelled as SPELLED says. */
const KNOWN_INDEX = 0xf;
const AS_SPELLED = 0x10;

/**
 * Which of KNOWN_NAMES the token of `length` bytes at `b[from]` is, whatever its case: its index, with
 * AS_SPELLED if it is spelled as SPELLED says; -1 for none. The length settles the candidate (two
 * names share one, which their first letters tell apart).
 */
function knownName(b: Uint8Array, from: number, length: number): number {
  let k: number;
  switch (length) {
    case 4:
      k = 0;
      break;
    case 7:
      k = 1;
      break;
    case 10:
      k = (b[from]! | 0x20) === 0x63 /* c */ ? 2 : 4;
      break;
    case 6:
      k = 3;
      break;
    case 17:
      k = 5;
      break;
    case 21:
      k = 6;
      break;
    case 22:
      k = 7;
      break;
    case 24:
      k = 8;
      break;
    default:
      return -1;
  }
  const lower = KNOWN_BYTES[k]!;
  const spelled = SPELLED_BYTES[k]!;
  let same = AS_SPELLED;
  for (let i = 0; i < length; i++) {
    const c = b[from + i]!;
    // OR 0x20 lower-cases a letter and keeps '-'; no other tchar turns into a lower-case letter or '-'.
    if ((c | 0x20) !== lower[i]) return -1;
    if (c !== spelled[i]) same = 0;
  }
  return k | same;
}

/** Sets the known field `k` (an index in KNOWN_NAMES) by its written-out name: V8 keeps such a store fast. */
function storeKnown(h: HttpHeaders, k: number, value: string): void {
  switch (k) {
    case 0:
      h.host = value;
      break;
    case 1:
      h.upgrade = value;
      break;
    case 2:
      h.connection = value;
      break;
    case 3:
      h.origin = value;
      break;
    case 4:
      h['user-agent'] = value;
      break;
    case 5:
      h['sec-websocket-key'] = value;
      break;
    case 6:
      h['sec-websocket-version'] = value;
      break;
    case 7:
      h['sec-websocket-protocol'] = value;
      break;
    default:
      h['sec-websocket-extensions'] = value;
  }
}

function tooManyFields(limits: HeadLimits): HeadError {
  return new HeadError('ERR_WS_HEADER_LIMIT', 431, `more than ${limits.maxHeaders} header fields`, 'maxHeaders');
}

/** A field line starting at `start` whose name does not end in a colon: which fault it is (or 431, as badField). */
function badName(head: string, start: number, fields: number, limits: HeadLimits): HeadError {
  const eol = head.indexOf('\r\n', start);
  const end = eol < 0 ? head.length : eol;
  const colon = head.indexOf(':', start);
  const detail = colon <= start || colon >= end ? 'malformed header field' : 'malformed header field name';
  return badField(head, start, fields, limits, detail);
}

/**
 * The error for a refused field, the `fields`th, at `at` in its line: 431 if the head holds more
 * fields than allowed (counted from the CRLF after `at`), else 400 with `detail`.
 */
function badField(head: string, at: number, fields: number, limits: HeadLimits, detail: string): HeadError {
  for (let eol = head.indexOf('\r\n', at); eol >= 0 && fields <= limits.maxHeaders; eol = head.indexOf('\r\n', eol + 2))
    fields++;
  return fields > limits.maxHeaders ? tooManyFields(limits) : new HeadError('ERR_WS_BAD_REQUEST', 400, detail);
}

/** Parses a response head without its final CRLF CRLF (the client handshake). */
export function parseResponseHead(head: string, limits: HeadLimits): ParsedResponse {
  const lines = head.split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!m) throw new HeadError('ERR_WS_BAD_RESPONSE', 0, 'malformed status line');
  const unfolded = unfold(lines).join('\r\n');
  const { headers, rawHeaders } = parseFields(unfolded, unfolded.indexOf('\r\n'), limits, codesOf(unfolded), 0);
  return { status: Number(m[2]), reason: m[3] ?? '', httpVersion: m[1]!, headers, rawHeaders };
}

/**
 * Joins obs-fold continuation lines to the field they continue, the fold replaced by one SP: a user
 * agent MUST accept them in a response (RFC 9112 §5.2), where a server may refuse them in a request
 * (ours does, 400). A continuation right after the status line stays, and is refused as malformed.
 */
function unfold(lines: string[]): string[] {
  const out = [lines[0]!];
  for (let l = 1; l < lines.length; l++) {
    const line = lines[l]!;
    const c = line.charCodeAt(0);
    if (isOws(c) && out.length > 1) out[out.length - 1] = `${trimOws(out.at(-1)!)} ${trimOws(line)}`;
    else out.push(line);
  }
  return out;
}

/** Response header fields, in the case they are written. */
export type ResponseHeaders = Record<string, string | string[]>;

/** The same fields with lower-case names (HTTP/2 wants them so, RFC 9113 §8.2.1). */
export function lowerCaseNames<T>(h: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(h)) out[k.toLowerCase()] = h[k]!;
  return out;
}

/** The reason phrases of RFC 9110 §15 (and RFC 6585's 428, 429, 431; RFC 7725's 451) for the statuses an answer may carry. */
const reasonPhrases: Record<number, string> = {
  101: 'Switching Protocols',
  200: 'OK',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return reasonPhrases[status] ?? 'Unknown';
}

/** Serialises a response head (and body); throws ERR_WS_INVALID_ARGUMENT for a field that would break the head. */
export function serializeResponse(status: number, headers: ResponseHeaders, body?: Buffer): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad HTTP status ${shown(status)}`);
  }
  return serializeHead(`HTTP/1.1 ${status} ${reasonPhrase(status)}`, headers, body);
}

/**
 * Whether `value` can be sent as a header field's value: no CR, LF or NUL (no header injection),
 * and no character over U+00FF (the head is written as Latin-1: U+010D, U+010A would be cut to
 * their low bytes, CR and LF).
 */
export function isSendableHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0 || c > 0xff) return false;
  }
  return true;
}

/** A header value as text (a number as its digits); one with no string form is ERR_WS_INVALID_ARGUMENT. */
function headerText(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad value for header ${name}`);
  }
}

/** One header line; a value that is not sendable throws ERR_WS_INVALID_ARGUMENT. */
function headerLine(name: string, value: string): string {
  if (!isSendableHeaderValue(value))
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad value for header ${name}`);
  return `${name}: ${value}\r\n`;
}

export function serializeHead(startLine: string, headers: ResponseHeaders, body?: Buffer): Buffer {
  return serializeFields(`${startLine}\r\n`, headers, Object.keys(headers), 0, body);
}

/**
 * `head` (the start line and the fields already written, each line ending in CRLF), then the fields
 * `names` from `from` on, each checked as `serializeHead` checks it, and the body.
 */
export function serializeFields(
  head: string,
  headers: ResponseHeaders,
  names: string[],
  from: number,
  body?: Buffer,
): Buffer {
  for (let i = from; i < names.length; i++) {
    const name = names[i]!;
    if (!isToken(name)) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad header name ${shown(name)}`);
    const v = headers[name]!;
    if (Array.isArray(v)) for (const value of v) head += headerLine(name, headerText(name, value));
    else head += headerLine(name, headerText(name, v));
  }
  head += '\r\n';
  const headBuf = Buffer.from(head, 'latin1');
  return body && body.length > 0 ? Buffer.concat([headBuf, body]) : headBuf;
}
