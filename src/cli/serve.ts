/**
 * `ws-stream serve`: an echo server. node:http answers a plain GET / with a small page; an upgrade
 * request is handed to `accept(req, { head })`, and every message is echoed with its type.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { WebSocketError } from '../errors.js';
import type { ResponseHeaders } from '../options.js';
import { StreamGroup } from '../stream/group.js';
import { WebSocketStream, type ReceivedData } from '../stream/websocket-stream.js';
import { page } from './page.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Subprotocols supported, in order of preference; the first offered by the client is chosen. */
  protocols: string[];
  quiet: boolean;
  /** Handshake timeout, in ms (0: none). */
  handshakeTimeout?: number;
  /** Idle timeout, in ms (0: none); keep-alive pings go out at half of it. */
  idleTimeout?: number;
  /** Negotiate permessage-deflate. */
  deflate?: boolean;
  /** Serve wss:// and https:// (HTTP/1.1 upgrade and HTTP/2 extended CONNECT on one port). */
  tls?: { key: Buffer; cert: Buffer };
  /** Print a line for each WebSocket opened, with its HTTP version. */
  log?: boolean;
}

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
      ws.write(msg!.data, options, ignore);
      ws.read(onMessage);
    }
  };
  ws.read(onMessage);
}

function ignore(): void {}
/** The decorators of `serve`'s responses (module-level: nothing made per handshake). */
function nameServer(h: ResponseHeaders): void {
  h.Server = 'ws-stream';
}
function nameServerH2(h: ResponseHeaders): void {
  h.server = 'ws-stream';
}
const AS_BINARY = Object.freeze({ binary: true });
const AS_TEXT = Object.freeze({ binary: false });

export interface RunningServer {
  server: http.Server | http2.Http2SecureServer;
  url: string;
  /** Sends close 1001 to every open stream and stops listening; resolves when all are closed. */
  shutdown(): Promise<void>;
}

export function serve(opts: ServeOptions): Promise<RunningServer> {
  const open = new StreamGroup();
  const streamOptions = {
    handshakeTimeout: opts.handshakeTimeout,
    idleTimeout: opts.idleTimeout,
    perMessageDeflate: opts.deflate ?? false,
  };
  const selectProtocol = (offered: string[]): string | undefined =>
    opts.protocols.find((p) => offered.includes(p)) ?? offered.find((p) => opts.protocols.includes(p));
  const opened = (ws: WebSocketStream, over: string): void => {
    if (opts.log) console.log(`websocket open over ${over}${ws.extensions ? ` with ${ws.extensions}` : ''}`);
    echo(open.add(ws));
  };
  const refused = (err: WebSocketError): void => {
    if (!opts.quiet) console.error(`handshake refused: ${err.code} ${err.message}`);
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.httpVersion === '2.0') return; // HTTP/2 streams are served by onStream
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  };
  const server: http.Server | http2.Http2SecureServer = opts.tls
    ? http2.createSecureServer(
        { ...opts.tls, allowHTTP1: true, settings: { enableConnectProtocol: true } },
        onRequest as never,
      )
    : http.createServer(onRequest);
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const ws = new WebSocketStream(socket, streamOptions);
    // The callback form: no Promise chain per handshake.
    ws.accept(req, { head, selectProtocol, decorator: nameServer }, (err) =>
      err ? refused(err) : opened(ws, 'HTTP/1.1'),
    );
  });
  if (opts.tls) {
    // HTTP/2: the page, and WebSockets by extended CONNECT (RFC 8441) on the same connection.
    // node:http2's compatibility layer answers a CONNECT with 405 unless someone listens for it.
    (server as http2.Http2SecureServer).on('connect', () => {});
    (server as http2.Http2SecureServer).on('sessionError', () => {});
    (server as http2.Http2SecureServer).on('stream', (stream, headers) => {
      if (headers[':method'] === 'CONNECT') {
        const ws = new WebSocketStream(stream, streamOptions);
        ws.accept({ headers }, { selectProtocol, decorator: nameServerH2 }, (err) =>
          err ? refused(err) : opened(ws, 'HTTP/2'),
        );
        return;
      }
      stream.on('error', () => {}); // a client that resets its page request is no failure of ours
      const path = String(headers[':path'] ?? '/').split('?')[0];
      const page_ = headers[':method'] === 'GET' && (path === '/' || path === '/index.html');
      stream.respond({
        ':status': page_ ? 200 : 404,
        'content-type': page_ ? 'text/html; charset=utf-8' : 'text/plain',
      });
      stream.end(page_ ? page : 'not found\n');
    });
  }
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      resolve({
        server,
        url: `${opts.tls ? 'wss' : 'ws'}://${host}:${port}/`,
        shutdown: async () => {
          await open.shutdown({ server, code: 1001, reason: 'server shutting down', deadline: 2000 });
          if ('closeAllConnections' in server) server.closeAllConnections();
        },
      });
    });
  });
}
