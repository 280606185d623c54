/**
 * `ws-stream serve`: an echo server. node:http answers a plain GET / with a small page; an upgrade
 * request is handed to `accept(req, { head })`, and every message is echoed with its type. Hostile
 * clients meet the same rules as `accept()` reading a request itself: the handshake timeout counts
 * from the TCP connection, a head over 16 KiB or with more than 100 fields is answered 431 (414 for
 * a request line alone that long, where node's parser lets that be told), a target with a fragment
 * 400, and a request with WebSocket headers that is no valid upgrade is answered 400 with the reason.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
// Imported, not the global: node's global `performance` is a getter, run on every use.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { WebSocketError } from '../errors.js';
import { type DeflateOptions, fixedStreamOptions, requestLimitDefaults, type ResponseHeaders } from '../options.js';
import {
  HandshakeError,
  errorResponse,
  recordFixedDecoration,
  validateUpgradeRequest,
} from '../proto/handshake-server.js';
import { hasToken } from '../proto/tokens.js';
import { StreamGroup } from '../stream/group.js';
import { noopWaiter } from '../stream/write-queue.js';
import { rejectUpgrade } from '../stream/reject.js';
import { unwatch, watch, type Ticking } from '../stream/timers.js';
import { WebSocketStream, type ReceivedData } from '../stream/websocket-stream.js';
import { page } from './page.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Subprotocols supported, in order of preference; the first offered by the client is chosen. */
  protocols?: string[];
  quiet: boolean;
  /** Handshake timeout, in ms (0: none), counted from the TCP connection. */
  handshakeTimeout?: number;
  /** Idle timeout, in ms (0: none); keep-alive pings go out at half of it. */
  idleTimeout?: number;
  /** permessage-deflate as the streams negotiate it (default: not offered). */
  perMessageDeflate?: DeflateOptions | false;
  /** Serve wss:// and https:// (HTTP/1.1 upgrade and HTTP/2 extended CONNECT on one port). */
  tls?: { key: Buffer; cert: Buffer };
  /** Print a line for each WebSocket opened, with its HTTP version. */
  log?: boolean;
  /** What GET / answers (default: the echo page). */
  page?: string;
  /** Serves each WebSocket once open (default: `echo`). */
  onOpen?: (ws: WebSocketStream) => void;
  /** More headers of the 101 response (HTTP/1.1 and HTTP/2 alike). */
  headers?: Record<string, string>;
}

/**
 * The listen backlog asked for; the kernel caps it at its own limit (Linux: net.core.somaxconn, 4096
 * since 5.4). node's default, 511, dropped the SYNs of a burst past it (connections opening by the
 * thousand, or arriving while the process is busy): each waited for its retransmission, 1 s or more.
 */
const LISTEN_BACKLOG = 65535;

/** Echo writes in flight past this many bytes make the echo wait: a peer that does not read stops being read. */
const ECHO_HIGH_WATER = 1024 * 1024;

/**
 * Echoes every message with its type until the stream ends (how it ended is on `closeInfo`).
 * Written with callbacks: an idle connection then holds one closure as its pending read, not a
 * Promise chain and an async function's frame (about 400 bytes, which count at 10,000
 * connections). When the peer reads slowly, the next read waits until the echo is handed on.
 */
export function echo(ws: WebSocketStream): void {
  const onMessage = (err: WebSocketError | null, msg?: ReceivedData): void => {
    if (err) return;
    const options = msg!.binary ? AS_BINARY : AS_TEXT;
    // The peer is behind on what was echoed before: wait for this echo before reading on. (A large
    // message alone does not count, so that 1 MiB messages still stream back to back.)
    if (ws.bufferedAmount > ECHO_HIGH_WATER) {
      ws.write(msg!.data, options, (e) => {
        if (!e) ws.read(onMessage);
      });
    } else {
      // Nobody waits for this echo: the write queue keeps no waiter for `noopWaiter`, so the frame
      // goes to the socket without a callback (no completion tick in Node's stream either).
      ws.write(msg!.data, options, noopWaiter);
      ws.read(onMessage);
    }
  };
  ws.read(onMessage);
}
/** The decorators of `serve`'s responses (module-level: nothing made per handshake). */
function nameServer(h: ResponseHeaders): void {
  h.Server = 'ws-stream';
}
function nameServerH2(h: ResponseHeaders): void {
  h.server = 'ws-stream';
}
const AS_BINARY = Object.freeze({ binary: true });
const AS_TEXT = Object.freeze({ binary: false });
/**
 * SETTINGS_MAX_CONCURRENT_STREAMS of `serve --tls` (RFC 9113 §6.5.2): the WebSockets (and page
 * requests) one HTTP/2 connection may have open at once. node's default is 2^32−1, which would let one
 * TCP connection open WebSockets without bound; 100 is what RFC 9113 §6.5.2 recommends at least, and
 * what browsers and nghttp2 assume. A client that opens a stream past it before it acknowledged these
 * SETTINGS gets RST_STREAM REFUSED_STREAM for it (its other streams go on); one that acknowledged them has
 * broken what it agreed to, and nghttp2 ends its connection (a connection error), as it does for any node:http2 server.
 */
