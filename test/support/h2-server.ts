/** HTTP/2 servers for the RFC 8441 tests: one (TLS) with extended CONNECT on the fixture certificate, and a raw h2c one of frames. */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { h2Frame } from './frames.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
/** The fixture certificate (localhost), for clients to trust. */
export const ca = fixture('cert.pem');
export type After = { after(fn: () => unknown): void };

/** An HTTP/2 server with extended CONNECT handing each stream to `onStream`, its sessions destroyed and it closed after the test. */
export async function h2Server(
  t: After,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<number> {
  const server = http2.createSecureServer({
    key: fixture('key.pem'),
    cert: ca,
    settings: { enableConnectProtocol: true },
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
  });
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** The headers of a valid extended CONNECT (RFC 8441) to `port`, plus `extra`. */
export const connectHeaders = (port: number, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders => ({
  ':method': 'CONNECT',
  ':protocol': 'websocket',
  ':scheme': 'https',
  ':path': '/',
  ':authority': `localhost:${port}`,
  'sec-websocket-version': '13',
  ...extra,
});

/** A frame as `rawH2c` reads it. */
export type RawH2Frame = { type: number; flags: number; stream: number; payload: Buffer };

/** SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3): a SETTINGS payload. */
export const ENABLE_CONNECT = Buffer.from([0, 8, 0, 0, 0, 1]);

/** An HPACK field block of literals without indexing or Huffman coding (RFC 7541 §6.2.2), names and values under 128 bytes. */
export function fieldBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(
    fields.map(([n, v]) =>
      Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]),
    ),
  );
}

/**
 * An h2c server of raw frames on 127.0.0.1, closed after the test (its connections destroyed): its
 * preface is SETTINGS with `settings` (default: ENABLE_CONNECT); it acknowledges the client's SETTINGS
 * and PINGs, and hands every frame the client sends, after the client's preface, to `onFrame` with the socket to
 * answer on. `onConnection` sees each connection first.
 */
export async function rawH2c(
  t: After,
  onFrame: (f: RawH2Frame, socket: Socket) => void,
  options: { settings?: Buffer; onConnection?: (socket: Socket) => void } = {},
): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    options.onConnection?.(socket);
    socket.write(h2Frame(4, 0, 0, options.settings ?? ENABLE_CONNECT));
    let buf = Buffer.alloc(0);
    let prefaceLeft = 24;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const skip = Math.min(prefaceLeft, buf.length);
      prefaceLeft -= skip;
      buf = buf.subarray(skip);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const size = buf.readUIntBE(0, 3);
        const f = {
          type: buf[3]!,
          flags: buf[4]!,
          stream: buf.readUInt32BE(5) & 0x7fffffff,
          payload: buf.subarray(9, 9 + size),
        };
        buf = buf.subarray(9 + size);
        if (f.type === 4 && (f.flags & 1) === 0) socket.write(h2Frame(4, 1, 0)); // SETTINGS ACK
        if (f.type === 6 && (f.flags & 1) === 0) socket.write(h2Frame(6, 1, 0, f.payload)); // PING ACK
        onFrame(f, socket);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}
