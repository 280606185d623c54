/**
 * `connect(url, options)`: a TCP or TLS connection (`connectTimeout`), then the client handshake
 * (the stream's `handshakeTimeout`); resolves with an open WebSocketStream.
 */
import net from 'node:net';
import tls from 'node:tls';
import { shown, WebSocketError } from '../errors.js';
import {
  checkFlag,
  checkInt,
  hasMethods,
  checkOptionsObject,
  normaliseRequestLimits,
  normaliseStreamOptions,
  pickStreamOptions,
  responseLimitDefaults,
  type ResponseHeaders,
  type StreamOptions,
} from '../options.js';
import { serializeRequest, upgradeRequestHeaders } from '../proto/handshake-client.js';
import type { ClientHttp2Session } from 'node:http2';
import { connectH2 } from './connect-h2.js';
import { readRequestOptions } from './handshake.js';
import { WebSocketStream } from './websocket-stream.js';

export interface ConnectOptions extends StreamOptions {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string[];
  /** Extra request headers (`Origin`, `Authorization`, …). */
  headers?: ResponseHeaders;
  /** Edits the request headers last. */
  decorator?: (headers: ResponseHeaders) => void;
  /**
   * Time to establish the TCP (and TLS) connection, in ms (over HTTP/2: also to receive the
   * server's SETTINGS). 0: no limit. Default 10000.
   */
  connectTimeout?: number;
  /** Cancels connecting and the handshake (ERR_WS_ABORTED). */
  signal?: AbortSignal;
  /** Limit on the response head, in bytes (HTTP/1.1); more fails with ERR_WS_HEADER_LIMIT. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Limit on the number of the response's header fields (HTTP/1.1); more fails with ERR_WS_HEADER_LIMIT. Default 2000. */
  maxHeaders?: number;
  /**
   * WebSocket over HTTP/2 (RFC 8441): `true` opens an HTTP/2 connection for it, a
   * `ClientHttp2Session` is shared (many WebSockets on one connection).
   */
  http2?: boolean | ClientHttp2Session;
  /** wss: trusted CA certificates (default: Node's bundled roots). */
  ca?: tls.SecureContextOptions['ca'];
  /** wss: whether to reject a certificate that does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** wss: the SNI server name. Default: the URL's host name (none for an IP address). */
  servername?: string;
  /** wss: any other `tls.connect` options. */
  tls?: tls.ConnectionOptions;
}

const defaults = { connectTimeout: 10000 };

/** Opens a WebSocket to `url` (ws:// or wss://; http:// and https:// are taken as the same). */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocketStream> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `invalid URL ${shown(url)}`);
  }
  const secure = u.protocol === 'wss:' || u.protocol === 'https:';
  if (!secure && u.protocol !== 'ws:' && u.protocol !== 'http:') {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `unsupported URL scheme ${u.protocol}`);
  }
  // RFC 6455 §3: no fragment, an empty one (`…/#`, whose `hash` is '') included; in the serialised URL a
  // '#' can only start one (anywhere else it is percent-encoded).
  if (u.href.includes('#')) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'a WebSocket URL has no fragment');
  const {
    protocols,
    headers,
    decorator,
    connectTimeout,
    signal,
    http2,
    ca,
    rejectUnauthorized,
    servername,
    tls: tlsOptions,
    limits,
    streamOptions,
  } = readConnectOptions(u, options);
  if (http2) {
    return connectH2(u, {
      ...streamOptions,
      protocols,
      headers: headers as Record<string, string> | undefined,
      decorator: decorator as ((h: Record<string, string>) => void) | undefined,
      connectTimeout,
      signal,
      session: typeof http2 === 'object' ? http2 : undefined,
      connectOptions: { ca, rejectUnauthorized, servername, ...tlsOptions },
    });
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = Number(u.port || (secure ? 443 : 80));
  if (signal?.aborted) throw new WebSocketError('ERR_WS_ABORTED');

  const socket: net.Socket = secure
    ? tls.connect({
        host,
        port,
        ca,
        rejectUnauthorized,
        servername: servername ?? (net.isIP(host) ? undefined : host),
        ALPNProtocols: ['http/1.1'],
        ...tlsOptions,
      })
    : net.connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const done = (err?: WebSocketError): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve();
      }
    };
    const timer =
      connectTimeout > 0
        ? setTimeout(
            () => done(new WebSocketError('ERR_WS_TIMEOUT', `connecting to ${u.host} took over ${connectTimeout} ms`)),
            connectTimeout,
          )
        : undefined;
    const onError = (err: Error): void => done(new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err }));
    const onAbort = (): void => done(new WebSocketError('ERR_WS_ABORTED'));
    socket.once(secure ? 'secureConnect' : 'connect', () => done());
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const ws = new WebSocketStream(socket, streamOptions);
  await ws.handshake({
    host: u.host,
    target: (u.pathname || '/') + u.search,
    protocols,
    headers,
    decorator,
    signal,
    ...limits,
  });
  return ws;
}

/** node:http2 does not export its session class: a session is told by the methods connect-h2 calls. */
const sessionMethods = ['request', 'ping', 'on', 'once', 'off'];

/**
 * Every option, read once and checked before any connection is opened: a bad one throws
 * ERR_WS_INVALID_ARGUMENT (connect() rejects) and nothing is connected. What it returns is what
 * connect() uses (a getter may answer differently the next time): the stream's options normalised.
 */
function readConnectOptions(u: URL, o: ConnectOptions) {
  checkOptionsObject(o);
  const { protocols, headers, decorator, connectTimeout, signal, http2, ca, rejectUnauthorized, servername, tls } = o;
  const limits = normaliseRequestLimits(
    { maxHeaderBytes: o.maxHeaderBytes, maxHeaders: o.maxHeaders },
    responseLimitDefaults,
  );
  const normal = normaliseStreamOptions(pickStreamOptions(o));
  // Given to the stream as they were checked (its no deflate, null, is the options' false).
  const streamOptions: StreamOptions = { ...normal, perMessageDeflate: normal.perMessageDeflate ?? false };
  const timeout = checkInt('connectTimeout', connectTimeout ?? defaults.connectTimeout, 0, 2 ** 31 - 1);
  const request = readRequestOptions({ protocols, headers, decorator, signal });
  checkFlag('rejectUnauthorized', rejectUnauthorized);
  if (http2 !== undefined && typeof http2 !== 'boolean' && !hasMethods(http2, sessionMethods)) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'http2 must be a boolean or a ClientHttp2Session');
  }
  // The request itself: subprotocols, header names and values, the target.
  serializeRequest(
    (u.pathname || '/') + u.search,
    upgradeRequestHeaders({ host: u.host, protocols: request.protocols, headers: request.headers }, 'x'),
  );
  return { ...request, connectTimeout: timeout, http2, ca, rejectUnauthorized, servername, tls, limits, streamOptions };
}
