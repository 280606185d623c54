/**
 * `accept`: the server-role handshake (RFC 6455 §4.2), after Beast's `async_accept`. A composed
 * operation of the next layer's reads and writes: it validates the request (or first reads it),
 * answers 101 with the chosen subprotocol and the decorator's headers, and opens the stream; a bad
 * request is answered 400/414/426/431, the layer torn down, and the operation fails with the code
 * that names the fault. It completes exactly once, never from within the call. The request is
 * read during the call and not kept.
 */
import { Buffer } from 'node:buffer';
import { WebSocketError } from '../errors.js';
import { normaliseAcceptOptions, type AcceptOptions, type ResponseHeaders } from '../options.js';
import { negotiateAsServer } from '../proto/deflate-params.js';
import { constants as h2constants, type ServerHttp2Stream as Http2Stream } from 'node:http2';
import type { ExtensionOffer } from '../proto/extensions.js';
import { allowedFieldsH2, checkResponseFieldsH2, validateConnectRequest } from '../proto/handshake-h2.js';
import {
  HandshakeError,
  acceptResponse,
  errorResponse,
  type ValidUpgrade,
  validateUpgradeRequest,
} from '../proto/handshake-server.js';
import type { DuplexLayer } from './next-layer.js';
import {
  type HeadError,
  HeadReader,
  lowerCaseNames,
  parseRequestHead,
  serializeResponse,
  type UpgradeRequest,
} from '../proto/http.js';
import { Completion, type Callback } from './completion.js';
import { sendAndTearDown } from './reject.js';
import type { Agreement, HandshakeHost } from './handshake.js';

/** How long a refused peer may keep the connection after our error response, in ms. */
const REFUSE_LINGER = 2000;

type Opts = ReturnType<typeof normaliseAcceptOptions>;

/**
 * Requests already checked by RFC 6455 before `accept` was called, with the outcome (ws-stream/ws
 * checks before `verifyClient`, as ws does): `accept` takes it instead of checking a second time.
 * Internal (not exported by the package); an entry is used once.
 */
const checked = new WeakMap<object, ValidUpgrade | HandshakeError>();

/** Records the outcome of `validateUpgradeRequest(req)` for the next `accept` of `req`. */
export function markChecked(req: UpgradeRequest, outcome: ValidUpgrade | HandshakeError): void {
  checked.set(req, outcome);
}

/** The recorded outcome for `req` (thrown if a refusal), else the check made now. */
function validated(req: UpgradeRequest): ValidUpgrade {
  const outcome = checked.get(req);
  if (outcome === undefined) return validateUpgradeRequest(req);
  checked.delete(req);
  if (outcome instanceof HandshakeError) throw outcome;
  return outcome;
}

export function isRequest(x: unknown): x is UpgradeRequest {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as UpgradeRequest).headers === 'object' &&
    (x as UpgradeRequest).headers !== null
  );
}

export function startAccept(
  ws: HandshakeHost,
  req: UpgradeRequest | undefined,
  options: AcceptOptions | undefined,
  callback: Callback<void> | undefined,
): Promise<void> | undefined {
  if (callback !== undefined && typeof callback !== 'function') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'callback must be a function');
  }
  const opts = normaliseAcceptOptions(options);
  const c = new Completion<void>(callback);
  if (!ws.begin(c, opts.signal)) return c.started();
  if (req !== undefined) {
    const head = opts.head;
    respond(
      ws,
      req,
      head === undefined || head.length === 0
        ? undefined
        : Buffer.isBuffer(head)
          ? head
          : Buffer.from(head.buffer, head.byteOffset, head.byteLength),
      opts,
      c,
    );
  } else {
    const reader = new HeadReader(opts, parseRequestHead);
    const onBytes = (chunk: Buffer): void => {
      let r: ReturnType<typeof reader.push>;
      try {
        r = reader.push(chunk);
      } catch (e) {
        const he = e as HeadError;
        refuse(ws, he.status, he, opts, c);
        return;
      }
      if (r.done) respond(ws, r.head, r.rest, opts, c, true);
    };
    ws.read(onBytes);
    if (opts.head && opts.head.length > 0) onBytes(Buffer.from(opts.head));
  }
  return c.started();
}

