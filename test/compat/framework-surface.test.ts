/**
 * The corners of ws that NestJS's WsAdapter and Primus's websockets transformer lean on (test/frameworks/nestjs and
 * primus run them whole), pinned here side by side on the real ws and ws-stream/ws: Primus's client passes its options
 * only to a constructor of arity 3, with `[]` for protocols; WsAdapter tags each noServer server with its own `path`,
 * routes upgrades itself, reads messages through rxjs's `fromEvent` (addEventListener, `event.data`), and on close
 * calls `server.close(cb)` before terminating the clients, expecting `cb` only once they are gone.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: what NestJS and Primus rely on`, () => {
    it('the constructor has arity 3; `[]` protocols with options sends no subprotocol and keeps the options', async (t) => {
      assert.equal(impl.WebSocket.length, 3);
      const { wss, port } = await listen(t, impl);
      const request = once(wss, 'connection').then(([, req]) => (req as http.IncomingMessage).headers);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/primus?_primuscb=1`, [], {
        headers: { 'x-from': 'primus' },
      });
      const opened = once(client, 'open');
      const headers = await request;
      await opened;
      assert.deepEqual(
        [headers['sec-websocket-protocol'], headers['x-from'], client.protocol],
        [undefined, 'primus', ''],
      );
      client.close();
      await once(client, 'close');
    });

    it('a noServer server keeps a `path` assigned to it; an upgrade routed by hand, messages via addEventListener', async (t) => {
      const wss = new impl.WebSocketServer({ noServer: true });
      wss.path = '/ws';
      const server = http.createServer();
      server.on('upgrade', (req, socket, head) => {
        if (new URL(req.url ?? '/', 'http://x').pathname !== wss.path) return socket.destroy();
        wss.handleUpgrade(req, socket, head, (ws: unknown) => wss.emit('connection', ws, req));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      t.after(() => server.close());
      const port = (server.address() as net.AddressInfo).port;
      const seen: unknown[] = [];
      wss.on('connection', (ws: EventTarget & { send(d: unknown): void }) => {
        ws.addEventListener('message', (event) => {
          const data = (event as MessageEvent).data as { toString(): string };
          seen.push([
            typeof data === 'string' ? 'string' : Buffer.isBuffer(data) ? 'Buffer' : typeof data,
            String(data),
          ]);
          ws.send(`got ${seen.length}`);
        });
      });
      const refused = new impl.WebSocket(`ws://127.0.0.1:${port}/other`);
      const [err] = await once(refused, 'error');
      assert.equal((err as NodeJS.ErrnoException).code, 'ECONNRESET');
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/ws`);
      await once(client, 'open');
      // Both replies may come in one read: counted from the start, not with two once() in a row.
      const replies = new Promise<void>((resolve) => {
        let count = 0;
        client.on('message', () => ++count === 2 && resolve());
      });
      client.send('{"event":"a"}');
      client.send(Buffer.from('{"event":"b"}'));
      await replies;
      assert.equal(wss.path, '/ws');
      assert.deepEqual(seen, [
        ['string', '{"event":"a"}'],
        ['Buffer', '{"event":"b"}'],
      ]);

      // WsAdapter.close: close(cb) first, then terminate; cb comes once the clients are gone, with no error.
      const order: string[] = [];
      const closed = new Promise<void>((resolve) =>
        wss.close((err?: Error) => {
          order.push(`close callback ${err ?? 'without error'}, ${wss.clients.size} clients`);
          resolve();
        }),
      );
      const clientClosed = once(client, 'close').then(([code]) => order.push(`client ${code}`));
      for (const ws of wss.clients) ws.terminate();
      await Promise.all([closed, clientClosed]);
      assert.ok(order.includes('close callback without error, 0 clients'), order.join());
      assert.ok(order.includes('client 1006'), order.join());
    });
  });
}
