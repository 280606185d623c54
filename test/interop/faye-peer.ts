/**
 * faye-websocket (websocket-driver) as a peer: its client as a `Client`, its server with the echo targets' commands,
 * each with its `permessage-deflate` extension when asked. faye.test.ts and faye-deflate.test.ts share them.
 */
import http from 'node:http';
import type net from 'node:net';
import { createRequire } from 'node:module';
import { records, type Running, type Seen } from './echo-targets.js';
import { inbox, type Client, type Conn } from './js-peers.js';

/** permessage-deflate's session state once negotiated (session.js). */
export interface FayeSession {
  _ownContextTakeover: boolean;
  _ownWindowBits: number;
  _peerContextTakeover: boolean;
  _peerWindowBits: number;
}
/** The parts of faye-websocket's API used here (it ships no types). */
interface FayeSocket {
  protocol: string;
  /** The client's: the handshake response's headers. */
  headers?: Record<string, string>;
  send(data: string | Buffer): boolean;
  ping(message: string, callback: () => void): boolean;
  close(code?: number, reason?: string): void;
  on(event: 'open', f: () => void): void;
  on(event: 'message', f: (e: { data: string | Buffer }) => void): void;
  on(event: 'close', f: (e: { code: number; reason: string }) => void): void;
  _driver: {
    /** Closes with any code (the API allows only 1000 and 3000–4999, as WHATWG's does). */
    close(reason: string, code: number): boolean;
    /** The headers it sent (the client's request, the server's response). */
    _headers: { _lines: string[] };
    _extensions: { _sessions: [unknown, FayeSession][] };
  };
  /** Its TCP socket. */
  _stream: net.Socket;
}
interface Faye {
  new (req: http.IncomingMessage, socket: unknown, head: Buffer, protocols: string[], options?: object): FayeSocket;
  Client: new (url: string, protocols?: string[], options?: object) => FayeSocket;
}
/** permessage-deflate's options (its README). */
export interface FayeDeflateOptions {
  noContextTakeover?: boolean;
  requestNoContextTakeover?: boolean;
  maxWindowBits?: number;
  requestMaxWindowBits?: number;
}
/** `deflate` absent: no extension installed. */
export interface FayeOptions {
  deflate?: FayeDeflateOptions;
  maxLength?: number;
}
const require = createRequire(import.meta.url);
const Faye = require('faye-websocket') as Faye;
const deflate = require('permessage-deflate') as { configure(o: FayeDeflateOptions): object };

/** An installed package's version. */
export const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;

const fayeOptions = (options: FayeOptions) => ({
  extensions: options.deflate === undefined ? [] : [deflate.configure({ ...options.deflate })],
  maxLength: options.maxLength,
});

/** Sec-WebSocket-Extensions as faye sent it, from its header lines. */
function sentExtensions(ws: FayeSocket): string | undefined {
  const line = ws._driver._headers._lines.find((l) => /^sec-websocket-extensions:/i.test(l));
  return line?.slice(line.indexOf(':') + 1).trim();
}

const sessionOf = (ws: FayeSocket): FayeSession | undefined => {
  const s = ws._driver._extensions._sessions[0]?.[1];
  return (
    s && {
      _ownContextTakeover: s._ownContextTakeover,
      _ownWindowBits: s._ownWindowBits,
      _peerContextTakeover: s._peerContextTakeover,
      _peerWindowBits: s._peerWindowBits,
    }
  );
};

/** Closes with any code: the API's close for those it allows, its driver's for the others. */
function fayeClose(ws: FayeSocket, code: number, reason: string): void {
  if (code === 1000 || (code >= 3000 && code <= 4999)) ws.close(code, reason);
  else ws._driver.close(reason, code);
}

/** A faye connection with what it offered, what it was answered and its socket. */
export type FayeConn = Conn & { offered?: string; answered: string; session?: FayeSession; socket: net.Socket };

export function fayeOpen(url: string, protocols: string[] | undefined, options: FayeOptions): Promise<FayeConn> {
  const ws = new Faye.Client(url, protocols, fayeOptions(options));
  const box = inbox();
  ws.on('message', (e) =>
    box.push(
      typeof e.data === 'string' ? { binary: false, data: Buffer.from(e.data) } : { binary: true, data: e.data },
    ),
  );
  let opened = false;
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.on('close', (e) => r({ code: e.code, reason: e.reason })),
  );
  return new Promise((resolve, reject) => {
    closed.then((e) => opened || reject(new Error(`faye could not connect to ${url}: ${e.reason}`)));
    ws.on('open', () => {
      opened = true;
      resolve({
        protocol: ws.protocol,
        offered: sentExtensions(ws),
        answered: ws.headers?.['sec-websocket-extensions'] ?? '',
        session: sessionOf(ws),
        socket: ws._stream,
        send: (m) => void ws.send(m),
        next: box.next,
        ping: (payload) => new Promise((r) => ws.ping(payload, () => r(payload))),
        close: (code, reason) => fayeClose(ws, code, reason),
        drop: () => ws._stream.destroy(),
        closed,
      });
    });
  });
}

/** faye's client named `name` (the tests' titles). */
export const fayeClient = (name: string, options: FayeOptions = {}): Client => ({
  name,
  needsProtocol: false,
  open: (url, protocols) => fayeOpen(url, protocols, options),
});

/** What the faye server saw of a connection. */
export type FayeSeen = Seen & { offered?: string; session?: FayeSession; socket: net.Socket };

/**
 * faye's server in node:http's 'upgrade', with the echo targets' commands; `extensions` is its answer. It picks the
 * first subprotocol the client offers that it supports (the client's order: `superchat` from `superchat, chat`).
 */
export async function startFayeServer(
  options: FayeOptions = {},
): Promise<Running & { faye(index: number): Promise<FayeSeen> }> {
  const server = http.createServer();
  const seen = records();
  // Upgraded sockets are no longer the HTTP server's (closeAllConnections misses them): a test that failed midway
  // leaves them open, and server.close() would wait for them.
  const sockets = new Set<net.Socket>();
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const ws = new Faye(req, socket, head, ['chat', 'superchat'], fayeOptions(options));
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on('close', (e) => r({ code: e.code, reason: e.reason })),
    );
    ws.on('open', () =>
      seen.add({
        protocol: ws.protocol,
        extensions: sentExtensions(ws) ?? '',
        closed,
        offered: req.headers['sec-websocket-extensions'],
        session: sessionOf(ws),
        socket,
      } as FayeSeen),
    );
    ws.on('message', ({ data }) => {
      const command = typeof data === 'string' ? data : '';
      if (command.startsWith('cmd:close ')) {
        const [, code, ...reason] = command.split(' ');
        return fayeClose(ws, Number(code), reason.join(' '));
      }
      if (command === 'cmd:terminate') return void socket.destroy();
      if (command.startsWith('cmd:ping ')) {
        const payload = command.slice('cmd:ping '.length);
        return void ws.ping(payload, () => ws.send(`pong ${payload}`));
      }
      ws.send(data);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen: seen.get,
    faye: (index) => seen.get(index) as Promise<FayeSeen>,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
