/**
 * WebSocket over HTTP/2, client role (RFC 8441 §4–5): waits for the server's
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, opens an extended CONNECT stream with `:protocol websocket`,
 * checks for a 2xx answer, and runs the WebSocket over that stream. Many WebSockets share
 * one HTTP/2 connection: pass the same `ClientHttp2Session` to each.
 */
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
// Imported, not the global: node's global `performance` is a getter, run on every use.
import { performance } from 'node:perf_hooks';
import { WebSocketError } from '../errors.js';
import { normaliseStreamOptions, type StreamOptions } from '../options.js';
import { acceptAsClient, clientOffer, type DeflateParams } from '../proto/deflate-params.js';
import { parseExtensions } from '../proto/extensions.js';
import { ClientHandshakeError, chosenSubprotocol } from '../proto/handshake-client.js';
import { requestFieldsH2 } from '../proto/handshake-h2.js';
import { splitList } from '../proto/tokens.js';
import { BODY_MAX, BODY_WAIT } from './handshake.js';
import { WebSocketStream, adoptOpen } from './websocket-stream.js';

export interface ConnectH2Options extends StreamOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  /**
   * Edits the request's regular headers last. Names are lowercased; a pseudo-header, a
   * connection-specific field, TE other than "trailers", or a Host that is not the URL's authority
   * is ERR_WS_INVALID_ARGUMENT, before any connection is made.
   */
  decorator?: (headers: Record<string, string>) => void;
  /** Time to connect and receive the server's SETTINGS, in ms, this caller's own (also on a shared session). Default 10000. */
  connectTimeout?: number;
  /** An HTTP/2 session to open the WebSocket on (it is not closed with the WebSocket). */
  session?: http2.ClientHttp2Session;
  /** For a session made here: `http2.connect` options (ca, rejectUnauthorized, …). */
  connectOptions?: http2.SecureClientSessionOptions;
  signal?: AbortSignal;
}

/** How long to wait for the server's SETTINGS frame, in ms, by default. */
const SETTINGS_WAIT = 10000;

/** Sessions whose server SETTINGS arrived: nothing to wait for. */
const settingsKnown = new WeakSet<http2.ClientHttp2Session>();
/** The one wait (and one set of listeners) per session whose SETTINGS are not known yet. */
const settingsWaits = new WeakMap<http2.ClientHttp2Session, Promise<void>>();

function ignoreError(): void {}

function sessionGone(what: string): WebSocketError {
  return new WebSocketError('ERR_WS_EOF', `the HTTP/2 session ${what}`);
}

/**
 * Resolves once the session has the server's SETTINGS: the 'remoteSettings' event, or, for a
 * session that got them before we listened (it emits no more), a PING's answer, which comes after
 * them (the server's preface is its SETTINGS, RFC 9113 §3.4). Rejects at once when the session
 * closes or gets GOAWAY (ERR_WS_EOF) or fails (ERR_WS_NEXT_LAYER). No deadline: each caller bounds it.
 */
function settingsOf(session: http2.ClientHttp2Session): Promise<void> {
  if (settingsKnown.has(session)) return Promise.resolve();
  let wait = settingsWaits.get(session);
  if (wait) return wait;
  wait = new Promise<void>((resolve, reject) => {
    if (session.destroyed || session.closed) return reject(sessionGone('is closed'));
    const onSettings = (): void => done(null);
    const onClose = (): void => done(sessionGone('closed before the server sent its SETTINGS'));
    const onGoaway = (): void => done(sessionGone('got GOAWAY before the SETTINGS'));
    const onError = (err: Error): void => done(new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err }));
    const ping = (): void => {
      try {
        session.ping((err) => {
          if (!err) done(null);
        });
      } catch {
        /* closed meanwhile: 'close' tells */
      }
    };
    const done = (err: WebSocketError | null): void => {
      session.off('remoteSettings', onSettings);
      session.off('close', onClose);
      session.off('goaway', onGoaway);
      session.off('error', onError);
      session.off('connect', ping);
      settingsWaits.delete(session);
      if (err) return reject(err);
      settingsKnown.add(session);
      resolve();
    };
    session.on('remoteSettings', onSettings);
    session.on('close', onClose);
    session.on('goaway', onGoaway);
    session.on('error', onError);
    // A session still connecting cannot have its SETTINGS yet; one connected may.
    if (session.connecting) session.once('connect', ping);
    else ping();
  });
  settingsWaits.set(session, wait);
  return wait;
}

