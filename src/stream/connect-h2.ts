/**
 * WebSocket over HTTP/2, client role (RFC 8441 §4–5): waits for the server's
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, opens an extended CONNECT stream with `:protocol websocket`,
 * checks the `:status 200` answer, and runs the WebSocket over that stream. Many WebSockets share
 * one HTTP/2 connection: pass the same `ClientHttp2Session` to each.
 */
import http2 from 'node:http2';
import { WebSocketError } from '../errors.js';
import { normaliseStreamOptions, type StreamOptions } from '../options.js';
import { acceptAsClient, clientOffer, type DeflateParams } from '../proto/deflate-params.js';
import { parseExtensions } from '../proto/extensions.js';
import { ClientHandshakeError } from '../proto/handshake-client.js';
import { lowerCaseNames } from '../proto/http.js';
import { splitList } from '../proto/tokens.js';
import { WebSocketStream } from './websocket-stream.js';

export interface ConnectH2Options extends StreamOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  /** Edits the request's regular headers last (pseudo-headers are set after it). */
  decorator?: (headers: Record<string, string>) => void;
  /** For a session made here: time to connect and receive the server's SETTINGS, in ms. Default 10000. */
  connectTimeout?: number;
  /** An HTTP/2 session to open the WebSocket on (it is not closed with the WebSocket). */
  session?: http2.ClientHttp2Session;
  /** For a session made here: `http2.connect` options (ca, rejectUnauthorized, …). */
  connectOptions?: http2.SecureClientSessionOptions;
  signal?: AbortSignal;
}

/** How long to wait for the server's SETTINGS frame, in ms, by default. */
const SETTINGS_WAIT = 10000;

const settingsWaits = new WeakMap<http2.ClientHttp2Session, Promise<void>>();

/** Resolves once the session has the server's SETTINGS; one wait (and one pair of listeners) per session. */
function settingsOf(session: http2.ClientHttp2Session, timeout: number): Promise<void> {
  if (session.remoteSettings && session.remoteSettings.enableConnectProtocol !== undefined) return Promise.resolve();
  let wait = settingsWaits.get(session);
  if (!wait) {
    wait = new Promise<void>((resolve, reject) => {
      const timer =
        timeout > 0
          ? setTimeout(() => done(new WebSocketError('ERR_WS_TIMEOUT', 'no SETTINGS from the HTTP/2 server')), timeout)
          : undefined;
      const onSettings = (): void => done(null);
      const onError = (err: Error): void => done(new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err }));
      const done = (err: WebSocketError | null): void => {
        clearTimeout(timer);
        session.off('remoteSettings', onSettings);
        session.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      session.on('remoteSettings', onSettings);
      session.on('error', onError);
    });
    settingsWaits.set(session, wait);
  }
  return wait;
}

/**
 * Waits for `wait`, bounded by `timeoutMs` (0: no bound; ERR_WS_TIMEOUT with `what`) and by
 * `signal` (ERR_WS_ABORTED). The listener and timer are gone once it settles.
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
  const session = given ?? http2.connect(origin, connectOptions);
  const own = given === undefined;
  // A session made here reports its failures through the WebSocket's stream, never as an unhandled event.
  if (own) session.on('error', () => {});
  const fail = (err: WebSocketError): never => {
    if (own) session.destroy();
    throw err;
  };
  if (signal?.aborted) fail(new WebSocketError('ERR_WS_ABORTED'));
  const { handshakeTimeout } = normaliseStreamOptions(streamOptions);
  // The server's SETTINGS tell whether it speaks extended CONNECT (awaited once per session).
  await bounded(settingsOf(session, connectTimeout), 0, '', signal).catch((e: WebSocketError) => fail(e));
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
  const regular = { ...headers };
  decorator?.(regular);
  const reqHeaders: http2.OutgoingHttpHeaders = {
    ...Object.fromEntries(Object.entries(lowerCaseNames(regular)).filter(([k]) => !k.startsWith(':'))),
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': origin.startsWith('https') ? 'https' : 'http',
    ':path': (url.pathname || '/') + url.search,
    ':authority': url.host,
    'sec-websocket-version': '13',
  };
  if (protocols.length > 0) reqHeaders['sec-websocket-protocol'] = protocols.join(', ');
  if (deflateConfig) reqHeaders['sec-websocket-extensions'] = clientOffer(deflateConfig);
  const req = session.request(reqHeaders);
  // The CONNECT's answer is the handshake: bounded by handshakeTimeout and the signal.
  const answered = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', (err) => reject(new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err })));
  });
  const response = await bounded(answered, handshakeTimeout, 'the extended CONNECT', signal).catch(
    (e: WebSocketError) => {
      answered.catch(() => {}); // an error after we gave up is nobody's
      req.close(http2.constants.NGHTTP2_CANCEL);
      return fail(e);
    },
  );
  const status = Number(response[':status']);
  if (status !== 200) {
    const parts: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve) => {
      req.on('data', (d: Buffer) => {
        if (size < 65536) {
          parts.push(d);
          size += d.length;
        }
      });
      req.once('end', resolve);
      req.once('close', resolve);
      setTimeout(resolve, 1000).unref();
    });
    const err = new ClientHandshakeError('ERR_WS_UPGRADE_DECLINED', `${status}`);
    err.response = {
      status,
      reason: '',
      headers: response as Record<string, string>,
      body: Buffer.concat(parts).subarray(0, 65536),
    };
    req.close();
    fail(err);
  }
  const chosen = splitList(response['sec-websocket-protocol']);
  if (chosen.length > 1 || (chosen.length === 1 && !protocols.includes(chosen[0]!))) {
    req.close();
    fail(new ClientHandshakeError('ERR_WS_BAD_SUBPROTOCOL', String(response['sec-websocket-protocol'])));
  }
  let deflate: DeflateParams | undefined;
  const ext = response['sec-websocket-extensions'];
  if (ext !== undefined && splitList(ext).length > 0) {
    const parsed = deflateConfig ? parseExtensions(ext) : null;
    const params = parsed ? acceptAsClient(parsed, deflateConfig!) : null;
    if (params === null) {
      req.close();
      fail(new ClientHandshakeError('ERR_WS_BAD_EXTENSION', String(ext)));
    }
    deflate = params!;
  }
  const ws = new WebSocketStream(req, streamOptions);
  ws._adoptOpen('client', chosen[0] ?? '', ext === undefined ? '' : String(ext), deflate);
  if (own) void ws.whenClosed().then(() => session.close());
  return ws;
}
