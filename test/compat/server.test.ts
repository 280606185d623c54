/**
 * WebSocketServer through the ws API, on the real `ws` and on ws-stream/ws with the same
 * expectations: refused requests (status, headers, body), verifyClient in both forms,
 * handleProtocols, the 'headers' event, path and shouldHandle, noServer with handleUpgrade,
 * clientTracking, close(cb), address(), and a server made by `port` answering plain requests 426.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { KEY, KEY_ACCEPT, text } from '../support/frames.js';
import { compat, impls, listen, rawPeer } from './support.js';

function request(port: number, over: Record<string, string | null> = {}, line = 'GET / HTTP/1.1'): string {
  const headers: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...over,
  };
  let s = `${line}\r\n`;
  for (const [k, v] of Object.entries(headers)) if (v !== null) s += `${k}: ${v}\r\n`;
  return `${s}\r\n`;
}

/** The whole response a refused client gets: status, headers (lower-case names) and body. */
async function refusal(
  t: import('node:test').TestContext,
  port: number,
  head: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const peer = await rawPeer(t, port, head);
  await peer.waitClosed();
  const text = peer.received.toString('latin1');
  const i = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, i).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1))
    headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: text.slice(i + 4) };
}

for (const impl of impls) {
  describe(`${impl.name}: WebSocketServer`, () => {
    it('refuses bad requests as ws does: 405, 400 with the reason, the version header', async (t) => {
      const { port } = await listen(t, impl);
      const post = await refusal(t, port, request(port, {}, 'POST / HTTP/1.1'));
      assert.deepEqual([post.status, post.body, post.headers.connection], [405, 'Invalid HTTP method', 'close']);
      const noKey = await refusal(t, port, request(port, { 'Sec-WebSocket-Key': null }));
      assert.deepEqual([noKey.status, noKey.body], [400, 'Missing or invalid Sec-WebSocket-Key header']);
      // 21 base64 characters and "==": one short of a 16-byte nonce, refused by ws's own check.
      const shortKey = await refusal(t, port, request(port, { 'Sec-WebSocket-Key': KEY.slice(1) }));
      assert.deepEqual([shortKey.status, shortKey.body], [400, 'Missing or invalid Sec-WebSocket-Key header']);
      const upgrade = await refusal(t, port, request(port, { Upgrade: 'h2c' }));
      assert.deepEqual([upgrade.status, upgrade.body], [400, 'Invalid Upgrade header']);
      const version = await refusal(t, port, request(port, { 'Sec-WebSocket-Version': '12' }));
      assert.deepEqual(
        [version.status, version.body, version.headers['sec-websocket-version'], version.headers['content-type']],
        [400, 'Missing or invalid Sec-WebSocket-Version header', '13, 8', 'text/html'],
      );
      // The Upgrade token is case-insensitive (RFC 7230 §6.7): "WebSocket" is taken.
      const mixed = await rawPeer(t, port, request(port, { Upgrade: 'WebSocket' }));
      assert.equal((await mixed.responseHead()).status, 101);
      const protocol = await refusal(t, port, request(port, { 'Sec-WebSocket-Protocol': 'a,,b' }));
      assert.deepEqual([protocol.status, protocol.body], [400, 'Invalid Sec-WebSocket-Protocol header']);
      const twice = await refusal(t, port, request(port, { 'Sec-WebSocket-Protocol': 'chat, chat' }));
      assert.deepEqual([twice.status, twice.body], [400, 'Invalid Sec-WebSocket-Protocol header']);
    });

    it("'wsClientError' takes over a bad request when someone listens", async (t) => {
      const { wss, port } = await listen(t, impl);
      const seen = new Promise<[Error, import('node:stream').Duplex]>((r) =>
        wss.on('wsClientError', (err: Error, socket: import('node:stream').Duplex) => r([err, socket])),
      );
      await rawPeer(t, port, request(port, { 'Sec-WebSocket-Key': 'short' }));
      const [err, socket] = await seen;
      assert.equal(err.message, 'Missing or invalid Sec-WebSocket-Key header');
      socket.destroy();
    });

    it('verifyClient: false → 401; the callback form answers with its code, message and headers', async (t) => {
      const infos: { origin: string; secure: boolean; url: string }[] = [];
      const sync = await listen(t, impl, {
        verifyClient: (info: { origin: string; secure: boolean; req: http.IncomingMessage }) => {
          infos.push({ origin: info.origin, secure: info.secure, url: info.req.url! });
          return false;
        },
      });
      const r1 = await refusal(t, sync.port, request(sync.port, { Origin: 'https://a.example' }, 'GET /x HTTP/1.1'));
      assert.deepEqual([r1.status, r1.body], [401, 'Unauthorized']);
      assert.deepEqual(infos, [{ origin: 'https://a.example', secure: false, url: '/x' }]);
      const async = await listen(t, impl, {
        verifyClient: (_info: unknown, cb: (ok: boolean, code?: number, msg?: string, h?: object) => void) =>
          setImmediate(() => cb(false, 403, 'Go away', { 'X-Why': 'policy' })),
      });
      const r2 = await refusal(t, async.port, request(async.port));
      assert.deepEqual([r2.status, r2.body, r2.headers['x-why']], [403, 'Go away', 'policy']);
      const bare = await listen(t, impl, {
        verifyClient: (_info: unknown, cb: (ok: boolean) => void) => setImmediate(() => cb(false)),
      });
      const r3 = await refusal(t, bare.port, request(bare.port));
      assert.deepEqual([r3.status, r3.body], [401, 'Unauthorized'], 'refused with no code: 401');
      const yes = await listen(t, impl, {
        verifyClient: (_info: unknown, cb: (ok: boolean) => void) => setImmediate(() => cb(true)),
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${yes.port}`);
      await once(client, 'open');
      client.close();
      await once(client, 'close');
    });

    it('handleProtocols(Set, req), also assigned to options after construction (as graphql-ws does)', async (t) => {
      const { wss, port } = await listen(t, impl);
      const calls: [string[], string][] = [];
      wss.options.handleProtocols = (protocols: Set<string>, req: http.IncomingMessage) => {
        calls.push([[...protocols], req.url!]);
        return protocols.has('b') ? 'b' : false;
      };
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/p`, ['a', 'b']);
      const [sws] = await once(wss, 'connection');
      await once(client, 'open');
      assert.deepEqual([client.protocol, sws.protocol, calls], ['b', 'b', [[['a', 'b'], '/p']]]);
      client.close();
      await once(client, 'close');
      const none = new impl.WebSocket(`ws://127.0.0.1:${port}`, ['c']);
      const err = await new Promise<Error>((r) => none.on('error', r));
      assert.equal(err.message, 'Server sent no subprotocol');
    });

    it("the 'headers' event sees the 101's lines and may add to them", async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('headers', (headers: string[], req: http.IncomingMessage) => {
        assert.equal(headers[0], 'HTTP/1.1 101 Switching Protocols');
        assert.ok(headers.includes('Upgrade: websocket'));
        headers.push(`Set-Cookie: path=${req.url}`);
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/cookie`);
      const opened = once(client, 'open');
      const [res] = await once(client, 'upgrade');
      assert.deepEqual(res.headers['set-cookie'], ['path=/cookie']);
      await opened;
      client.close();
      await once(client, 'close');
    });

    it('path and an overridden shouldHandle refuse with 400', async (t) => {
      const { wss, port } = await listen(t, impl, { path: '/only' });
      const other = await refusal(t, port, request(port, {}, 'GET /other HTTP/1.1'));
      assert.deepEqual([other.status, other.body], [400, 'Bad Request']);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/only?x=1`);
      await once(client, 'open');
      client.terminate();
      wss.shouldHandle = () => false;
      const refused = await refusal(t, port, request(port, {}, 'GET /only HTTP/1.1'));
      assert.equal(refused.status, 400);
    });

    it('takes one and only one of port, server and noServer (a TypeError otherwise)', () => {
      const server = http.createServer();
      const message = 'One and only one of the "port", "server", or "noServer" options must be specified';
      for (const options of [{}, { port: 0, noServer: true }, { port: 0, server }, { server, noServer: true }]) {
        assert.throws(() => new impl.WebSocketServer(options), { name: 'TypeError', message }, JSON.stringify(options));
      }
    });

    it('close(cb) called again while closing: each callback is called once the server is closed', async (t) => {
      const { wss } = await listen(t, impl);
      const calls: string[] = [];
      await new Promise<void>((resolve) => {
        wss.close((err?: Error) => calls.push(`first ${err?.message ?? 'ok'}`));
        wss.close((err?: Error) => {
          calls.push(`second ${err?.message ?? 'ok'}`);
          resolve();
        });
      });
      assert.deepEqual(calls, ['first ok', 'second ok']);
    });

    it('close() with a server given: its listeners are removed, address() is null', async (t) => {
      const server = http.createServer();
      t.after(() => server.close());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const counts = () => ['upgrade', 'listening', 'error'].map((e) => server.listenerCount(e));
      const before = counts();
      const wss = new impl.WebSocketServer({ server });
      assert.deepEqual(
        counts(),
        before.map((n) => n + 1),
      );
      assert.equal(wss.address().port, (server.address() as AddressInfo).port);
      wss.close();
      await once(wss, 'close');
      assert.deepEqual(counts(), before);
      assert.equal(wss.address(), null);
    });

    it('reads perMessageDeflate: true back from options as ws does: an empty options object', () => {
      const wss = new impl.WebSocketServer({ noServer: true, perMessageDeflate: true });
      assert.deepEqual(wss.options.perMessageDeflate, {});
    });

    it('noServer with handleUpgrade; address() throws; 503 once closed', async (t) => {
      const wss = new impl.WebSocketServer({ noServer: true });
      assert.throws(() => wss.address(), { message: 'The server is operating in "noServer" mode' });
      const server = http.createServer();
      t.after(() => server.close());
      server.on('upgrade', (req, socket, head) => {
        wss.handleUpgrade(req, socket, head, (ws: { send(d: string): void }) => ws.send('welcome'));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const [msg] = await once(client, 'message');
      assert.equal(msg.toString(), 'welcome');
      client.close();
      await once(client, 'close');
      wss.close();
      await once(wss, 'close');
      const late = await refusal(t, port, request(port));
      assert.deepEqual([late.status, late.body], [503, 'Service Unavailable']);
    });

    it("noServer: closed right after handleUpgrade, 'close' waits for that connection to close", async (t) => {
      const wss = new impl.WebSocketServer({ noServer: true });
      const server = http.createServer();
      t.after(() => server.close());
      const order: string[] = [];
      const closed = once(wss, 'close').then(() => order.push('server close'));
      server.on('upgrade', (req, socket, head) => {
        wss.handleUpgrade(req, socket, head, (ws: { send(d: string): void; on(e: 'close', f: () => void): void }) => {
          ws.on('close', () => order.push('connection closed'));
          ws.send('welcome');
        });
        wss.close(); // the upgrade is on its way: the server is not closed until it is
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const [msg] = await once(client, 'message');
      assert.equal(msg.toString(), 'welcome');
      client.close();
      await closed;
      assert.deepEqual(order, ['connection closed', 'server close']);
    });

    it('options swapped around handleUpgrade (as crossws does) hold for that upgrade, verifyClient async or not', async (t) => {
      for (const asyncVerify of [false, true]) {
        const wss = new impl.WebSocketServer({
          noServer: true,
          verifyClient: asyncVerify
            ? (_i: unknown, cb: (ok: boolean) => void) => setImmediate(() => cb(true))
            : () => true,
        });
        const server = http.createServer();
        t.after(() => server.close());
        server.on('upgrade', (req, socket, head) => {
          const original = wss.options.perMessageDeflate;
          wss.options.perMessageDeflate = req.url === '/deflate' ? {} : false;
          try {
            wss.handleUpgrade(req, socket, head, (ws: { send(d: string): void }) => ws.send('hi'));
          } finally {
            wss.options.perMessageDeflate = original;
          }
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const port = (server.address() as AddressInfo).port;
        for (const path of ['/deflate', '/plain']) {
          const client = new impl.WebSocket(`ws://127.0.0.1:${port}${path}`);
          await once(client, 'message');
          assert.equal(
            client.extensions,
            path === '/deflate' ? 'permessage-deflate' : '',
            `${path} async ${asyncVerify}`,
          );
          client.close();
          await once(client, 'close');
        }
      }
    });

    it('clientTracking, and close(cb): clients stay open, close comes when the last one is gone', async (t) => {
      const server = http.createServer();
      t.after(() => server.close());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const wss = new impl.WebSocketServer({ server });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const [sws] = await once(wss, 'connection');
      await once(client, 'open');
      assert.deepEqual([wss.clients.size, wss.clients.has(sws)], [1, true]);
      let closed = false;
      wss.close((err?: Error) => {
        assert.equal(err, undefined);
        closed = true;
      });
      // The client is still open: it talks to the server after close().
      client.send('still here');
      const [echo] = await once(sws, 'message');
      assert.equal(echo.toString(), 'still here');
      assert.equal(closed, false);
      // The server's own 'close' listener goes first: the client is no longer tracked when the user's runs.
      const trackedAtClose = new Promise<boolean>((resolve) => sws.on('close', () => resolve(wss.clients.has(sws))));
      client.close();
      await once(wss, 'close');
      assert.deepEqual([closed, wss.clients.size, await trackedAtClose], [true, 0, false]);
      const again = await new Promise<Error | undefined>((r) => wss.close(r));
      assert.equal(again?.message, 'The server is not running');
      const untracked = await listen(t, impl, { clientTracking: false });
      assert.equal(untracked.wss.clients, undefined);
    });

    it("an 'error' on the socket while verifyClient decides destroys the socket", async (t) => {
      let destroyed: boolean | undefined;
      const { port } = await listen(t, impl, {
        verifyClient: (info: { req: http.IncomingMessage }, cb: (ok: boolean, code: number) => void) => {
          const socket = info.req.socket;
          // Emitted, not destroyed with it: only the server's own listener ends the socket.
          socket.emit('error', new Error('reset by a proxy'));
          destroyed = socket.destroyed;
          if (!destroyed) cb(false, 400);
        },
      });
      const peer = await rawPeer(t, port, request(port));
      await peer.waitClosed();
      assert.equal(destroyed, true);
      assert.equal(peer.received.length, 0);
    });

    it('a server made by `port` answers plain HTTP requests 426', async (t) => {
      const { port } = await listen(t, impl);
      const res = await new Promise<http.IncomingMessage>((r) => http.get(`http://127.0.0.1:${port}/`, r));
      let body = '';
      for await (const chunk of res) body += chunk;
      assert.deepEqual([res.statusCode, body, res.headers['content-type']], [426, 'Upgrade Required', 'text/plain']);
    });

    it('the handshake answer carries Sec-WebSocket-Accept for the key, and head bytes are the first frames', async (t) => {
      const { wss, port } = await listen(t, impl);
      const got = new Promise<string>((r) =>
        wss.on('connection', (sws: import('node:events').EventEmitter) =>
          sws.on('message', (d: Buffer) => r(d.toString())),
        ),
      );
      // The first frame in the same write as the request: node:http hands it over as `head`.
      const peer = await rawPeer(t, port, Buffer.concat([Buffer.from(request(port)), text('early')]));
      const head = await peer.responseHead();
      assert.equal(head.status, 101);
      assert.match(head.head, new RegExp(`Sec-WebSocket-Accept: ${KEY_ACCEPT.replace(/[+/]/g, '\\$&')}`, 'i'));
      assert.equal(await got, 'early');
    });
  });
}

describe('ws-stream/ws: a refusal with a status code node:http has no text for and no message (ws throws)', () => {
  it('verifyClient calling back (false, 499): 499 with an empty body, the server goes on', async (t) => {
    const { port } = await listen(t, compat, {
      verifyClient: (_info: unknown, cb: (ok: boolean, code: number) => void) => cb(false, 499),
    });
    for (let i = 0; i < 2; i++) {
      const answer = await refusal(t, port, request(port));
      assert.deepEqual([answer.status, answer.headers['content-length'], answer.body], [499, '0', '']);
    }
  });
});