/**
 * Waits for `wait`, bounded by `timeoutMs` (0: no bound; ERR_WS_TIMEOUT with `what`) and by
 * `signal` (ERR_WS_ABORTED). The listener and timer are gone once it settles; `wait` itself is
 * left to run (another caller may share it).
 */
function bounded<T>(wait: Promise<T>, timeoutMs: number, what: string, signal: AbortSignal | undefined): Promise<T> {
  if (timeoutMs === 0 && signal === undefined) return wait;
  return new Promise<T>((resolve, reject) => {
    const timer =
      timeoutMs > 0
        ? setTimeout(() => done(new WebSocketError('ERR_WS_TIMEOUT', `${what} took over ${timeoutMs} ms`)), timeoutMs)
        : undefined;
    const onAbort = (): void => done(new WebSocketError('ERR_WS_ABORTED'));
    const done = (err: WebSocketError | null, value?: T): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value!);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    wait.then(
      (v) => done(null, v),
      (e: WebSocketError) => done(e),
    );
  });
}

/**
 * The extended CONNECTs waiting for their answer on each session, told of its GOAWAY by one listener
 * per session: one per stream would pass node's limit of 10 (MaxListenersExceededWarning) with 11
 * WebSockets opening at once on a shared session.
 */
const goawayWatches = new WeakMap<http2.ClientHttp2Session, Set<(lastStreamID: number) => void>>();

function onWatchedGoaway(this: http2.ClientHttp2Session, _code: number, lastStreamID: number): void {
  for (const watch of goawayWatches.get(this) ?? []) watch(lastStreamID);
}

/** Calls `watch` with the last stream ID of a GOAWAY `session` receives, until the function returned is called. */
function watchGoaway(session: http2.ClientHttp2Session, watch: (lastStreamID: number) => void): () => void {
  let watches = goawayWatches.get(session);
  if (watches === undefined) {
    watches = new Set();
    goawayWatches.set(session, watches);
    session.on('goaway', onWatchedGoaway);
  }
  watches.add(watch);
  const own = watches;
  return () => {
    own.delete(watch);
    if (own.size > 0 || goawayWatches.get(session) !== own) return;
    goawayWatches.delete(session);
    session.off('goaway', onWatchedGoaway);
  };
}

/**
 * The answer to the extended CONNECT on `req`: its response headers, or a typed failure as soon as
 * the stream is reset or fails (ERR_WS_NEXT_LAYER), or the session closes or its GOAWAY leaves this
 * stream out (ERR_WS_EOF).
 */
function answerOf(session: http2.ClientHttp2Session, req: http2.ClientHttp2Stream): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const onResponse = (h: http2.IncomingHttpHeaders): void => done(null, h);
    // The stream's own end (a reset, an error) is ERR_WS_NEXT_LAYER; the session's end, which takes the stream with it, ERR_WS_EOF.
    const sessionEnded = (): boolean => session.destroyed || session.closed;
    const onError = (err: Error): void =>
      done(
        sessionEnded()
          ? sessionGone('closed before the extended CONNECT was answered')
          : new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err }),
      );
    const onClose = (): void =>
      done(
        sessionEnded()
          ? sessionGone('closed before the extended CONNECT was answered')
          : new WebSocketError(
              'ERR_WS_NEXT_LAYER',
              `the HTTP/2 stream was reset (error code ${req.rstCode}) before an answer`,
            ),
      );
    const onGoaway = (lastStreamID: number): void => {
      if (req.id === undefined || lastStreamID < req.id)
        done(sessionGone('got GOAWAY, which leaves the extended CONNECT out'));
    };
    const done = (err: WebSocketError | null, h?: http2.IncomingHttpHeaders): void => {
      req.off('response', onResponse);
      // The stream may fail after this, before anything else listens (a GOAWAY with an error code that
      // leaves it out tells 'goaway' first and destroys the session with its streams after): not thrown.
      req.on('error', ignoreError);
      req.off('error', onError);
      req.off('close', onClose);
      unwatchGoaway();
      if (err) reject(err);
      else resolve(h!);
    };
    req.on('response', onResponse);
    req.on('error', onError);
    req.on('close', onClose);
    const unwatchGoaway = watchGoaway(session, onGoaway);
  });
}

