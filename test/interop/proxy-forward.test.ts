/**
 * Clients going out through a real HTTP CONNECT proxy (tinyproxy): ws-stream/ws's `WebSocket` (and
 * the real `ws`, the same setup) with `agent: new HttpsProxyAgent(proxy)` to ws:// and wss://
 * targets (TLS through the tunnel, the fixture's certificate as `ca`); ws-stream's core over a
 * tunnel the application opened itself: `connect(wss://…, { tls: { socket } })` for TLS, and
 * `new WebSocketStream(socket).handshake(…)` for ws:// (connect() has no proxy option). tinyproxy's
 * log shows each CONNECT, so the tests know the connection went through it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpsProxyAgent } from 'https-proxy-agent';
import WebSocket from 'ws';
import CompatWebSocket from '../../src/compat/index.js';
import { connect, WebSocketStream } from '../../src/index.js';
import {
  bigPayload,
  CA,
  assertEndToEnd,
  echoExchange,
  openClient,
  type ProxyProcess,
  startCompatServer,
  startTinyproxy,
} from './proxy-support.js';

const big = bigPayload(0x5eed_0002);

/** Opens a tunnel to `host:port` through the proxy (HTTP CONNECT); rejects on any status but 200. */
function tunnel(proxyPort: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        return reject(new Error(`CONNECT ${target}: ${res.statusCode}`));
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('error', reject);
    req.end();
  });
}

describe('clients through tinyproxy (HTTP CONNECT)', () => {
  let proxy: ProxyProcess & { port: number };
  let plain: Awaited<ReturnType<typeof startCompatServer>>;
  let secure: Awaited<ReturnType<typeof startCompatServer>>;
  before(async () => {
    proxy = await startTinyproxy();
    plain = await startCompatServer();
    secure = await startCompatServer({ tls: true });
  });
  after(async () => {
    await proxy?.stop();
    await plain?.close();
    await secure?.close();
  });

  /** Waits until tinyproxy logged `count` CONNECTs to 127.0.0.1:`port` (it logs as it handles them). */
  const connects = (port: number): number =>
    proxy
      .output()
      .split('\n')
      .filter((l) => l.includes(`CONNECT 127.0.0.1:${port} `)).length;

  for (const kind of ['compat', 'ws'] as const) {
    for (const tls of [false, true]) {
      const scheme = tls ? 'wss' : 'ws';
      it(`${kind} WebSocket with an HttpsProxyAgent to a ${scheme}:// server: both ends' views`, async () => {
        const server = tls ? secure : plain;
        const before = connects(server.port);
        const agent = new HttpsProxyAgent(`http://127.0.0.1:${proxy.port}`);
        const nextSide = server.next();
        const c = await openClient(kind, `${scheme}://127.0.0.1:${server.port}/`, { ca: CA, agent });
        const side = await nextSide;
        assert.equal(connects(server.port), before + 1, 'the connection went through tinyproxy');
        await assertEndToEnd(c, side, big);
        assert.equal(Buffer.compare(side.messages[1] as Buffer, big), 0);
        assert.deepEqual(side.pongs, ['server-ping']);

        // The server closes: 4002 and its reason reach the client through the tunnel.
        const nextSide2 = server.next();
        const c2 = await openClient(kind, `${scheme}://127.0.0.1:${server.port}/`, { ca: CA, agent });
        const side2 = await nextSide2;
        await c2.send('close-me');
        assert.deepEqual(await c2.closed, { code: 4002, reason: 'server says bye' });
        assert.deepEqual(await side2.closed, { code: 4002, reason: 'server says bye' });
        assert.equal(connects(server.port), before + 2);
        agent.destroy();
      });
    }
  }

  it('a proxy that refuses the CONNECT (403): ws-stream/ws reports it as ws does', async () => {
    const strict = await startTinyproxy({ connectPorts: [443] });
    try {
      const seen: Record<string, string[]> = {};
      for (const kind of ['compat', 'ws'] as const) {
        for (const scheme of ['ws', 'wss']) {
          const agent = new HttpsProxyAgent(`http://127.0.0.1:${strict.port}`);
          // biome-ignore lint/suspicious/noExplicitAny: both classes have ws's API
          const Impl: any = kind === 'ws' ? WebSocket : CompatWebSocket;
          const ws = new Impl(`${scheme}://127.0.0.1:${secure.port}/`, { agent, ca: CA });
          const events: string[] = [];
          ws.on('open', () => events.push('open'));
          ws.on('error', (e: Error) => events.push(`error ${e.message}`));
          await new Promise<void>((resolve) =>
            ws.on('close', (code: number) => {
              events.push(`close ${code}`);
              resolve();
            }),
          );
          seen[`${kind} ${scheme}`] = events;
        }
      }
      const expected = ['error Unexpected server response: 403', 'close 1006'];
      assert.deepEqual(seen, {
        'compat ws': expected,
        'compat wss': expected,
        'ws ws': expected,
        'ws wss': expected,
      });
      assert.match(strict.output(), /CONNECT 127\.0\.0\.1:\d+ /, 'tinyproxy saw the CONNECTs');
    } finally {
      await strict.stop();
    }
  });

  it("core connect() to wss:// over the application's own CONNECT tunnel (tls: { socket })", async () => {
    const before = connects(secure.port);
    const nextSide = secure.next();
    const c = await openClient('connect', `wss://localhost:${secure.port}/`, {
      ca: CA,
      open: async (options) => {
        const socket = await tunnel(proxy.port, `127.0.0.1:${secure.port}`);
        // The certificate is checked against the URL's host (localhost) over the tunnel's socket.
        return connect(`wss://localhost:${secure.port}/`, { ...options, tls: { socket } });
      },
    });
    const side = await nextSide;
    assert.equal(connects(secure.port), before + 1);
    await assertEndToEnd(c, side, big);
  });

  it('core connect() over a tunnel still checks the certificate: a wrong host name fails with ERR_WS_NEXT_LAYER', async () => {
    const socket = await tunnel(proxy.port, `127.0.0.1:${secure.port}`);
    const err = await connect(`wss://wrong.example:${secure.port}/`, { ca: CA, tls: { socket } }).then(
      () => assert.fail('connected'),
      (e: { code: string; cause?: { code?: string } }) => e,
    );
    assert.equal(err.code, 'ERR_WS_NEXT_LAYER');
    assert.equal(err.cause?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it("core handshake() to ws:// over the application's own CONNECT tunnel", async () => {
    const before = connects(plain.port);
    const nextSide = plain.next();
    const c = await openClient('connect', `ws://127.0.0.1:${plain.port}/`, {
      open: async ({ protocols, perMessageDeflate, controlCallback }) => {
        const socket = await tunnel(proxy.port, `127.0.0.1:${plain.port}`);
        const ws = new WebSocketStream(socket, { perMessageDeflate, controlCallback });
        await ws.handshake({ host: `127.0.0.1:${plain.port}`, target: '/', protocols });
        return ws;
      },
    });
    const side = await nextSide;
    assert.equal(connects(plain.port), before + 1);
    assert.equal(c.protocol, 'chat');
    assert.match(side.extensions, /^permessage-deflate/);
    await c.untilPings(1);
    assert.deepEqual(c.pings, ['server-ping']);
    assert.deepEqual(await echoExchange(c, big), { code: 4001, reason: 'client says bye' });
    assert.deepEqual(await side.closed, { code: 4001, reason: 'client says bye' });
  });
});
