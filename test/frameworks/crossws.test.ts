/**
 * crossws 0.4's Node adapter on each engine, given the engine's server as its `wss`, end to end with the `ws` package's
 * client: the upgrade hook picks the subprotocol and adds a header (crossws writes both through the server's
 * `headers` event), open, text and binary echo, pub/sub between peers, close code and reason on both sides.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import crossws from 'crossws/adapters/node';
import type { NodeOptions, NodeAdapter } from 'crossws/adapters/node';
import { WebSocket as WsClient } from 'ws';
import { engines, listen, closeServer, nextEvent } from './engines.js';

for (const engine of engines) {
  describe(`crossws 0.4 (node adapter) on ${engine.name}`, () => {
    let httpServer: http.Server;
    let port: number;
    let adapter: NodeAdapter;
    /** Emits `close` with the details the close hook got. */
    const hookEvents = new EventEmitter();
    const clients: WsClient[] = [];

    before(async () => {
      ({ server: httpServer, port } = await listen());
      // As crossws builds its own: no server-side subprotocol choice (the upgrade hook makes it).
      const wss = new engine.WebSocketServer({ noServer: true, handleProtocols: () => false });
      adapter = crossws({
        wss: wss as NodeOptions['wss'],
        hooks: {
          upgrade: (req) => {
            if (new URL(req.url).pathname === '/refused') throw new Response('no', { status: 401 });
            return { protocol: 'chat', headers: { 'x-crossws': 'yes' } };
          },
          open: (peer) => {
            peer.subscribe('room');
            peer.send('welcome');
          },
          message: (peer, message) => {
            const text = message.text();
            if (text.startsWith('publish:')) return void peer.publish('room', text.slice(8));
            if (text === 'close me') return void peer.close(4001, 'as asked');
            peer.send(typeof message.rawData === 'string' ? text : message.uint8Array());
          },
          close: (_peer, details) => {
            hookEvents.emit('close', details);
          },
        },
      });
      httpServer.on('upgrade', (req, socket, head) => void adapter.handleUpgrade(req, socket, head));
    });
    after(async () => {
      for (const c of clients) c.terminate();
      await adapter.close();
      await closeServer(httpServer);
    });

    async function client(path = '/'): Promise<{ c: WsClient; headers: http.IncomingHttpHeaders; welcome: string }> {
      const c = new WsClient(`ws://127.0.0.1:${port}${path}`, ['chat', 'other']);
      clients.push(c);
      const upgrade = nextEvent<http.IncomingMessage>(c, 'upgrade');
      const welcome = nextEvent<Buffer>(c, 'message');
      await nextEvent(c, 'open', 'error');
      return { c, headers: (await upgrade).headers, welcome: String(await welcome) };
    }

    it('opens with the subprotocol and header the upgrade hook chose, and echoes text and binary', async () => {
      const { c, headers, welcome } = await client();
      assert.equal(c.protocol, 'chat');
      assert.equal(headers['x-crossws'], 'yes');
      assert.equal(welcome, 'welcome');
      const text = nextEvent<Buffer>(c, 'message');
      c.send('héllo ✓');
      assert.equal(String(await text), 'héllo ✓');
      const payload = Buffer.from([0, 1, 2, 253, 254, 255]);
      const binary = new Promise<[Buffer, boolean]>((resolve) =>
        c.once('message', (d, isBinary) => resolve([d as Buffer, isBinary])),
      );
      c.send(payload);
      const [data, isBinary] = await binary;
      assert.equal(isBinary, true);
      assert.ok(data.equals(payload));
    });

    it('publishes from one peer to the others subscribed', async () => {
      const a = await client();
      const b = await client();
      const atB = nextEvent<Buffer>(b.c, 'message');
      a.c.send('publish:news for the room');
      assert.equal(String(await atB), 'news for the room');
    });

    it('closes: the client sees the code and reason the server closed with; the close hook sees the client’s', async () => {
      const { c } = await client();
      const closed = new Promise<[number, string]>((resolve) =>
        c.once('close', (code, reason) => resolve([code, String(reason)])),
      );
      c.send('close me');
      assert.deepEqual(await closed, [4001, 'as asked']);
      const { c: d } = await client();
      const hook = nextEvent(hookEvents, 'close');
      d.close(4002, 'client leaves');
      assert.deepEqual(await hook, { code: 4002, reason: 'client leaves' });
      await nextEvent(d, 'close');
    });

    it('an upgrade refused by the hook: the client gets the 401', async () => {
      const c = new WsClient(`ws://127.0.0.1:${port}/refused`);
      const res = await new Promise<http.IncomingMessage>((resolve) =>
        c.once('unexpected-response', (_req, r) => resolve(r)),
      );
      assert.equal(res.statusCode, 401);
      // With an unexpected-response listener, ending the attempt is the caller's: ws reports it as an error.
      const ended = nextEvent<Error>(c, 'error');
      c.terminate();
      assert.match((await ended).message, /closed before the connection was established/);
    });
  });
}