/** How long the body of a refusal may still take: BODY_WAIT, or what is left of the handshake's deadline when less. */
function bodyWait(handshakeTimeout: number, started: number): number {
  if (handshakeTimeout === 0) return BODY_WAIT;
  return Math.max(0, Math.min(BODY_WAIT, handshakeTimeout - (performance.now() - started)));
}

/**
 * The body of a refused extended CONNECT, as over HTTP/1.1 (handshake.ts): what comes until the
 * stream ends or fails, BODY_MAX bytes, or `waitMs`, whichever is first (its first BODY_MAX bytes);
 * `aborted` when `signal` aborted first (the handshake then fails with ERR_WS_ABORTED, not the refusal).
 * A failure of the stream meanwhile, such as its session's, ends the body: answerOf left a listener for it.
 */
function refusalBody(
  req: http2.ClientHttp2Stream,
  waitMs: number,
  signal: AbortSignal | undefined,
): Promise<{ body: Buffer; aborted: boolean }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (d: Buffer): void => {
      parts.push(d);
      size += d.length;
      if (size >= BODY_MAX) done(false);
    };
    const onEnd = (): void => done(false);
    const onAbort = (): void => done(true);
    const timer = setTimeout(onEnd, waitMs);
    function done(aborted: boolean): void {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onEnd);
      signal?.removeEventListener('abort', onAbort);
      // Read no more of it (its flow-control window is not opened again for bytes nobody keeps).
      req.pause();
      resolve({ body: Buffer.concat(parts, size).subarray(0, BODY_MAX), aborted });
    }
    if (signal?.aborted) return done(true);
    if (req.destroyed) return done(false); // reset or its session gone before the body was read: nothing more comes
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onEnd);
  });
}

