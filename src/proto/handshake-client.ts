/**
 * Client-role handshake (RFC 6455 §4.1): the upgrade request, and the checks of the server's
 * response (§4.1 steps 1–6 of "the client MUST validate the server's response"). Pure.
 */
import { randomBytes } from 'node:crypto';
import { shown, WebSocketError } from '../errors.js';
import { serializeHead, type ParsedResponse, type ResponseHeaders } from './http.js';
import { computeAccept } from './handshake-server.js';
import { acceptAsClient, type DeflateConfig, type DeflateParams } from './deflate-params.js';
import { parseExtensions } from './extensions.js';
import { type HeaderValue, hasToken, isToken, splitList, trimOws } from './tokens.js';

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1). */
export function newSecKey(): string {
  return randomBytes(16).toString('base64');
}

export interface ClientRequestOptions {
  /** The `Host` header: host[:port]. */
  host: string;
  /** The request target: path and query. Default '/'. */
  target?: string;
  /** Subprotocols to offer, in order of preference. */
  protocols?: string[];
  /** Extra request headers (they may not replace the handshake's own). */
  headers?: ResponseHeaders;
}

/** The request head fields, in the order they are written. */
export function upgradeRequestHeaders(o: ClientRequestOptions, key: string): ResponseHeaders {
  const headers: ResponseHeaders = {
    Host: o.host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  if (o.protocols && o.protocols.length > 0) {
    const seen = new Set<string>();
    for (const p of o.protocols) {
      if (!isToken(p) || seen.has(p))
        throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `invalid or repeated subprotocol ${shown(p)}`);
      seen.add(p);
    }
    headers['Sec-WebSocket-Protocol'] = o.protocols.join(', ');
  }
  const own = new Set(Object.keys(headers).map((k) => k.toLowerCase()));
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (own.has(k.toLowerCase()))
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `header ${k} is set by the handshake`);
    headers[k] = v;
  }
  return headers;
}

/** Serialises a request head. */
export function serializeRequest(target: string, headers: ResponseHeaders): Buffer {
  if (typeof target !== 'string' || !/^\/[\x21-\x7e]*$/.test(target))
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `bad request target ${shown(target)}`);
  return serializeHead(`GET ${target} HTTP/1.1`, headers);
}

/** The HTTP response of a refused handshake, for the caller to inspect. */
export interface RefusedResponse {
  status: number;
  reason: string;
  headers: ParsedResponse['headers'];
  /** The body, as far as it was read (at most 64 KiB). */
  body: Buffer;
}

/** A failed client handshake; `response` is set when the server answered other than 101. */
export class ClientHandshakeError extends WebSocketError {
  response?: RefusedResponse;
}

/** What the server agreed to. */
export interface AcceptedResponse {
  protocol: string;
  /** The extensions header of the response, or ''. */
  extensions: string;
  /** permessage-deflate as agreed, when we offered it and the server accepted. */
  deflate?: DeflateParams;
}

/**
 * Checks a response to our upgrade request; throws a ClientHandshakeError naming the first fault.
 * A status other than 101 in HTTP/1.x is ERR_WS_UPGRADE_DECLINED (its body is read by the caller).
 */
export function validateUpgradeResponse(
  res: ParsedResponse,
  key: string,
  offered: string[],
  deflate?: DeflateConfig,
): AcceptedResponse {
  const h = res.headers;
  // RFC 9112 §2.6: a major version other than 1 is no HTTP/1.x response, whatever its status says.
  if (res.httpVersion[0] !== '1')
    throw new ClientHandshakeError('ERR_WS_BAD_RESPONSE', `HTTP/${res.httpVersion} is not HTTP/1.x`);
  if (res.status !== 101)
    throw new ClientHandshakeError('ERR_WS_UPGRADE_DECLINED', `${res.status} ${res.reason}`.trim());
  if (h.upgrade === undefined) throw new ClientHandshakeError('ERR_WS_NO_UPGRADE');
  // The value itself must be "websocket" (§4.1 step 2), not a list holding it: a 101 switches to one protocol.
  if (trimOws(String(h.upgrade)).toLowerCase() !== 'websocket')
    throw new ClientHandshakeError('ERR_WS_NO_UPGRADE_WEBSOCKET', String(h.upgrade));
  if (h.connection === undefined) throw new ClientHandshakeError('ERR_WS_NO_CONNECTION');
  if (!hasToken(h.connection, 'upgrade')) throw new ClientHandshakeError('ERR_WS_NO_CONNECTION_UPGRADE');
  const accept = h['sec-websocket-accept'];
  if (accept === undefined) throw new ClientHandshakeError('ERR_WS_NO_SEC_ACCEPT');
  if (trimOws(String(accept)) !== computeAccept(key)) throw new ClientHandshakeError('ERR_WS_BAD_SEC_ACCEPT');
  const protocolField = h['sec-websocket-protocol'];
  const protocol = chosenSubprotocol(protocolField, offered);
  if (protocol === null) throw new ClientHandshakeError('ERR_WS_BAD_SUBPROTOCOL', String(protocolField));
  // Only what we offered may come back (RFC 6455 §4.1): permessage-deflate, when configured.
  const raw = h['sec-websocket-extensions'];
  const text = raw === undefined ? '' : Array.isArray(raw) ? raw.join(', ') : trimOws(raw);
  if (splitList(raw).length === 0) return { protocol, extensions: '' };
  const parsed = deflate ? parseExtensions(raw) : null;
  const params = parsed ? acceptAsClient(parsed, deflate) : null;
  if (params === null) throw new ClientHandshakeError('ERR_WS_BAD_EXTENSION', text);
  return { protocol, extensions: text, deflate: params };
}

/**
 * The subprotocol a response's `Sec-WebSocket-Protocol` field chose ('' for none), or null when the
 * field breaks RFC 6455 §4.1 step 6: when present, it names exactly one of the offered subprotocols
 * (an empty one names none). Over HTTP/1.1 and HTTP/2 alike.
 */
export function chosenSubprotocol(field: HeaderValue, offered: readonly string[]): string | null {
  const chosen = splitList(field);
  if ((field !== undefined && chosen.length === 0) || chosen.length > 1) return null;
  if (chosen.length === 1 && !offered.includes(chosen[0]!)) return null;
  return chosen[0] ?? '';
}