export const H2_MAX_CONCURRENT_STREAMS = 100;

/** How long shutdown() waits for close handshakes and HTTP/2 sessions to end before destroying what is left. */
const SHUTDOWN_DEADLINE_MS = 2000;

/**
 * The handshake deadline of each connection, counted from its TCP connection (node:http's
 * `headersTimeout` is 60 s and checked every 30 s, a TLS handshake is no request, and the stream's
 * own timeout starts at the `'upgrade'` event). A connection that has not asked for anything when
 * it passes is destroyed: one that sends nothing, trickles its request head, stalls in the TLS
 * handshake, or opens an HTTP/2 session and no stream. On HTTP/1.1 it runs again from each request
 * read until its answer is written (a client that reads no answer is dropped too), and from then
 * until the next request. Over TLS, connections are told apart by the peer's address and port:
 * the TLS socket and the TCP socket under it (or an HTTP/2 session's) then share one deadline;
 * without TLS the socket itself is the key (no address lookup per connection).
 *
 * No timer per connection: the deadlines wait in one Map, in the order they were set (all have the
 * same length, so that is their order of expiry), checked by the streams' shared ticker.
 */
class HandshakeDeadlines implements Ticking {
  private readonly due = new Map<net.Socket | string, { socket: net.Socket; at: number; expire?: () => void }>();
  /**
   * The 'close' listener of every armed socket, one per server (`this` is the socket): a closure and
   * node's once-wrapper per connection, kept on every upgraded socket, cost each idle WebSocket ~400 bytes.
   */
  private readonly onSocketClose: (this: net.Socket) => void;

  constructor(
    private readonly ms: number,
    private readonly byPeer: boolean,
  ) {
    const deadlines = this;
    this.onSocketClose = function (this: net.Socket) {
      deadlines.closed(this);
    };
  }

  private keyOf(socket: net.Socket): net.Socket | string | null {
    return this.byPeer ? peerOf(socket) : socket;
  }

  /** A new TCP connection: its deadline starts. */
  connected(socket: net.Socket): void {
    this.arm(socket);
  }

  /**
   * Starts (or restarts) the deadline of the connection that `socket` is, or is layered on;
   * `expire` ends it when the deadline passes (default: the socket is destroyed). The deadline also
   * ends with the socket if that closes first (one that leaves before asking for anything must not
   * stay referenced until its deadline).
   */
  arm(socket: net.Socket, expire?: () => void): void {
    const key = this.keyOf(socket);
    if (key === null) return; // already gone
    this.due.delete(key); // a restarted deadline goes last: the Map stays in order of expiry
    this.due.set(key, { socket, at: performance.now() + this.ms, expire });
    if (this.due.size === 1) watch(this, this.ms);
    socket.off('close', this.onSocketClose); // once per socket, however often it is armed
    socket.on('close', this.onSocketClose);
  }

  /** The connection asked for something in time. */
  disarm(socket: net.Socket): void {
    const key = this.keyOf(socket);
    if (key !== null) {
      // Over TLS the deadline may be the one armed on the TCP socket under this one: its listener goes too.
      const d = this.due.get(key);
      if (d !== undefined && d.socket !== socket) d.socket.off('close', this.onSocketClose);
      this.due.delete(key);
    }
    socket.off('close', this.onSocketClose);
  }

  /** An armed socket closed (its peer name is still there: node keeps what `keyOf` read at `arm`). */
  private closed(socket: net.Socket): void {
    const key = this.keyOf(socket);
    if (key === null) return;
    const d = this.due.get(key);
    // The entry may be the TLS socket over this one; not a later connection's from the same peer.
    if (d && (d.socket === socket || isGone(d.socket))) this.due.delete(key);
  }

