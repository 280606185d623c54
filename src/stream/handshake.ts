/**
 * `handshake`: the client-role handshake (RFC 6455 §4.1), after Beast's `async_handshake`. Sends
 * the upgrade request with a fresh key, reads and checks the response, and opens the stream; bytes
 * the server sent after its response are the first frame bytes. A refused upgrade fails with
 * ERR_WS_UPGRADE_DECLINED and the response (status, headers, body) on `err.response`.
 */
import { WebSocketError } from '../errors.js';
import { normaliseRequestLimits, type ResponseHeaders } from '../options.js';
import { clientOffer } from '../proto/deflate-params.js';
import {
  ClientHandshakeError,
  newSecKey,
  serializeRequest,
  upgradeRequestHeaders,
  validateUpgradeResponse,
} from '../proto/handshake-client.js';
import { type HeadError, HeadReader, parseResponseHead, type ParsedResponse } from '../proto/http.js';
import { Completion, type Callback } from './completion.js';
import type { WebSocketStream } from './websocket-stream.js';

export interface HandshakeOptions {
  /** The `Host` header (host[:port]). */
  host: string;
  /** The request target (path and query). Default '/'. */
  target?: string;
  /** Subprotocols to offer, in order of preference. */
  protocols?: string[];
  /** Extra request headers (`Origin`, `Authorization`, …). */
  headers?: ResponseHeaders;
  /** Edits the request headers last. */
  decorator?: (headers: ResponseHeaders) => void;
  /** Limit on the response head, in bytes. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Cancels the handshake: the layer is destroyed and it completes with ERR_WS_ABORTED. */
  signal?: AbortSignal;
}

/** How much of a refused response's body is kept. */
const BODY_MAX = 64 * 1024;
/** How long to wait for the rest of a refused response's body, in ms. */
const BODY_WAIT = 1000;

export function startHandshake(
  ws: WebSocketStream,
  options: HandshakeOptions,
  callback: Callback<void> | undefined,
): Promise<void> | undefined {
  if (typeof options !== 'object' || options === null || typeof options.host !== 'string' || options.host === '') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'handshake needs { host }');
  }
  const key = newSecKey();
  const headers = upgradeRequestHeaders(options, key);
  const deflate = ws._opts.perMessageDeflate;
  if (deflate) headers['Sec-WebSocket-Extensions'] = clientOffer(deflate);
  options.decorator?.(headers);
  const request = serializeRequest(options.target ?? '/', headers);
  const limits = normaliseRequestLimits({ maxHeaderBytes: options.maxHeaderBytes });
  const c = new Completion<void>(callback);
  if (!ws._beginHandshake(c, options.signal)) return c.started();
  const reader = new HeadReader(limits, parseResponseHead);
  ws._setDataHandler((chunk) => {
    let r: ReturnType<typeof reader.push>;
    try {
      r = reader.push(chunk);
    } catch (e) {
      const he = e as HeadError;
      fail(ws, c, new ClientHandshakeError('ERR_WS_BAD_RESPONSE', he.message));
      return;
    }
    if (!r.done) return;
    let accepted: ReturnType<typeof validateUpgradeResponse>;
    try {
      accepted = validateUpgradeResponse(r.head, key, options.protocols ?? [], deflate ?? undefined);
    } catch (e) {
      const he = e as ClientHandshakeError;
      if (he.code === 'ERR_WS_UPGRADE_DECLINED') readBody(ws, r.head, r.rest, he, c);
      else fail(ws, c, he);
      return;
    }
    ws.protocol = accepted.protocol;
    ws.extensions = accepted.extensions;
    ws._onHandshakeAbort(null);
    ws._open('client', r.rest, accepted.deflate);
    ws._ready();
    c.succeed();
  });
  ws._writeRaw(request, (e) => {
    if (e) c.fail(e);
  });
  return c.started();
}

function fail(ws: WebSocketStream, c: Completion<void>, err: WebSocketError): void {
  ws._giveUp(err);
  ws.nextLayer.destroy();
  c.fail(err);
}

/** Keeps what the server sent as the body of its refusal (bounded in size and time), then fails. */
function readBody(
  ws: WebSocketStream,
  res: ParsedResponse,
  first: Buffer,
  err: ClientHandshakeError,
  c: Completion<void>,
): void {
  const length = Number(res.headers['content-length'] ?? NaN);
  const want = Number.isFinite(length) ? Math.min(length, BODY_MAX) : BODY_MAX;
  const parts: Buffer[] = [first];
  let got = first.length;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const body = Buffer.concat(parts, got).subarray(0, want);
    err.response = { status: res.status, reason: res.reason, headers: res.headers, body };
    ws._onHandshakeAbort(null);
    fail(ws, c, err);
  };
  if (got >= want) return finish();
  ws._onHandshakeAbort(() => finish());
  ws._setDataHandler((chunk) => {
    parts.push(chunk);
    got += chunk.length;
    if (got >= want) finish();
  });
  timer = setTimeout(finish, BODY_WAIT);
}