/** The HTTP/2 stream under `ws`, when its next layer is one (RFC 8441: WebSocket over HTTP/2). */
function h2StreamOf(ws: HandshakeHost): Http2Stream | null {
  const d = (ws.nextLayer as Partial<DuplexLayer>).duplex as Partial<Http2Stream> | undefined;
  return d && typeof d.respond === 'function' ? (d as Http2Stream) : null;
}

/** What the server agrees to on a valid request: the selector's subprotocol, and permessage-deflate. */
function agree(
  ws: HandshakeHost,
  req: UpgradeRequest,
  valid: { protocols: string[]; extensions: ExtensionOffer[] | null },
  opts: Opts,
): Agreement {
  let protocol: string | undefined;
  if (opts.selectProtocol && valid.protocols.length > 0) {
    protocol = opts.selectProtocol(valid.protocols, req);
    if (protocol !== undefined && !valid.protocols.includes(protocol)) {
      throw new WebSocketError(
        'ERR_WS_INVALID_ARGUMENT',
        `selectProtocol chose ${JSON.stringify(protocol)}, which was not offered`,
      );
    }
  }
  const config = ws.options.perMessageDeflate;
  const deflate = config && valid.extensions ? negotiateAsServer(valid.extensions, config) : null;
  // '' for none: an offered subprotocol is a token, never empty.
  return { protocol: protocol ?? '', extensions: deflate?.response ?? '', deflate: deflate?.params };
}

/** Refuses the request for what building the answer threw: its status for a HandshakeError, 500 for anything the selector or decorator threw. */
function refuseFor(ws: HandshakeHost, e: unknown, opts: Opts, c: Completion<void>, headRequest = false): void {
  if (e instanceof HandshakeError) refuse(ws, e.status, e, opts, c, headRequest);
  else refuse(ws, 500, asError(e), opts, c, headRequest);
}

/** `parsed`: `req` is what accept()'s own reader just parsed (nobody else has seen it: see validateUpgradeRequest). */
function respond(
  ws: HandshakeHost,
  req: UpgradeRequest,
  head: Buffer | undefined,
  opts: Opts,
  c: Completion<void>,
  parsed = false,
): void {
  if (!parsed && req.headers[':method'] !== undefined) return respondH2(ws, req, opts, c);
  let agreed: Agreement;
  let bytes: Buffer;
  try {
    const valid = parsed ? validateUpgradeRequest(req, true) : validated(req);
    agreed = agree(ws, req, valid, opts);
    bytes = acceptResponse(valid.key, agreed.protocol, agreed.extensions, opts.decorator);
  } catch (e) {
    refuseFor(ws, e, opts, c, req.method === 'HEAD');
    return;
  }
  ws.send(bytes, (err) => {
    if (c.settled) return; // failed meanwhile (its deadline, its signal): the stream was given up
    if (err) {
      // The 101 never went whole: the handshake failed, and the stream is closed for every operation.
      ws.giveUp(err);
      ws.nextLayer.destroy();
      c.fail(err);
      return;
    }
    ws.ready();
    c.succeed();
  });
  // Frames may arrive right behind the request: the stream reads them while the 101 goes out.
  ws.open('server', agreed, head);
}

/**
 * The extended CONNECT of RFC 8441 on an HTTP/2 stream: validated as §4–5 say, answered
 * `:status 200` with the chosen subprotocol and extensions (same selector and decorator as
 * HTTP/1.1); then the stream carries RFC 6455 frames as a TCP socket does.
 */
function respondH2(ws: HandshakeHost, req: UpgradeRequest, opts: Opts, c: Completion<void>): void {
  const h2 = h2StreamOf(ws);
  let agreed: Agreement;
  let headers: ResponseHeaders;
  try {
    if (h2 === null)
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'an HTTP/2 request needs an HTTP/2 stream as the next layer');
    const valid = validateConnectRequest(req.headers);
    agreed = agree(ws, req, valid, opts);
    headers = valid.accept === undefined ? {} : { 'sec-websocket-accept': valid.accept };
    if (agreed.protocol !== '') headers['sec-websocket-protocol'] = agreed.protocol;
    if (agreed.extensions !== '') headers['sec-websocket-extensions'] = agreed.extensions;
    opts.decorator?.(headers, 200);
    // A field HTTP/2 forbids is the decorator's fault: 500 on this stream, not node's throw.
    checkResponseFieldsH2(headers, 200);
  } catch (e) {
    refuseFor(ws, e, opts, c);
    return;
  }
  try {
    h2!.respond({ ...lowerCaseNames(headers), ':status': 200 });
  } catch (e) {
    // The peer reset the stream, or its session ended, before this answer: no fault of the caller's. The
    // layer tells it (its 'close' is coming, or attach() queued it), as a reset or as an end.
    if (h2!.closed || h2!.destroyed) return;
    // node refused a field (a name or value it will not send): still an answer, 500, on this stream.
    refuse(ws, 500, asError(e), opts, c);
    return;
  }
  ws.open('server', agreed, undefined);
  ws.ready();
  c.succeed();
}

