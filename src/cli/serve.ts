/**
 * `ws-stream serve`: an echo server. node:http answers a plain GET / with a small page; an upgrade
 * request is handed to `accept(req, { head })`, and every message is echoed with its type.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';
import { StreamGroup } from '../stream/group.js';
import { WebSocketStream } from '../stream/websocket-stream.js';
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
}

/** Echo writes in flight past this many bytes make the echo wait: a peer that does not read stops being read. */
const ECHO_HIGH_WATER = 1024 * 1024;

export async function echo(ws: WebSocketStream): Promise<void> {
  try {
    for (;;) {
      const msg = await ws.read();
      const done = ws.write(msg.data, { binary: msg.binary });
      if (ws.bufferedAmount > ECHO_HIGH_WATER) await done;
    }
  } catch (err) {
    if (!(err instanceof WebSocketError)) throw err;
  }
}

export interface RunningServer {
  server: http.Server;
  url: string;
  /** Sends close 1001 to every open stream and stops listening; resolves when all are closed. */
  shutdown(): Promise<void>;
}

export function serve(opts: ServeOptions): Promise<RunningServer> {
  const open = new StreamGroup();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const ws = new WebSocketStream(socket, { handshakeTimeout: opts.handshakeTimeout, idleTimeout: opts.idleTimeout, perMessageDeflate: opts.deflate ?? false });
    ws.accept(req, {
      head,
      selectProtocol: (offered) => opts.protocols.find((p) => offered.includes(p)) ?? offered.find((p) => opts.protocols.includes(p)),
      decorator: (h) => { h['Server'] = 'ws-stream'; },
    }).then(
      () => echo(open.add(ws)),
      (err: WebSocketError) => {
        if (!opts.quiet) console.error(`handshake refused: ${err.code} ${err.message}`);
      },
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      resolve({
        server,
        url: `ws://${host}:${port}/`,
        shutdown: async () => {
          await open.shutdown({ server, code: 1001, reason: 'server shutting down', deadline: 2000 });
          server.closeAllConnections();
        },
      });
    });
  });
}
