/**
 * `accept`: the server-role handshake (RFC 6455 §4.2), after Beast's `async_accept`. A composed
 * operation of the next layer's reads and writes: it validates the request (or first reads it),
 * answers 101 with the chosen subprotocol and the decorator's headers, and opens the stream; a bad
 * request is answered 400/426/431, the layer torn down, and the operation fails with the code
 * that names the fault. It completes exactly once, never from within the call. The request is
 * read during the call and not kept.
 */
import { WebSocketError } from '../errors.js';
import { normaliseAcceptOptions, type AcceptOptions, type ResponseHeaders } from '../options.js';
import { negotiateAsServer, type DeflateParams } from '../proto/deflate-params.js';
import { HandshakeError, acceptResponseHeaders, errorResponse, validateUpgradeRequest } from '../proto/handshake-server.js';
import { HeadError, HeadReader, parseRequestHead, serializeResponse, type UpgradeRequest } from '../proto/http.js';
import { Completion, type Callback } from './completion.js';
import { sendAndTearDown } from './reject.js';
import type { WebSocketStream } from './websocket-stream.js';

/** How long a refused peer may keep the connection after our error response, in ms. */
const REFUSE_LINGER = 2000;

type Opts = ReturnType<typeof normaliseAcceptOptions>;

export function isRequest(x: unknown): x is UpgradeRequest {
  return typeof x === 'object' && x !== null && typeof (x as UpgradeRequest).headers === 'object' && (x as UpgradeRequest).headers !== null;
}

export function startAccept(
  ws: WebSocketStream, req: UpgradeRequest | undefined, options: AcceptOptions | undefined, callback: Callback<void> | undefined,
): Promise<void> | undefined {
  if (callback !== undefined && typeof callback !== 'function') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'callback must be a function');
  }
  const opts = normaliseAcceptOptions(options);
  const c = new Completion<void>(callback);
  if (!ws._beginHandshake(c, opts.signal)) return c.started();
  if (req !== undefined) {
    respond(ws, req, opts.head ? Buffer.from(opts.head.buffer, opts.head.byteOffset, opts.head.byteLength) : undefined, opts, c);
  } else {
    const reader = new HeadReader(opts, parseRequestHead);
    const onBytes = (chunk: Buffer): void => {
      let r;
      try {
        r = reader.push(chunk);
      } catch (e) {
        const he = e as HeadError;
        refuse(ws, he.status, he, opts, c);
        return;
      }
      if (r.done) respond(ws, r.head, r.rest, opts, c);
    };
    ws._setDataHandler(onBytes);
    if (opts.head && opts.head.length > 0) onBytes(Buffer.from(opts.head));
  }
  return c.started();
}

function respond(ws: WebSocketStream, req: UpgradeRequest, head: Buffer | undefined, opts: Opts, c: Completion<void>): void {
  let bytes: Buffer;
  let protocol: string | undefined;
  let deflate: { response: string; params: DeflateParams } | null = null;
  try {
    const valid = validateUpgradeRequest(req);
    if (opts.selectProtocol && valid.protocols.length > 0) {
      protocol = opts.selectProtocol(valid.protocols, req);
      if (protocol !== undefined && !valid.protocols.includes(protocol)) {
        throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `selectProtocol chose ${JSON.stringify(protocol)}, which was not offered`);
      }
    }
    const config = ws._opts.perMessageDeflate;
    if (config && valid.extensions) deflate = negotiateAsServer(valid.extensions, config);
    const headers = acceptResponseHeaders(valid.key, protocol, deflate?.response);
    opts.decorator?.(headers, 101);
    bytes = serializeResponse(101, headers);
  } catch (e) {
    if (e instanceof HandshakeError) refuse(ws, e.status, e, opts, c);
    else refuse(ws, 500, asError(e), opts, c);
    return;
  }
  ws.protocol = protocol ?? '';
  ws.extensions = deflate?.response ?? '';
  ws._writeRaw(bytes, (err) => {
    ws._onHandshakeAbort(null);
    if (err) {
      c.fail(err);
      return;
    }
    ws._ready();
    c.succeed();
  });
  ws._open('server', head, deflate?.params);
}

/** Answers with an HTTP error, tears the layer down, and fails the operation with `err`. */
function refuse(ws: WebSocketStream, status: number, err: WebSocketError, opts: Opts, c: Completion<void>): void {
  const { headers, body } = errorResponse(status, err.message);
  let bytes: Buffer;
  try {
    opts.decorator?.(headers as ResponseHeaders, status);
    bytes = serializeResponse(status, headers, body);
  } catch {
    bytes = serializeResponse(status, errorResponse(status, err.message).headers, body);
  }
  ws._giveUp(err);
  sendAndTearDown(ws.nextLayer, bytes, REFUSE_LINGER).then(() => c.fail(err), () => c.fail(err));
}

function asError(e: unknown): WebSocketError {
  if (e instanceof WebSocketError) return e;
  return new WebSocketError('ERR_WS_INVALID_ARGUMENT', e instanceof Error ? e.message : String(e), { cause: e });
}