  /** The shared ticker: destroys the connections whose deadline passed. */
  tick(now: number): void {
    for (const [key, d] of this.due) {
      if (d.at > now) return;
      this.due.delete(key);
      if (d.expire) d.expire();
      else if (!isGone(d.socket)) d.socket.destroy();
    }
    unwatch(this);
  }
}

/** Whether a socket is destroyed; an HTTP/2 session's socket, once unbound from it, throws on any use: gone too. */
function isGone(socket: net.Socket): boolean {
  try {
    return socket.destroyed;
  } catch {
    return true;
  }
}

function peerOf(socket: net.Socket): string | null {
  return socket.remoteAddress === undefined ? null : `${socket.remoteAddress} ${socket.remotePort}`;
}

/** A request that carries WebSocket handshake headers, valid upgrade or not. */
function asksForWebSocket(req: http.IncomingMessage): boolean {
  const h = req.headers;
  return (
    h['sec-websocket-key'] !== undefined ||
    h['sec-websocket-version'] !== undefined ||
    (h.upgrade !== undefined && hasToken(h.upgrade, 'websocket'))
  );
}

/**
 * Why node:http's request is refused before any answer (the limits of `accept()`'s own reader), or
 * null: more than 100 header fields is 431; WebSocket headers on what is no valid upgrade (node:http
 * emits `'request'` for it, not `'upgrade'`) is 400 with the reason, as for every broken handshake.
 */
function refusal(req: http.IncomingMessage, upgrade: boolean): HandshakeError | null {
  const { maxHeaders } = requestLimitDefaults;
  if (req.rawHeaders.length / 2 > maxHeaders)
    return new HandshakeError('ERR_WS_HEADER_LIMIT', 431, `more than ${maxHeaders} header fields`);
  if (upgrade || !asksForWebSocket(req)) return null;
  try {
    validateUpgradeRequest(req);
  } catch (e) {
    if (e instanceof HandshakeError) return e;
  }
  return new HandshakeError('ERR_WS_BAD_REQUEST', 400, 'not an upgrade request');
}

/**
 * Whether node:http's HPE_HEADER_OVERFLOW (it counts the target with the fields, and reports both
 * alike) came before the request line ended: 414 URI Too Long then (RFC 9110 §15.5.15), not 431.
 * node keeps only the chunk it was parsing (`rawPacket`, read up to `bytesParsed`). Its parser stops
 * where the span that went over the limit ends: a target's at the space before `HTTP/` (a field
 * name's at ':', a value's at CR or LF), wherever the line began (over TLS, whose records hold at
 * most 16 KiB, always in an earlier chunk). A span cut at the chunk's end is told only when that
 * chunk shows where the request began: it holds the end of an earlier head (a pipelined request), or
 * it is all the connection sent. A request line that does not end in the chunk where it went over the
 * limit and began in an earlier one cannot be told from a long field, and stays 431.
 */
function requestLineUnended(err: NodeJS.ErrnoException, socket: Duplex): boolean {
  const { rawPacket, bytesParsed } = err as { rawPacket?: unknown; bytesParsed?: unknown };
  if (!Buffer.isBuffer(rawPacket)) return false;
  const parsed = typeof bytesParsed === 'number' ? bytesParsed : rawPacket.length;
  if (rawPacket.toString('latin1', parsed, parsed + 6) === ' HTTP/') return true;
  const seen = rawPacket.subarray(0, parsed);
  const headEnd = seen.lastIndexOf('\r\n\r\n');
  let start = headEnd < 0 ? 0 : headEnd + 4;
  if (headEnd < 0 && (socket as net.Socket).bytesRead !== rawPacket.length) return false;
  while (seen[start] === 0x0d || seen[start] === 0x0a) start++; // empty lines before a request line (RFC 9112 §2.2)
  return start < seen.length && seen.indexOf(0x0a, start) < 0;
}

/** The status and reason that answer a request node:http could not read on `socket`. */
function clientErrorRefusal(err: NodeJS.ErrnoException, socket: Duplex): HandshakeError {
  const { maxHeaderBytes } = requestLimitDefaults;
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return requestLineUnended(err, socket)
      ? new HandshakeError('ERR_WS_HEADER_LIMIT', 414, `request line over ${maxHeaderBytes} bytes`)
      : new HandshakeError('ERR_WS_HEADER_LIMIT', 431, `HTTP head over ${maxHeaderBytes} bytes`);
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new HandshakeError('ERR_WS_TIMEOUT', 408);
  // HTTP/2 with prior knowledge (RFC 9113 §3.3) on a port that speaks HTTP/1.1: 505, as accept() answers HTTP/2.0.
  if (err.code === 'HPE_PAUSED_H2_UPGRADE')
    return new HandshakeError('ERR_WS_BAD_HTTP_VERSION', 505, 'the HTTP/2 connection preface is not HTTP/1.x');
  return new HandshakeError('ERR_WS_BAD_REQUEST', 400, err.code);
}

