/**
 * Server-role handshake (RFC 6455 §4.2): validation of an upgrade request, and the response that
 * answers it. Pure: a request in, a response head out, in Beast's order of checks.
 */
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { WebSocketError, type ErrorCode } from '../errors.js';
import {
  type HttpHeaders,
  type ResponseHeaders,
  serializeFields,
  serializeResponse,
  type UpgradeRequest,
} from './http.js';
import { parseExtensions, type ExtensionOffer } from './extensions.js';
import { hasToken, isCaselessly, isHostValue, isToken, splitList, trimOws, type HeaderValue } from './tokens.js';

/** RFC 6455 §1.3 */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `crypto.hash` (Node 20.12+): no Hash object per handshake. */
const oneShotHash = (crypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2 step 5.4). */
export function computeAccept(key: string): string {
  if (typeof key !== 'string') throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'the key must be a string');
  return oneShotHash !== undefined
    ? oneShotHash('sha1', key + GUID, 'base64')
    : crypto
        .createHash('sha1')
        .update(key + GUID)
        .digest('base64');
}

/** A refused handshake: the error and the status that answers it. */
export class HandshakeError extends WebSocketError {
  readonly status: number;
  constructor(code: ErrorCode, status: number, detail?: string) {
    super(code, detail);
    this.status = status;
  }
}

/** What a valid request asks for. */
export interface ValidUpgrade {
  key: string;
  /** Subprotocols offered, in the client's order. */
  protocols: string[];
  /** The `Sec-WebSocket-Extensions` offers, parsed (null when the header is malformed: no extension is then used). */
  extensions: ExtensionOffer[] | null;
}

function header(headers: HttpHeaders, name: string, value: HeaderValue, lowerCaseKeys = false): HeaderValue {
  // `value` is `headers[name]`, read by the caller with the name written out: V8 keeps such a load
  // fast, where `headers[name]` with a name that varies is a generic lookup every time.
  // Plain request objects may spell names in any case; node:http lower-cases them. Only a key as
  // long as the (ASCII, lower-case) name can be it lower-cased: lower-casing never shortens a string,
  // and the one letter it lengthens ('İ') turns into a string that is not ASCII.
  // Most lookups that miss are of fields a request usually lacks (Content-Length, the subprotocols):
  // the names are walked without an array of them made per miss (own names only, as Object.keys).
  // `lowerCaseKeys`: the library's own parser made the object, every key lower-case: no walk.
  if (value !== undefined || lowerCaseKeys) return value;
  for (const k in headers) {
    if (k.length === name.length && isCaselessly(k, name) && Object.hasOwn(headers, k)) return headers[k];
  }
  return undefined;
}

/**
 * A field's value as one string, without optional white space at its ends (SP, HTAB: RFC 9110
 * §5.5), and nothing more: a key or version that ends in another byte (obs-text 0xA0, which
 * `trim()` takes for white space) is not 16 bytes in base64, nor "13".
 */
function single(v: HeaderValue): string | undefined {
  if (v === undefined) return undefined;
  return trimOws(Array.isArray(v) ? v.join(', ') : v);
}

/** How many Host fields a request's `rawHeaders` (name, value, name, value, …) hold. */
function hostFields(raw: unknown[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (typeof name === 'string' && isCaselessly(name, 'host')) n++;
  }
  return n;
}

/** Whether `key` is 16 bytes in base64 (RFC 6455 §4.2.1 item 5): 22 base64 characters, then '=='. */
function isBase64Key(key: string): boolean {
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    if (c >= 128 || base64Table[c] === 0) return false;
  }
  return true;
}

const base64Table = new Uint8Array(128);
for (const c of '+/0123456789') base64Table[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) base64Table[c] = base64Table[c + 0x20] = 1;

/**
 * Whether a request target is in absolute-form with an authority (RFC 9112 §3.2.2, RFC 3986 §3):
 * a scheme (a letter, then letters, digits, '+', '-', '.'), then "://". Not "host:port" (CONNECT's
 * authority-form, whose host would pass for a scheme), nor a target with "://" only in its query.
 */
