/**
 * `handshake`: the client-role handshake (RFC 6455 §4.1), after Beast's `async_handshake`. Sends
 * the upgrade request with a fresh key, reads and checks the response, and opens the stream; bytes
 * the server sent after its response are the first frame bytes. A refused upgrade fails with
 * ERR_WS_UPGRADE_DECLINED and the response (status, headers, body) on `err.response`.
 */
import { Buffer } from 'node:buffer';
import { WebSocketError } from '../errors.js';
import {
  checkFn,
  checkSignal,
  normaliseRequestLimits,
  type NormalStreamOptions,
  type ResponseHeaders,
  responseLimitDefaults,
} from '../options.js';
import { clientOffer, type DeflateParams } from '../proto/deflate-params.js';
import {
  ClientHandshakeError,
  newSecKey,
  serializeRequest,
  upgradeRequestHeaders,
  validateUpgradeResponse,
} from '../proto/handshake-client.js';
import { type HeadError, HeadReader, parseResponseHead, type ParsedResponse } from '../proto/http.js';
import { splitList } from '../proto/tokens.js';
import { Completion, type Callback } from './completion.js';
import type { NextLayer } from './next-layer.js';
import type { Waiter } from './write-queue.js';

/** What a handshake agreed: the subprotocol ('' for none), the extensions header ('' for none), deflate's parameters. */
export interface Agreement {
  protocol: string;
  extensions: string;
  deflate?: DeflateParams | undefined;
}

/**
 * What a handshake (accept, handshake) may do to its stream, in this order: `begin`; while it runs,
 * `read` (where received bytes go) and `send` (a head, in order with frames); then `open` (frames
 * flow; may come before the head is handed on) and `ready` (operations may start) — or `giveUp`.
 */
export interface HandshakeHost {
  readonly nextLayer: NextLayer;
  /** The stream's options (its permessage-deflate configuration). */
  readonly options: NormalStreamOptions;
  /**
   * Claims the stream for the handshake that `c` completes: the next layer's end or failure before it agreed,
   * its timeout, or an abort of `signal`, fails it, and the stream gives up (the layer torn down). False (with
   * `c` failed) if it may not start.
   */
  begin(c: Completion<void>, signal: AbortSignal | undefined): boolean;
  /** Received bytes go to `reader` until `open`. */
  read(reader: (chunk: Buffer) => void): void;
  /** Queues raw bytes (a handshake head) in order with frames; `waiter` once they are handed on. */
  send(bytes: Buffer, waiter: Waiter): void;
  /** Replaces what fails the running handshake (the layer's end or failure before it agreed, its deadline, its signal; null: nothing). */
  onAbort(fn: ((err: WebSocketError) => void) | null): void;
  /** The handshake agreed: frames flow from here on in `role`; `head` are the first frame bytes. */
  open(role: 'server' | 'client', agreed: Agreement, head: Buffer | undefined): void;
  /** The handshake completed: operations may start. */
  ready(): void;
  /** The handshake failed: the stream lets go of the layer, which the handshake tears down. */
  giveUp(err: WebSocketError): void;
}

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
  /** Limit on the response head, in bytes; more fails with ERR_WS_HEADER_LIMIT. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Limit on the number of the response's header fields; more fails with ERR_WS_HEADER_LIMIT. Default 2000. */
  maxHeaders?: number;
  /** Cancels the handshake: the layer is destroyed and it completes with ERR_WS_ABORTED. */
  signal?: AbortSignal;
}

/** The request's options that are not the request itself. */
export type RequestOptions = Pick<HandshakeOptions, 'protocols' | 'headers' | 'decorator' | 'signal'>;

/**
 * The request's options that are not the request itself (`serializeRequest` checks that), each read
 * once, checked, and kept (the list of subprotocols and the headers copied): what is checked is what
 * is sent, whatever a getter answers the next time. Each wrong one throws ERR_WS_INVALID_ARGUMENT,
 * before anything is sent (or, for connect(), connected).
 */
export function readRequestOptions(o: RequestOptions): RequestOptions {
  const decorator = checkFn('decorator', o.decorator);
  const given: unknown = o.protocols;
  const protocols = Array.isArray(given) ? given.slice() : given;
  if (protocols !== undefined && !(Array.isArray(protocols) && protocols.every((p) => typeof p === 'string'))) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'protocols must be an array of strings');
  }
  const headers: unknown = o.headers;
  if (headers !== undefined && (typeof headers !== 'object' || headers === null)) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'headers must be an object');
  }
  return {
    protocols,
    headers: headers === undefined ? undefined : { ...(headers as ResponseHeaders) },
    decorator,
    signal: checkSignal(o.signal),
  };
}

/** How much of a refused response's body is kept. */
export const BODY_MAX = 64 * 1024;
/** How long to wait for the rest of a refused response's body, in ms. */
export const BODY_WAIT = 1000;