/** Whether a request target is the page: `/` or `/index.html`, whatever its query. */
function isPagePath(target: string | undefined): boolean {
  const path = (target ?? '/').split('?')[0];
  return path === '/' || path === '/index.html';
}

/**
 * What a plain HTTP request gets: the page for GET and HEAD (RFC 9110 §9.3.2: HEAD has GET's
 * headers and no body), 405 with `Allow` for another method on the page path, 404 elsewhere; 400
 * for a target with a fragment (no request target has one: RFC 9112 §3.2).
 * Content-Length always (no chunked answer to some requests and not others), also for HEAD and HTTP/2.
 */
function pageAnswer(
  method: string | undefined,
  target: string | undefined,
  html: string,
): { status: number; headers: Record<string, string>; body: string | undefined } {
  const [status, type, body, allow] = target?.includes('#')
    ? [400, 'text/plain', 'the request target has a fragment (#...), which none may\n', undefined]
    : !isPagePath(target)
      ? [404, 'text/plain', 'not found\n', undefined]
      : method === 'GET' || method === 'HEAD'
        ? [200, 'text/html; charset=utf-8', html, undefined]
        : [405, 'text/plain', 'method not allowed\n', 'GET, HEAD'];
  const headers: Record<string, string> = { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) };
  if (allow) headers.allow = allow;
  return { status, headers, body: method === 'HEAD' ? undefined : body };
}

/** Answers a plain HTTP/1.1 request: see pageAnswer. */
function answerPageRequest(req: http.IncomingMessage, res: http.ServerResponse, html: string): void {
  const { status, headers, body } = pageAnswer(req.method, req.url, html);
  res.writeHead(status, headers);
  res.end(body);
}

/** Answers a plain HTTP/2 request on its stream: see pageAnswer. */
function answerPageStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, html: string): void {
  const answer = pageAnswer(headers[':method'], headers[':path'], html);
  stream.respond({ ...answer.headers, ':status': answer.status });
  stream.end(answer.body);
}

export interface RunningServer {
  server: http.Server | http2.Http2SecureServer;
  url: string;
  /**
   * Sends close 1001 to every open stream (and GOAWAY to every HTTP/2 session) and stops listening;
   * resolves when all are closed.
   */
  shutdown(): Promise<void>;
}

