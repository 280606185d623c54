/**
 * WebSocket over HTTP/2 (RFC 8441): validation of an extended CONNECT request (§4–5). There is no
 * key/accept exchange; the answer is `:status 200`. Pure.
 */
import type { HttpHeaders } from './http.js';
import { parseExtensions, type ExtensionOffer } from './extensions.js';
import { HandshakeError, computeAccept } from './handshake-server.js';
import { isToken, splitList } from './tokens.js';

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
  if (!one(h[':authority'])) throw new HandshakeError('ERR_WS_NO_HOST', 400);
  const version = one(h['sec-websocket-version']);
  if (version === undefined) throw new HandshakeError('ERR_WS_NO_SEC_VERSION', 400);
  if (version.trim() !== '13') throw new HandshakeError('ERR_WS_BAD_SEC_VERSION', 426, version);
  const protocols = splitList(h['sec-websocket-protocol']);
  for (const p of protocols)
    if (!isToken(p)) throw new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'malformed Sec-WebSocket-Protocol');
  const key = one(h['sec-websocket-key']);
  const valid: ValidConnect = { protocols, extensions: parseExtensions(h['sec-websocket-extensions']) };
  if (key !== undefined) valid.accept = computeAccept(key.trim());
  return valid;
}
