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