export function serve(opts: ServeOptions): Promise<RunningServer> {
  const open = new StreamGroup();
  // Checked once here, so that a bad value fails the start, not the first connection's upgrade
  // handler (where the stream would throw it); every stream then takes the normalised object as it
  // is (not compared option by option again per connection).
  const streamOptions = fixedStreamOptions({
    handshakeTimeout: opts.handshakeTimeout,
    idleTimeout: opts.idleTimeout,
    perMessageDeflate: opts.perMessageDeflate ?? false,
  });
  const page_ = opts.page ?? page;
  const onOpen = opts.onOpen ?? echo;
  const protocols = opts.protocols ?? [];
  // The extra headers as they are at the start (read once, as the other options).
  const extraHeaders = opts.headers ? { ...opts.headers } : undefined;
  const decorator = (h: ResponseHeaders): void => {
    nameServer(h);
    if (extraHeaders) Object.assign(h, extraHeaders);
  };
  // What it adds to a 101 is the same every time: written as one string with the rest, not decorated per handshake.
  recordFixedDecoration(decorator, { Server: 'ws-stream', ...extraHeaders });
  const decoratorH2 = (h: ResponseHeaders): void => {
    nameServerH2(h);
    if (extraHeaders) Object.assign(h, extraHeaders);
  };
  /** The HTTP/2 sessions open, for the shutdown (node:http2's `server.close()` leaves them open, idle ones too). */
  const sessions = new Set<http2.ServerHttp2Session>();
  // One listener for all sessions (`this` is the session), not a closure per connection.
  const forgetSession = function (this: http2.ServerHttp2Session): void {
    sessions.delete(this);
  };
  const deadlines = opts.handshakeTimeout ? new HandshakeDeadlines(opts.handshakeTimeout, !!opts.tls) : null;
  /** The streams open on each HTTP/2 session (for its idle deadline). */
  const openStreams = new WeakMap<http2.Http2Session, number>();
  /** Sockets with page answers not finished yet (how many: requests may be pipelined). */
  const answering = new WeakMap<Duplex, number>();
  /**
   * What waits for a socket's page answers to be written: the upgrade, or the refusal of what node:http
   * could not read, pipelined behind them. RFC 9112 §9.3.2: answers go in the order of the requests;
   * written at once, a 101 or an error would overtake them (and they would follow a 101 into the
   * WebSocket, or be cut off by the error's close). Their deadline runs meanwhile.
   */
  const afterAnswers = new WeakMap<Duplex, () => void>();
  // Our first choice that the client offers (its own order does not count).
  const selectProtocol =
    protocols.length === 0
      ? undefined
      : (offered: string[]): string | undefined => protocols.find((p) => offered.includes(p));
  const opened = (ws: WebSocketStream, over: string): void => {
    if (opts.log) console.log(`websocket open over ${over}${ws.extensions ? ` with ${ws.extensions}` : ''}`);
    onOpen(open.add(ws));
  };
  const refused = (err: WebSocketError): void => {
    if (!opts.quiet) console.error(`handshake refused: ${err.code} ${err.message}`);
  };
  /**
   * Refuses on a socket node:http no longer reads (after `'upgrade'` or `'clientError'`), as accept()
   * does: a HEAD's answer has the reason's Content-Length and no content (RFC 9110 §9.3.2).
   */
  const refuseOnSocket = (socket: Duplex, err: HandshakeError, headRequest = false): void => {
    refused(err);
    const reason = `${err.message}\n`;
    const answer = headRequest
      ? { body: '', headers: { 'Content-Length': String(Buffer.byteLength(reason)) }, decorator: nameServer }
      : { body: reason, decorator: nameServer };
    rejectUpgrade(socket, err.status, answer).catch(() => {});
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.httpVersion === '2.0') return; // HTTP/2 streams are served by onStream
    // Asked in time. The answer has a deadline of its own, from here (a client that pipelines
    // requests and reads no answer would keep the connection forever), and once it is written the
    // next request has one.
    const socket = req.socket;
    deadlines?.arm(socket);
    answering.set(socket, (answering.get(socket) ?? 0) + 1);
    res.once('finish', () => {
      const left = answering.get(socket)! - 1;
      if (left > 0) return void answering.set(socket, left);
      answering.delete(socket);
      const next = afterAnswers.get(socket);
      if (next !== undefined) {
        afterAnswers.delete(socket);
        next();
      } else if (deadlines && !socket.destroyed) deadlines.arm(socket);
    });
    const refuse = refusal(req, false);
    if (refuse) {
      refused(refuse);
      const { headers, body } = errorResponse(refuse.status, refuse.message);
      nameServer(headers);
      res.writeHead(refuse.status, headers);
      res.end(body);
      return;
    }
    answerPageRequest(req, res, page_);
  };
  const server: http.Server | http2.Http2SecureServer = opts.tls
    ? http2.createSecureServer(
        {
          ...opts.tls,
          allowHTTP1: true,
          settings: { enableConnectProtocol: true, maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS },
        },
        onRequest as never,
      )
    : http.createServer({ maxHeaderSize: requestLimitDefaults.maxHeaderBytes }, onRequest);
  if (deadlines) server.on('connection', (socket: net.Socket) => deadlines.connected(socket));
  const upgrade = (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    deadlines?.disarm(socket); // the stream's own handshake timeout covers the rest
    const refuse = refusal(req, true);
    if (refuse) return refuseOnSocket(socket, refuse, req.method === 'HEAD');
    const ws = new WebSocketStream(socket, streamOptions);
    // The callback form: no Promise chain per handshake.
    ws.accept(req, { head, selectProtocol, decorator }, (err) => (err ? refused(err) : opened(ws, 'HTTP/1.1')));
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (!answering.has(socket)) return upgrade(req, socket, head);
    // Not after an answer that closed the connection (node:http ended the socket before the last
    // answer's 'finish' reached us): RFC 9112 §9.6, no further request is processed.
    afterAnswers.set(socket, () => {
      if (!socket.writableEnded && !socket.destroyed) upgrade(req, socket, head);
    });
  });
  if (opts.tls) {
    // HTTP/2: the page, and WebSockets by extended CONNECT (RFC 8441) on the same connection.
    // node:http2's compatibility layer answers a CONNECT with 405 unless someone listens for it.
    (server as http2.Http2SecureServer).on('connect', () => {});
    (server as http2.Http2SecureServer).on('sessionError', () => {});
    (server as http2.Http2SecureServer).on('session', (session) => {
      sessions.add(session);
      session.once('close', forgetSession);
    });
    (server as http2.Http2SecureServer).on('stream', (stream, headers) => {
      const session = stream.session;
      if (deadlines && session) {
        // A session is idle again once its last stream closed (a WebSocket's included): it gets a
        // new deadline, and one still idle then is closed with GOAWAY (its streams are all done).
        deadlines.disarm(session.socket as net.Socket);
        openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
        stream.once('close', () => {
          const left = (openStreams.get(session) ?? 1) - 1;
          openStreams.set(session, left);
          if (left === 0 && !session.closed && !session.destroyed) {
            try {
              deadlines.arm(session.socket as net.Socket, () => session.close());
            } catch {
              // node:http2 throws on any use of a session's socket once it is unbound: the
              // connection is gone, and needs no deadline.
            }
          }
        });
      }
      if (headers[':method'] === 'CONNECT') {
        const ws = new WebSocketStream(stream, streamOptions);
        ws.accept({ headers }, { selectProtocol, decorator: decoratorH2 }, (err) =>
          err ? refused(err) : opened(ws, 'HTTP/2'),
        );
        return;
      }
      stream.on('error', () => {}); // a client that resets its page request is no failure of ours
      answerPageStream(stream, headers, page_);
    });
  }
  // node:http could not read a request (a head over 16 KiB, bytes that are no HTTP): answered as
  // accept() answers, unless the peer is gone. node:http's parser stays on the socket and reports
  // each later chunk again: a socket already answered is left to the answer's lingering close
  // (destroying it with the client's bytes unread would reset the connection under the answer).
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (socket.writableEnded) return;
    if (err.code === 'ECONNRESET' || !socket.writable) socket.destroy();
    else if (answering.has(socket)) {
      // Behind pipelined requests whose answers are still being written: answered after them (the
      // first error kept, as the parser reports each later chunk again), unless one closed the
      // connection (RFC 9112 §9.6).
      if (afterAnswers.has(socket)) return;
      const refusal = clientErrorRefusal(err, socket);
      afterAnswers.set(socket, () => {
        if (socket.writableEnded || socket.destroyed) return;
        deadlines?.disarm(socket as net.Socket);
        refuseOnSocket(socket, refusal);
      });
    } else {
      deadlines?.disarm(socket as net.Socket); // the answer's lingering close ends it
      refuseOnSocket(socket, clientErrorRefusal(err, socket));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG }, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      resolve({
        server,
        url: `${opts.tls ? 'wss' : 'ws'}://${host}:${port}/`,
        shutdown: async () => {
          // GOAWAY to every HTTP/2 session first (RFC 9113 §6.8): no new stream on it, while its WebSockets get
          // their 1001 below; an idle one is closed at once, one with streams once they are done.
          let expire!: () => void;
          const expired = new Promise<void>((resolve) => {
            expire = resolve;
          });
          const timer = setTimeout(expire, SHUTDOWN_DEADLINE_MS);
          // Its 'close' alone: a session that fails first (its client reset the connection: ECONNRESET) emits
          // 'error' before it, which events.once() would reject with, failing the shutdown (or, while the
          // WebSockets' close handshakes are awaited below, crashing the process as an unhandled rejection).
          const sessionsClosed = Promise.all(
            [...sessions].map((session) => new Promise<void>((resolve) => session.once('close', () => resolve()))),
          );
          for (const session of sessions) session.close();
          await open.shutdown({ server, code: 1001, reason: 'server shutting down', deadline: SHUTDOWN_DEADLINE_MS });
          if ('closeAllConnections' in server) server.closeAllConnections();
          // A page answer still being written finishes on its GOAWAYed session, within the same deadline (with no
          // WebSocket open, open.shutdown() is done at once: destroying the sessions then would cut the answer).
          await Promise.race([sessionsClosed, expired]);
          clearTimeout(timer);
          // What is left past the deadline (a stream that is no WebSocket and never ends) goes with its session.
          for (const session of sessions) session.destroy();
        },
      });
    });
  });
}