function isAbsoluteUri(target: string): boolean {
  const colon = target.indexOf(':');
  if (colon <= 0 || target.charCodeAt(colon + 1) !== 0x2f || target.charCodeAt(colon + 2) !== 0x2f) return false;
  for (let i = 0; i < colon; i++) {
    const c = target.charCodeAt(i);
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!letter && (i === 0 || !((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e))) return false;
  }
  return true;
}

/**
 * Refuses a request target with a fragment: RFC 9112 §3.2's forms have none (a client strips it
 * before sending), and RFC 6455 §3 says a WebSocket URI must not use one. Also for HTTP/2's `:path`.
 */
export function checkNoFragment(target: string): void {
  if (target.includes('#'))
    throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'the request target has a fragment (#...), which none may');
}

/** No subprotocols or extensions offered (shared, never changed). */
const NONE: never[] = Object.freeze([]) as never[];

/**
 * Whether a request asks for a WebSocket upgrade at all (GET, Connection: upgrade, Upgrade: websocket),
 * read as `validateUpgradeRequest` reads the same three: a method is case-sensitive (RFC 9110 §9.1),
 * so a `get` is no GET here either, where accept() would answer it 400.
 */
export function isUpgrade(req: UpgradeRequest): boolean {
  if (typeof req !== 'object' || req === null) return false;
  const h = req.headers;
  return (
    typeof h === 'object' &&
    h !== null &&
    req.method === 'GET' &&
    hasToken(header(h, 'connection', h.connection), 'upgrade') &&
    hasToken(header(h, 'upgrade', h.upgrade), 'websocket')
  );
}

/**
 * Checks a request against RFC 6455 §4.2.1; throws a HandshakeError naming the first fault. `parsed`:
 * `req` is what the library's own parser (`parseRequestHead`) made, untouched since: every key is
 * lower-case and a second Host was refused, so no key is searched in another case and the raw fields
 * are not counted again. Internal (the package exports `isUpgrade`, not this).
 */