export function startHandshake(
  ws: HandshakeHost,
  options: HandshakeOptions,
  callback: Callback<void> | undefined,
): Promise<void> | undefined {
  // Each option is read once, into a local (a getter may answer differently each time).
  const host = typeof options === 'object' && options !== null ? options.host : undefined;
  if (typeof host !== 'string' || host === '') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'handshake needs { host }');
  }
  const { protocols = [], headers: given, decorator, signal } = readRequestOptions(options);
  const key = newSecKey();
  const headers = upgradeRequestHeaders({ host, protocols, headers: given }, key);
  const deflate = ws.options.perMessageDeflate;
  if (deflate) headers['Sec-WebSocket-Extensions'] = clientOffer(deflate);
  decorator?.(headers);
  const request = serializeRequest(options.target ?? '/', headers);
  const limits = normaliseRequestLimits(
    { maxHeaderBytes: options.maxHeaderBytes, maxHeaders: options.maxHeaders },
    responseLimitDefaults,
  );
  const c = new Completion<void>(callback);
  if (!ws.begin(c, signal)) return c.started();
  let reader = new HeadReader(limits, parseResponseHead);
  ws.read((chunk) => {
    let r: ReturnType<typeof reader.push>;
    for (;;) {
      try {
        r = reader.push(chunk);
      } catch (e) {
        const he = e as HeadError;
        // Over a limit: the option to raise is named (a head over it is no malformed one).
        const err =
          he.limit === undefined
            ? new ClientHandshakeError('ERR_WS_BAD_RESPONSE', he.detail)
            : new ClientHandshakeError('ERR_WS_HEADER_LIMIT', `${he.detail} in the response (option ${he.limit})`);
        fail(ws, c, err);
        return;
      }
      if (!r.done) return;
      // An interim response (1xx but 101: 100 Continue, 103 Early Hints) comes before the final
      // one, and a client must read past it (RFC 9110 §15.2): the 101 or the refusal follows.
      const status = r.head.status;
      if (status < 100 || status > 199 || status === 101) break;
      reader = new HeadReader(limits, parseResponseHead);
      chunk = r.rest;
    }
    let accepted: ReturnType<typeof validateUpgradeResponse>;
    try {
      accepted = validateUpgradeResponse(r.head, key, protocols, deflate ?? undefined);
    } catch (e) {
      const he = e as ClientHandshakeError;
      if (he.code === 'ERR_WS_UPGRADE_DECLINED') readBody(ws, r.head, r.rest, he, c);
      else fail(ws, c, he);
      return;
    }
    ws.open('client', accepted, r.rest);
    ws.ready();
    c.succeed();
  });
  ws.send(request, (e) => {
    if (e && !c.settled) fail(ws, c, e);
  });
  return c.started();
}

function fail(ws: HandshakeHost, c: Completion<void>, err: WebSocketError): void {
  ws.giveUp(err);
  ws.nextLayer.destroy();
  c.fail(err);
}

/**
 * The length a refusal's Content-Length gives its body, or NaN when it gives none: RFC 9110 §8.6 allows
 * digits only (a list repeating one value is that value); under Transfer-Encoding it frames nothing
 * (RFC 9112 §6.3). Without a length the body is what comes until the end, BODY_MAX or BODY_WAIT.
 */
function bodyLength(headers: ParsedResponse['headers']): number {
  if (headers['transfer-encoding'] !== undefined) return NaN;
  const values = splitList(headers['content-length']);
  const first = values[0];
  if (first === undefined || !/^\d+$/.test(first) || values.some((v) => v !== first)) return NaN;
  return Number(first);
}

/** Keeps what the server sent as the body of its refusal (bounded in size and time), then fails. */
function readBody(
  ws: HandshakeHost,
  res: ParsedResponse,
  first: Buffer,
  err: ClientHandshakeError,
  c: Completion<void>,
): void {
  const length = bodyLength(res.headers);
  const want = Number.isNaN(length) ? BODY_MAX : Math.min(length, BODY_MAX);
  const parts: Buffer[] = [first];
  let got = first.length;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  /** `cause`: the caller's signal aborted the handshake (it fails with ERR_WS_ABORTED, as before the response came). */
  const finish = (cause?: WebSocketError): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const body = Buffer.concat(parts, got).subarray(0, want);
    err.response = { status: res.status, reason: res.reason, headers: res.headers, body };
    ws.onAbort(null);
    fail(ws, c, cause ?? err);
  };
  if (got >= want) return finish();
  // The layer's end or failure, or the handshake's deadline, end the body; the signal, the handshake.
  ws.onAbort((e) => finish(e.code === 'ERR_WS_ABORTED' ? e : undefined));
  ws.read((chunk) => {
    parts.push(chunk);
    got += chunk.length;
    if (got >= want) finish();
  });
  timer = setTimeout(finish, BODY_WAIT);
}
