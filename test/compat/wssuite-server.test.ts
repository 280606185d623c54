/**
 * WebSocketServer behaviours from ws's websocket-server.test.js, on the real `ws` and on
 * ws-stream/ws with one expectation: `path` ignores the query, verifyClient's `info` (origin,
 * secure, req), 'connection' gets the request, `clientTracking: false` leaves `clients` undefined,
 * and handleUpgrade() with a socket that is no longer writable destroys it without an answer or a
 * callback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { KEY } from '../support/frames.js';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

for (const impl of impls) {
  describe(`${impl.name}: WebSocketServer, as ws's suite checks it`, () => {
    it("path with a query, verifyClient's info, the request of 'connection', clientTracking false", async (t) => {
      const log: string[] = [];
      const { wss, port } = await listen(t, impl, {
        path: '/foo',
        clientTracking: false,
        verifyClient: (info: Any) => {
          log.push(`verify origin=${info.origin} secure=${info.secure} url=${info.req.url}`);
          return true;
        },
      });
      assert.equal(wss.clients, undefined);
      wss.on('connection', (_s: Any, req: http.IncomingMessage) => log.push(`connection ${req.url}`));
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/foo?bar=1`, { origin: 'http://o.example' });
      t.after(() => client.terminate());
      await once(client, 'open');
      assert.deepEqual(log, ['verify origin=http://o.example secure=false url=/foo?bar=1', 'connection /foo?bar=1']);
    });

    it('handleUpgrade() with a socket already ended: destroyed, no answer, no callback', async (t) => {
      const wss = new impl.WebSocketServer({ noServer: true });
      const server = http.createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      t.after(() => server.close());
      let upgraded = false;
      const handled = new Promise<net.Socket>((resolve) =>
        server.on('upgrade', (req, socket: net.Socket, head) => {
          socket.end();
          wss.handleUpgrade(req, socket, head, () => {
            upgraded = true;
          });
          resolve(socket);
        }),
      );
      const raw = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      t.after(() => raw.destroy());
      raw.on('error', () => {});
      let got = '';
      raw.on('data', (d: Buffer) => {
        got += d.toString('latin1');
      });
      raw.write(
        `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      const socket = await handled;
      await once(raw, 'close');
      if (!socket.destroyed) await once(socket, 'close');
      assert.equal(socket.destroyed, true);
      assert.equal(got, '');
      assert.equal(upgraded, false);
    });
  });
}

/** An upgrade request with `over` replacing (or, null, removing) the good request's header lines. */
function upgradeRequest(port: number, over: Record<string, string | null>, line = 'GET /x HTTP/1.1'): string {
  const h: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...over,
  };
  const lines = Object.entries(h).flatMap(([k, v]) => (v === null ? [] : [`${k}: ${v}`]));
  return `${line}\r\n${lines.join('\r\n')}\r\n\r\n`;
}

const clientErrors: [string, Record<string, string | null>, string?][] = [
  ['Invalid HTTP method', {}, 'POST /x HTTP/1.1'],
  ['Invalid Upgrade header', { Upgrade: 'h2c' }],
  ['Missing or invalid Sec-WebSocket-Key header', { 'Sec-WebSocket-Key': 'short' }],
  ['Missing or invalid Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '12' }],
  ['Invalid Sec-WebSocket-Protocol header', { 'Sec-WebSocket-Protocol': 'a,,b' }],
  ['Invalid or unacceptable Sec-WebSocket-Extensions header', { 'Sec-WebSocket-Extensions': 'permessage-deflate; x' }],
];

for (const impl of impls) {
  describe(`${impl.name}: 'wsClientError', as ws's suite checks it`, () => {
    for (const [message, over, line] of clientErrors) {
      it(`${message}: the listener gets (Error, socket, req) before anything was written, and answers`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
        const seen = new Promise<string>((resolve) =>
          wss.on('wsClientError', (err: Error, socket: net.Socket, req: http.IncomingMessage) => {
            resolve(`${err.constructor.name}: ${err.message} url=${req.url} written=${socket.bytesWritten}`);
            socket.end('HTTP/1.1 418 Teapot\r\nConnection: close\r\n\r\n');
          }),
        );
        const socket = net.connect(port, '127.0.0.1');
        t.after(() => socket.destroy());
        let got = '';
        socket.on('data', (d: Buffer) => {
          got += d.toString('latin1');
        });
        socket.write(upgradeRequest(port, over, line));
        assert.equal(await seen, `Error: ${message} url=/x written=0`);
        await once(socket, 'end');
        assert.equal(got, 'HTTP/1.1 418 Teapot\r\nConnection: close\r\n\r\n');
      });
    }

    it("path and verifyClient refusals are not 'wsClientError': answered 400 and 401", async (t) => {
      const { wss, port } = await listen(t, impl, { path: '/here', verifyClient: () => false });
      let emitted = 0;
      wss.on('wsClientError', () => emitted++);
      const statuses: string[] = [];
      for (const line of ['GET /elsewhere HTTP/1.1', 'GET /here HTTP/1.1']) {
        const socket = net.connect(port, '127.0.0.1');
        t.after(() => socket.destroy());
        let got = '';
        socket.on('data', (d: Buffer) => {
          got += d.toString('latin1');
        });
        socket.write(upgradeRequest(port, {}, line));
        await once(socket, 'close');
        statuses.push(got.split('\r\n')[0]!);
      }
      assert.deepEqual(statuses, ['HTTP/1.1 400 Bad Request', 'HTTP/1.1 401 Unauthorized']);
      assert.equal(emitted, 0);
    });
  });
}