export function validateUpgradeRequest(req: UpgradeRequest, parsed = false): ValidUpgrade {
  if (typeof req !== 'object' || req === null || typeof req.headers !== 'object' || req.headers === null) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'the request must have headers');
  }
  const h = req.headers;
  const httpVersion = req.httpVersion;
  if (httpVersion !== '1.1' && httpVersion !== undefined) {
    const version = /^(\d+)\.(\d+)$/.exec(String(httpVersion));
    // RFC 9112 §2.6: another major version is not HTTP/1.x (505); a later 1.x is taken as 1.1.
    if (version && Number(version[1]) !== 1) {
      throw new HandshakeError('ERR_WS_BAD_HTTP_VERSION', 505, `HTTP/${httpVersion} is not HTTP/1.x`);
    }
    if (!version || Number(version[2]) < 1) throw new HandshakeError('ERR_WS_BAD_HTTP_VERSION', 400);
  }
  if (req.method !== 'GET') throw new HandshakeError('ERR_WS_BAD_METHOD', 400, String(req.method));
  // RFC 6455 §4.1 / RFC 9112 §3.2: a GET names a resource, a path or an absolute URI; `*` (OPTIONS'
  // asterisk-form) or `host:port` (CONNECT's authority-form) names none.
  const target = req.target ?? req.url;
  if (typeof target === 'string' && target[0] !== '/' && !isAbsoluteUri(target)) {
    throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'the request target is neither a path nor an absolute URI');
  }
  if (typeof target === 'string') checkNoFragment(target);
  const host = single(header(h, 'host', h.host, parsed));
  if (host === undefined || host === '') throw new HandshakeError('ERR_WS_NO_HOST', 400);
  // node:http keeps the first of several Host fields; RFC 9112 §3.2 wants such a request refused.
  const raw = parsed ? undefined : (req as { rawHeaders?: unknown }).rawHeaders;
  if (Array.isArray(raw) && hostFields(raw) > 1)
    throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'more than one Host header');
  // RFC 9112 §3.2: a Host field with an invalid value MUST be answered 400, as a missing or repeated one.
  if (!isHostValue(host)) throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'malformed Host header');
  // A body (RFC 9112 §6.3) belongs to the request: the frames would start after it, where nobody
  // reads it; taken for frames instead, its bytes would be messages the client never framed (RFC
  // 9110 §9.3.1: content in a GET has no semantics and may be rejected as a smuggling attempt).
  const length = header(h, 'content-length', h['content-length'], parsed);
  if (
    (length !== undefined && !/^0+$/.test(single(length)!)) ||
    header(h, 'transfer-encoding', h['transfer-encoding'], parsed) !== undefined
  )
    throw new HandshakeError(
      'ERR_WS_BAD_REQUEST',
      400,
      'the upgrade request has a body (Content-Length or Transfer-Encoding)',
    );
  const connection = header(h, 'connection', h.connection, parsed);
  if (connection === undefined) throw new HandshakeError('ERR_WS_NO_CONNECTION', 400);
  if (!hasToken(connection, 'upgrade')) throw new HandshakeError('ERR_WS_NO_CONNECTION_UPGRADE', 400);
  const upgrade = header(h, 'upgrade', h.upgrade, parsed);
  if (upgrade === undefined) throw new HandshakeError('ERR_WS_NO_UPGRADE', 400);
  if (!hasToken(upgrade, 'websocket')) throw new HandshakeError('ERR_WS_NO_UPGRADE_WEBSOCKET', 400);
  const key = single(header(h, 'sec-websocket-key', h['sec-websocket-key'], parsed));
  if (key === undefined) throw new HandshakeError('ERR_WS_NO_SEC_KEY', 400);
  if (!isBase64Key(key)) throw new HandshakeError('ERR_WS_BAD_SEC_KEY', 400);
  const secVersion = single(header(h, 'sec-websocket-version', h['sec-websocket-version'], parsed));
  if (secVersion === undefined) throw new HandshakeError('ERR_WS_NO_SEC_VERSION', 400);
  if (secVersion !== '13') throw new HandshakeError('ERR_WS_BAD_SEC_VERSION', 426, secVersion);
  const offered = header(h, 'sec-websocket-protocol', h['sec-websocket-protocol'], parsed);
  const protocols = offered === undefined ? NONE : splitList(offered);
  for (const p of protocols) {
    if (!isToken(p)) throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'malformed Sec-WebSocket-Protocol');
  }
  const extensions = header(h, 'sec-websocket-extensions', h['sec-websocket-extensions'], parsed);
  return { key, protocols, extensions: extensions === undefined ? NONE : parseExtensions(extensions) };
}

/** Headers of the 101 response (RFC 6455 §4.2.2 step 5), with `accept` the key's Sec-WebSocket-Accept. */
function acceptResponseHeaders(accept: string, protocol?: string, extensions?: string): ResponseHeaders {
  const headers: ResponseHeaders = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': accept,
  };
  if (protocol !== undefined) headers['Sec-WebSocket-Protocol'] = protocol;
  if (extensions) headers['Sec-WebSocket-Extensions'] = extensions;
  return headers;
}

/** The 101 response up to the accept value: the same bytes as `acceptResponseHeaders` serialised. */
const ACCEPT_HEAD =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

/** The fields of the 101 that `acceptResponse` sets itself (a decorator that sets one changes it in place). */
const ownFields = [
  'Upgrade',
  'Connection',
  'Sec-WebSocket-Accept',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
];

/**
 * Decorators that add the same fields to every 101 (`serve`'s), with those lines serialised and
 * checked once: the 101 is then one string, as without a decorator, and not a header object made,
 * decorated, listed and checked per handshake. Internal (not exported by the package).
 */
