/**
 * RFC 9112 §2.6 on the three HTTP/1.1 server paths, probed with raw bytes over TCP: `accept()` reading the
 * request itself, `ws-stream serve` (node:http's parser, then `accept(req)`) and ws-stream/ws's WebSocketServer
 * (node:http's parser, then the core's checks). A request line with a major version other than 1 is not
 * HTTP/1.x: 505 HTTP Version Not Supported with `Connection: close` (node:http passes HTTP/0.9 and HTTP/2.0
 * on, and refuses other majors with 400 itself). HTTP/1.0 is below RFC 6455 §4.1's 1.1: 400 (ws-stream/ws takes
 * it, as ws does). A later minor, HTTP/1.2, is processed as 1.1 where we parse (node:http refuses it with 400
 * before we see it). A malformed version is 400. HTTP/2's connection preface (prior knowledge, no TLS) is
 * 505 where we answer it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from '../../src/compat/index.js';
import { type WebSocketError, WebSocketStream } from '../../src/index.js';
import { closeFrame, requestHead } from '../support/frames.js';
import { exchange } from '../support/peer.js';
import { type StartedServer, startServer } from './raw-client.js';

type Path = 'accept' | 'serve' | 'compat';
/** The status each path answers with; `code` is what accept() fails with when it refuses. */
interface Case {
  version: string;
  /** The bytes sent, when not an upgrade request in `version`. */
  raw?: string;
  status: Record<Path, number>;
  code?: string;
}

const all = (status: number): Record<Path, number> => ({ accept: status, serve: status, compat: status });

const cases: Case[] = [
  { version: 'HTTP/1.1', status: all(101) },
  { version: 'HTTP/2.0', status: all(505), code: 'ERR_WS_BAD_HTTP_VERSION' },
  { version: 'HTTP/0.9', status: all(505), code: 'ERR_WS_BAD_HTTP_VERSION' },
  { version: 'HTTP/3.0', status: { accept: 505, serve: 400, compat: 400 }, code: 'ERR_WS_BAD_HTTP_VERSION' },
  { version: 'HTTP/9.9', status: { accept: 505, serve: 400, compat: 400 }, code: 'ERR_WS_BAD_HTTP_VERSION' },
  { version: 'HTTP/1.0', status: { accept: 400, serve: 400, compat: 101 }, code: 'ERR_WS_BAD_HTTP_VERSION' },
  { version: 'HTTP/1.2', status: { accept: 101, serve: 400, compat: 400 } },
  { version: 'HTTP/1.9', status: { accept: 101, serve: 400, compat: 400 } },
  {
    // HTTP/2 with prior knowledge (RFC 9113 §3.3): node:http's parser stops at it (HPE_PAUSED_H2_UPGRADE), and
    // ws-stream/ws leaves that to node's own 400, as ws does.
    version: 'the HTTP/2 connection preface',
    raw: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    status: { accept: 505, serve: 505, compat: 400 },
    code: 'ERR_WS_BAD_HTTP_VERSION',
  },
  ...['HTTP/1.1x', 'HTTP/11', 'http/1.1', 'HTTP/2', 'HTTP/1.10', 'HTTP/1.1 '].map(
    (version): Case => ({ version, status: all(400), code: 'ERR_WS_BAD_REQUEST' }),
  ),
];

describe('RFC 9112 §2.6: the HTTP version of an upgrade request, on the three server paths', {
  timeout: 60_000,
}, () => {
  const ports = new Map<Path, number>();
  /** accept()'s outcome for each connection, in order: 'open' or the error code. */
  const outcomes: Promise<string>[] = [];
  let acceptServer: net.Server;
  let compat: WebSocketServer;
  let serve: StartedServer;

  before(async () => {
    acceptServer = net.createServer((socket) => {
      const ws = new WebSocketStream(socket);
      outcomes.push(
        ws.accept().then(
          // The client's close frame, behind its request, is read and answered; then the server ends.
          () =>
            ws.read().then(
              () => 'open',
              () => 'open',
            ),
          (e: WebSocketError) => e.code,
        ),
      );
    });
    acceptServer.listen(0, '127.0.0.1');
    await once(acceptServer, 'listening');
    ports.set('accept', (acceptServer.address() as net.AddressInfo).port);
    compat = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(compat, 'listening');
    ports.set('compat', (compat.address() as net.AddressInfo).port);
    serve = await startServer();
    ports.set('serve', serve.port);
  });
  after(async () => {
    acceptServer.close();
    compat.close();
    await serve.stop();
  });

  for (const c of cases) {
    it(`${c.raw === undefined ? `GET / ${c.version}` : c.version}: ${Object.entries(c.status)
      .map(([p, s]) => `${p} ${s}`)
      .join(', ')}`, async () => {
      for (const path of ['accept', 'serve', 'compat'] as const) {
        const before = outcomes.length;
        // A close frame behind the request: an opened WebSocket answers it and the server closes, as a refusing one does.
        const request = Buffer.concat([Buffer.from(c.raw ?? requestHead({}, `GET / ${c.version}`)), closeFrame(1000)]);
        const got = await exchange(net.connect(ports.get(path)!, '127.0.0.1'), request);
        const head = got.slice(0, got.indexOf('\r\n\r\n') + 2);
        const expected = c.status[path];
        assert.equal(Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]), expected, `${path}: ${JSON.stringify(head)}`);
        if (expected === 505) assert.match(head, /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/, path);
        if (expected !== 101) assert.match(head, /\r\nConnection: close\r\n/i, `${path}: ${JSON.stringify(head)}`);
        if (path === 'accept') {
          assert.equal(outcomes.length, before + 1);
          assert.equal(await outcomes[before], expected === 101 ? 'open' : c.code);
        }
      }
    });
  }
});