/**
 * Answers with an HTTP error, tears the layer down, and fails the operation with `err`. `headRequest`:
 * the request was a HEAD, whose answer has the same fields and no content (RFC 9110 §9.3.2).
 */
function refuse(
  ws: HandshakeHost,
  status: number,
  err: WebSocketError,
  opts: Opts,
  c: Completion<void>,
  headRequest = false,
): void {
  const h2 = h2StreamOf(ws);
  if (h2 !== null) {
    // HTTP/2: an error status on this stream only; the connection and its other streams go on.
    // A wrong version names the one spoken, as HTTP/1.1's 426 does (over HTTP/2 the status is 400).
    const extra = err.code === 'ERR_WS_BAD_SEC_VERSION' ? { 'Sec-WebSocket-Version': '13' } : undefined;
    const { headers: plain, body } = errorResponse(status, err.message, extra);
    // Fields HTTP/2 forbids (Connection, which errorResponse sets for HTTP/1.1, or a decorator's)
    // are left out (RFC 9113 §8.2.2). If the decorator throws, sets a value HTTP/2 cannot carry,
    // or one node refuses, the plain error response goes.
    const tries = [plain];
    try {
      const decorated = { ...plain };
      opts.decorator?.(decorated as ResponseHeaders, status);
      checkResponseFieldsH2(allowedFieldsH2(decorated), status);
      tries.unshift(decorated);
    } catch {
      /* the plain one */
    }
    ws.giveUp(err);
    for (const fields of tries) {
      try {
        h2.respond({ ...allowedFieldsH2(fields), ':status': status });
        h2.end(body);
        break;
      } catch {
        if (fields === plain && !h2.destroyed) h2.close(h2constants.NGHTTP2_INTERNAL_ERROR);
      }
    }
    lingerH2(h2);
    queueMicrotask(() => c.fail(err));
    return;
  }
  const { headers, body: reason } = errorResponse(status, err.message);
  const body = headRequest ? undefined : reason;
  let bytes: Buffer;
  try {
    opts.decorator?.(headers as ResponseHeaders, status);
    bytes = serializeResponse(status, headers, body);
  } catch {
    bytes = serializeResponse(status, errorResponse(status, err.message).headers, body);
  }
  ws.giveUp(err);
  sendAndTearDown(ws.nextLayer, bytes, REFUSE_LINGER).then(
    () => c.fail(err),
    () => c.fail(err),
  );
}

/**
 * A refused stream is reset (RST_STREAM NO_ERROR) if the client has not ended its side within
 * REFUSE_LINGER: after a complete response the server may do so (RFC 9113 §8.1), and a client that
 * keeps the stream open must not hold it forever. What it still sends is read and dropped.
 */
function lingerH2(h2: Http2Stream): void {
  if (h2.destroyed) return;
  h2.on('error', () => {}); // a reset by the peer is no failure now
  h2.resume();
  if (h2.readableEnded) return;
  const timer = setTimeout(() => {
    if (!h2.destroyed) h2.close(h2constants.NGHTTP2_NO_ERROR);
  }, REFUSE_LINGER);
  timer.unref();
  h2.once('end', () => clearTimeout(timer));
  h2.once('close', () => clearTimeout(timer));
}

function asError(e: unknown): WebSocketError {
  if (e instanceof WebSocketError) return e;
  return new WebSocketError('ERR_WS_INVALID_ARGUMENT', e instanceof Error ? e.message : String(e), { cause: e });
}
