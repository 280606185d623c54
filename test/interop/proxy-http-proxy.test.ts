/**
 * A Node app proxying upgrades with `http-proxy` (`ws: true`, its `'upgrade'` handler calling
 * `proxy.ws`) in front of a ws-stream/ws `WebSocketServer` and of `ws-stream serve`; clients:
 * ws-stream's `connect()`, ws-stream/ws's `WebSocket` and the real `ws`. Both ends' views are
 * checked, as behind nginx and HAProxy (proxy-reverse.test.ts).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import httpProxy from 'http-proxy';
import {
  bigPayload,
  type ClientKind,
  assertEndToEnd,
  echoExchange,
  openClient,
  ServeProcess,
  startCompatServer,
} from './proxy-support.js';

const big = bigPayload(0x5eed_0003);

/** An http.Server whose upgrades `http-proxy` forwards to 127.0.0.1:`target`; what it reported. */
async function startHttpProxy(target: number): Promise<{ port: number; errors: Error[]; close(): Promise<void> }> {
  const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${target}`, ws: true });
  const errors: Error[] = [];
  proxy.on('error', (err) => errors.push(err));
  const server = http.createServer((req, res) => proxy.web(req, res));
  server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    errors,
    close: async () => {
      proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('behind a Node app proxying with http-proxy (ws: true)', () => {
  let compat: Awaited<ReturnType<typeof startCompatServer>>;
  let echo: ServeProcess;
  let toCompat: Awaited<ReturnType<typeof startHttpProxy>>;
  let toEcho: Awaited<ReturnType<typeof startHttpProxy>>;
  before(async () => {
    compat = await startCompatServer();
    echo = await ServeProcess.start(['--deflate', '--protocols', 'chat,superchat', '--log']);
    toCompat = await startHttpProxy(compat.port);
    toEcho = await startHttpProxy(echo.port);
  });
  after(async () => {
    await toCompat?.close();
    await toEcho?.close();
    await compat?.close();
    await echo?.stop();
  });

  for (const kind of ['connect', 'compat', 'ws'] as ClientKind[]) {
    it(`${kind} client ↔ ws-stream/ws WebSocketServer: both ends' views, closes both ways`, async () => {
      const url = `ws://127.0.0.1:${toCompat.port}/`;
      const nextSide = compat.next();
      const c = await openClient(kind, url);
      const side = await nextSide;
      await assertEndToEnd(c, side, big);
      assert.equal(side.messages[0], 'hello through the proxy');
      assert.equal(Buffer.compare(side.messages[1] as Buffer, big), 0);
      assert.deepEqual(side.pings, ['client-ping']);
      assert.deepEqual(side.pongs, ['server-ping']);

      const nextSide2 = compat.next();
      const c2 = await openClient(kind, url);
      const side2 = await nextSide2;
      await c2.send('close-me');
      assert.deepEqual(await c2.closed, { code: 4002, reason: 'server says bye' });
      assert.deepEqual(await side2.closed, { code: 4002, reason: 'server says bye' });
      assert.deepEqual(toCompat.errors, [], 'http-proxy reported no error');
    });

    it(`${kind} client ↔ ws-stream serve: subprotocol, deflate, 1 MiB both ways, ping, close`, async () => {
      const opened = (await echo.lines(/websocket open over HTTP\/1\.1[^\n]*/, 0)).length;
      const c = await openClient(kind, `ws://127.0.0.1:${toEcho.port}/`);
      assert.equal(c.protocol, 'chat');
      assert.match(c.extensions, /^permessage-deflate/);
      const lines = await echo.lines(/websocket open over HTTP\/1\.1[^\n]*/, opened + 1);
      assert.match(lines[opened]![0], /with permessage-deflate/);
      assert.deepEqual(await echoExchange(c, big), { code: 4001, reason: 'client says bye' });
      assert.deepEqual(toEcho.errors, [], 'http-proxy reported no error');
    });
  }

  it("a refusal by serve reaches the client through http-proxy with its status and ws-stream's code", async () => {
    // No Sec-WebSocket-Key: serve answers 400 on the upgraded socket; http-proxy relays it.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: toEcho.port,
        path: '/',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
      });
      req.once('response', (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (d: string) => (body += d));
        r.once('end', () => resolve({ status: r.statusCode!, body }));
      });
      req.once('upgrade', () => reject(new Error('upgraded')));
      req.once('error', reject);
      req.end();
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /Sec-WebSocket-Key/i);
    const refused = await echo.lines(/handshake refused: ERR_WS_NO_SEC_KEY/);
    assert.equal(refused.length, 1);
  });
});