const fixedDecorations = new WeakMap<object, string>();

/**
 * Records that `decorator` adds `fields` to a 101, always, in their order (and does nothing else to
 * it): `acceptResponse` then writes their lines, made here, where it would call it. Fields that would
 * not come out the same that way are not recorded (the decorator is then called per handshake, as
 * any other): one the 101 sets itself (changed in place), a name that is an integer (such keys go
 * first in an object) or `__proto__` (an assignment sets no field), or a field `serializeFields`
 * refuses (refused per handshake, as before).
 */
export function recordFixedDecoration(
  decorator: (headers: ResponseHeaders, status: number) => void,
  fields: ResponseHeaders,
): void {
  const names = Object.keys(fields);
  if (names.some((n) => ownFields.includes(n) || n === '__proto__' || /^\d+$/.test(n))) return;
  let lines: string;
  try {
    lines = serializeFields('', fields, names, 0).toString('latin1');
  } catch {
    return;
  }
  fixedDecorations.set(decorator, lines.slice(0, -2)); // without the head's final CRLF
}

/**
 * The 101 response. Without a decorator, one string: the fixed head, the accept value, and the
 * agreed subprotocol (one of the offered tokens) and extensions (made by us), which need no checks,
 * then a recorded decorator's fixed lines; another decorator edits the fields as an object,
 * serialised with the checks of `serializeResponse`.
 */
export function acceptResponse(
  key: string,
  protocol: string,
  extensions: string,
  decorator: ((headers: ResponseHeaders, status: number) => void) | undefined,
): Buffer {
  let fixed = '';
  if (decorator !== undefined) {
    const recorded = fixedDecorations.get(decorator);
    if (recorded === undefined) return decoratedAcceptResponse(key, protocol, extensions, decorator);
    fixed = recorded;
  }
  let head = `${ACCEPT_HEAD}${computeAccept(key)}\r\n`;
  if (protocol !== '') head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  if (extensions !== '') head += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  return Buffer.from(`${head}${fixed}\r\n`, 'latin1');
}

/** The 101 edited by a decorator (not a recorded one) as a header object, then serialised and checked. */
function decoratedAcceptResponse(
  key: string,
  protocol: string,
  extensions: string,
  decorator: (headers: ResponseHeaders, status: number) => void,
): Buffer {
  const accept = computeAccept(key);
  const headers = acceptResponseHeaders(accept, protocol === '' ? undefined : protocol, extensions);
  decorator(headers, 101);
  // The three fields set above, if the decorator left them first, in order and as they were, are the
  // fixed head's bytes (valid, as serializeResponse would write them); what follows is checked.
  const names = Object.keys(headers);
  if (
    names[0] === 'Upgrade' &&
    names[1] === 'Connection' &&
    names[2] === 'Sec-WebSocket-Accept' &&
    headers.Upgrade === 'websocket' &&
    headers.Connection === 'Upgrade' &&
    headers['Sec-WebSocket-Accept'] === accept
  ) {
    return serializeFields(`${ACCEPT_HEAD}${accept}\r\n`, headers, names, 3);
  }
  return serializeResponse(101, headers);
}

/** Headers and body of an HTTP error response that refuses an upgrade. */
export function errorResponse(
  status: number,
  reason: string,
  extra?: ResponseHeaders,
): { headers: ResponseHeaders; body: Buffer } {
  const body = Buffer.from(`${reason.replace(/[\r\n]+/g, ' ')}\n`, 'utf8');
  const headers: ResponseHeaders = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
  };
  if (status === 426) {
    // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to; §7.8: whoever sends Upgrade MUST
    // list "upgrade" in Connection, so that no intermediary forwards the field.
    headers.Connection = 'Upgrade, close';
    headers.Upgrade = 'websocket';
    headers['Sec-WebSocket-Version'] = '13';
  }
  return { headers: { ...headers, ...extra }, body };
}