export async function connectH2(url: URL, options: ConnectH2Options): Promise<WebSocketStream> {
  const {
    protocols = [],
    headers = {},
    decorator,
    connectTimeout = SETTINGS_WAIT,
    session: given,
    connectOptions,
    signal,
    ...streamOptions
  } = options;
  const origin = `${url.protocol === 'wss:' || url.protocol === 'https:' ? 'https' : 'http'}://${url.host}`;
  // The request's fields are checked before any connection is made (a bad one opens no session).
  const regular: Record<string, string> = { ...headers };
  decorator?.(regular);
  const fields = requestFieldsH2(regular, url.host);
  const { handshakeTimeout } = normaliseStreamOptions(streamOptions);
  if (signal?.aborted) throw new WebSocketError('ERR_WS_ABORTED');
  const session = given ?? http2.connect(origin, connectOptions);
  const own = given === undefined;
  // A session made here reports its failures through connect's promise or the WebSocket's stream, never as an unhandled event.
  if (own) session.on('error', () => {});
  // Any failure destroys a session made here; a shared one is the caller's, never ours to destroy.
  const fail = (err: WebSocketError): never => {
    if (own) session.destroy();
    throw err;
  };
  // The server's SETTINGS tell whether it speaks extended CONNECT. The wait is shared per session,
  // its deadline (connectTimeout) is this caller's.
  await bounded(settingsOf(session), connectTimeout, "the HTTP/2 server's SETTINGS", signal).catch(
    (e: WebSocketError) => fail(e),
  );
  // A session already closing (GOAWAY received, or closed by its owner) takes no new stream.
  if (session.closed || session.destroyed) fail(sessionGone('is closing: it takes no new stream'));
  if (!session.remoteSettings.enableConnectProtocol) {
    fail(
      new WebSocketError(
        'ERR_WS_UPGRADE_DECLINED',
        'the HTTP/2 server does not enable extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)',
      ),
    );
  }
  const deflateConfig = streamOptions.perMessageDeflate
    ? streamOptions.perMessageDeflate === true
      ? {}
      : streamOptions.perMessageDeflate
    : null;
  const reqHeaders: http2.OutgoingHttpHeaders = {
    ...fields,
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': origin.startsWith('https') ? 'https' : 'http',
    ':path': (url.pathname || '/') + url.search,
    ':authority': url.host,
    'sec-websocket-version': '13',
  };
  if (protocols.length > 0) reqHeaders['sec-websocket-protocol'] = protocols.join(', ');
  if (deflateConfig) reqHeaders['sec-websocket-extensions'] = clientOffer(deflateConfig);
  let req: http2.ClientHttp2Stream;
  try {
    req = session.request(reqHeaders);
  } catch (e) {
    // The session closed or got GOAWAY since its SETTINGS (node refuses new streams then).
    return fail(sessionGone(`refused a new stream (${(e as Error).message})`));
  }
  // The CONNECT's answer is the handshake: bounded by handshakeTimeout and the signal.
  const connectStarted = performance.now();
  const answered = answerOf(session, req);
  const response = await bounded(answered, handshakeTimeout, 'the extended CONNECT', signal).catch(
    (e: WebSocketError) => {
      answered.catch(() => {}); // an error after we gave up is nobody's
      if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
      return fail(e);
    },
  );
  const status = Number(response[':status']);
  // Any 2xx answers a CONNECT with success (RFC 9110 §9.3.6, RFC 8441 §5).
  if (status < 200 || status > 299) {
    const { body, aborted } = await refusalBody(req, bodyWait(handshakeTimeout, connectStarted), signal);
    if (aborted) {
      if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
      fail(new WebSocketError('ERR_WS_ABORTED'));
    }
    const err = new ClientHandshakeError('ERR_WS_UPGRADE_DECLINED', `${status}`);
    err.response = {
      status,
      reason: '',
      headers: response as Record<string, string>,
      body,
    };
    // A whole answer: our END_STREAM closes the stream. A RST_STREAM behind it is one more reset for nghttp2
    // to count (its guard against rapid reset): ~1000 declines in a burst on a shared session, and a node:http2
    // server ends the session with GOAWAY, every WebSocket on it.
    if (req.readableEnded) req.end();
    else if (!req.destroyed) req.close();
    fail(err);
  }
  // The checks of RFC 6455 §4.1 steps 5–6, as over HTTP/1.1 (validateUpgradeResponse): a field that is
  // there names exactly one offered subprotocol (an empty one names none). A WebSocket the server
  // deems open is failed as a TCP connection would be reset: RST_STREAM CANCEL (RFC 8441 §5).
  const protocolField = response['sec-websocket-protocol'];
  const protocol = chosenSubprotocol(protocolField, protocols);
  if (protocol === null) {
    req.close(http2.constants.NGHTTP2_CANCEL);
    fail(new ClientHandshakeError('ERR_WS_BAD_SUBPROTOCOL', String(protocolField)));
  }
  let deflate: DeflateParams | undefined;
  const ext = response['sec-websocket-extensions'];
  if (ext !== undefined && splitList(ext).length > 0) {
    const parsed = deflateConfig ? parseExtensions(ext) : null;
    const params = parsed ? acceptAsClient(parsed, deflateConfig!) : null;
    if (params === null) {
      req.close(http2.constants.NGHTTP2_CANCEL);
      fail(new ClientHandshakeError('ERR_WS_BAD_EXTENSION', String(ext)));
    }
    deflate = params!;
  }
  const ws = new WebSocketStream(req, streamOptions);
  adoptOpen(ws, 'client', { protocol: protocol!, extensions: ext === undefined ? '' : String(ext), deflate });
  if (own) void ws.whenClosed().then(() => session.close());
  return ws;
}
