/**
 * WebSocket over HTTP/2 (RFC 8441): validation of an extended CONNECT request (§4–5). There is no
 * key/accept exchange; the answer is `:status 200`. Pure.
 */
import { shown, WebSocketError } from '../errors.js';
import type { HttpHeaders } from './http.js';
import { parseExtensions, type ExtensionOffer } from './extensions.js';
import { HandshakeError, checkNoFragment, computeAccept } from './handshake-server.js';
import { isToken, splitList, trimOws } from './tokens.js';

export interface ValidConnect {
  protocols: string[];
  extensions: ExtensionOffer[] | null;
  /**
   * `sec-websocket-accept` for a `sec-websocket-key` the request carried anyway: RFC 8441 uses neither, but undici 7
   * sends a key over HTTP/2 too and fails the connection without its accept. Undefined when no key came.
   */
  accept?: string;
}

function one(v: HttpHeaders[string]): string | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
}

/** Checks the request headers of an extended CONNECT; throws a HandshakeError naming the fault. */
export function validateConnectRequest(h: HttpHeaders): ValidConnect {
  if (one(h[':method']) !== 'CONNECT') throw new HandshakeError('ERR_WS_BAD_METHOD', 400, String(one(h[':method'])));
  if (one(h[':protocol']) === undefined) throw new HandshakeError('ERR_WS_NO_UPGRADE', 400, 'no :protocol');
  if (one(h[':protocol'])!.toLowerCase() !== 'websocket') throw new HandshakeError('ERR_WS_NO_UPGRADE_WEBSOCKET', 400);
  if (!one(h[':scheme']) || !one(h[':path']))
    throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, ':scheme and :path are required');
  checkNoFragment(one(h[':path'])!);
  if (!one(h[':authority'])) throw new HandshakeError('ERR_WS_NO_HOST', 400);
  if (h['content-length'] !== undefined) throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, CONTENT_LENGTH_ON_CONNECT);
  const version = one(h['sec-websocket-version']);
  if (version === undefined) throw new HandshakeError('ERR_WS_NO_SEC_VERSION', 400);
  // 400, not HTTP/1.1's 426 (RFC 6455 §4.4): 426 Upgrade Required asks for an upgrade, which HTTP/2
  // forbids (RFC 9113 §8.6). The refusal still names the version spoken (`sec-websocket-version: 13`).
  if (trimOws(version) !== '13') throw new HandshakeError('ERR_WS_BAD_SEC_VERSION', 400, version);
  const protocols = splitList(h['sec-websocket-protocol']);
  for (const p of protocols)
    if (!isToken(p)) throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'malformed Sec-WebSocket-Protocol');
  const key = one(h['sec-websocket-key']);
  const valid: ValidConnect = { protocols, extensions: parseExtensions(h['sec-websocket-extensions']) };
  if (key !== undefined) valid.accept = computeAccept(trimOws(key));
  return valid;
}

/**
 * An extended CONNECT has no content (RFC 9110 §9.3.6), and an HTTP/2 server holds the stream's DATA to a
 * Content-Length (node:http2 resets the stream at the first frame past it, 0 too): the WebSocket would break.
 */
const CONTENT_LENGTH_ON_CONNECT =
  'content-length on an extended CONNECT, which has no content (RFC 9110 §9.3.6): the stream would be reset at the first frame past it';
/** RFC 9110 §8.6: a server must not send Content-Length in a 2xx to a CONNECT (clients ignore it, RFC 9112 §6.3). */
const CONTENT_LENGTH_ON_2XX =
  'content-length on a 2xx to an extended CONNECT, which a server must not send (RFC 9110 §8.6)';

/** Connection-specific fields, which no HTTP/2 message may carry (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Why a field may not go in an HTTP/2 message as a regular field, or null: a pseudo-header (the
 * handshake sets those), a connection-specific field, or TE other than "trailers" (RFC 9113 §8.2.2).
 */
function forbiddenH2Field(name: string, value: unknown): string | null {
  const n = name.toLowerCase();
  if (n.startsWith(':')) return `${name} is a pseudo-header, which the handshake sets`;
  if (CONNECTION_SPECIFIC.has(n)) return `${name} is connection-specific, forbidden in HTTP/2 (RFC 9113 §8.2.2)`;
  if (n === 'te' && String(value).trim().toLowerCase() !== 'trailers')
    return 'TE other than "trailers" is forbidden in HTTP/2 (RFC 9113 §8.2.2)';
  return null;
}

/**
 * The regular fields of an extended CONNECT from the caller's `headers` and decorator: names
 * lowercased (HTTP/2 sends only lowercase names), a field forbidden in HTTP/2 refused with
 * ERR_WS_INVALID_ARGUMENT. `Host` is allowed only when it equals `authority` (then it is left out:
 * `:authority` carries it, RFC 9113 §8.3.1); any other Host is refused. Names that are no token and
 * values with CR, LF or NUL are refused too.
 */
export function requestFieldsH2(fields: Record<string, unknown>, authority: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(fields)) {
    const value = String(v);
    checkFieldH2(name, value);
    const n = name.toLowerCase();
    if (n === 'content-length') throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', CONTENT_LENGTH_ON_CONNECT);
    if (n === 'host') {
      if (value.trim().toLowerCase() !== authority.toLowerCase())
        throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `Host ${shown(value)} is not the URL's authority`);
      continue;
    }
    if (n in out) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `header ${name} is given twice`);
    out[n] = value;
  }
  return out;
}

/**
 * Checks the regular fields of an HTTP/2 response of `status` to an extended CONNECT (a decorator's
 * edits): ERR_WS_INVALID_ARGUMENT for a forbidden field, a name that is no token, a value with CR, LF or
 * NUL (RFC 9113 §8.2.1; node:http2 would send those as they are), or Content-Length on a 2xx.
 */
export function checkResponseFieldsH2(fields: Record<string, unknown>, status: number): void {
  for (const [name, value] of Object.entries(fields)) {
    checkFieldH2(name, value);
    if (status >= 200 && status <= 299 && name.toLowerCase() === 'content-length')
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', CONTENT_LENGTH_ON_2XX);
  }
}

/** One regular field of an HTTP/2 message: ERR_WS_INVALID_ARGUMENT if it is forbidden, its name no token, or a value holds CR, LF or NUL. */
function checkFieldH2(name: string, value: unknown): void {
  const why = forbiddenH2Field(name, value);
  if (why !== null) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', why);
  if (!isToken(name)) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad header name ${shown(name)}`);
  for (const v of Array.isArray(value) ? value : [value])
    if (typeof v === 'string' && /[\r\n\0]/.test(v))
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad value for header ${shown(name)}`);
}

/** The fields of `fields` that HTTP/2 allows, names lowercased (for an error response, which goes whatever a decorator did). */
export function allowedFieldsH2<T>(fields: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [name, value] of Object.entries(fields))
    if (forbiddenH2Field(name, value) === null) out[name.toLowerCase()] = value;
  return out;
}
