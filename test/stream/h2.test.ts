/** WebSocket over HTTP/2 (RFC 8441) over real TLS sockets on 127.0.0.1: both roles, many streams on one connection. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { WebSocketStream, connect, type WebSocketError, type ClientHandshakeError } from '../../src/index.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
const ca = fixture('cert.pem');

let server: http2.Http2SecureServer;
let port = 0;
const refusals: string[] = [];
/** Told of each refusal the server's accept() reports. */
let onRefusal: () => void = () => {};
const seen: http2.IncomingHttpHeaders[] = [];

before(async () => {
  server = http2.createSecureServer({
    key: fixture('key.pem'),
    cert: ca,
    allowHTTP1: true,
    settings: { enableConnectProtocol: true },
  });
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT') {
      stream.respond({ ':status': 200 });
      stream.end('not a WebSocket');
      return;
    }
    seen.push(headers);
    const ws = new WebSocketStream(stream, { perMessageDeflate: true });
    ws.accept({ headers }, { selectProtocol: (o) => (o.includes('chat') ? 'chat' : undefined) }).then(
      async () => {
        try {
          for await (const m of ws) await ws.write(m.data, { binary: m.binary });
        } catch {
          /* ended */
        }
      },
      (e: WebSocketError) => {
        refusals.push(e.code);
        onRefusal();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

describe('WebSocket over HTTP/2', () => {
  it('connect({ http2: true }): subprotocol, messages, permessage-deflate, clean close', async () => {
    const ws = await connect(`wss://localhost:${port}/chat`, {
      http2: true,
      ca,
      protocols: ['chat'],
      perMessageDeflate: true,
    });
    assert.equal(ws.protocol, 'chat');
    assert.match(ws.extensions, /^permessage-deflate/);
    for (const m of ['héllo over h2', 'x'.repeat(100000)]) {
      await ws.write(m);
      assert.equal((await ws.read()).text(), m);
    }
    await ws.write(Buffer.alloc(70000, 3));
    assert.equal((await ws.read()).data.length, 70000);
    await ws.close({ code: 1000, reason: 'bye' });
    assert.deepEqual(ws.closeInfo, { initiatedBy: 'local', code: 1000, reason: 'bye', wasClean: true });
  });

  it("connect({ http2: true }) sends headers and the decorator's edits (a pseudo-header from it is refused: test/stream/h2-client.test.ts)", async () => {
    const ws = await connect(`wss://localhost:${port}/decorated?x=1`, {
      http2: true,
      ca,
      headers: { 'X-Given': 'a', Origin: 'https://example.test' },
      decorator: (h) => {
        h['X-Trace'] = 'abc';
        delete h['X-Given'];
      },
    });
    const h = seen.at(-1)!;
    assert.equal(h['x-trace'], 'abc');
    assert.equal(h['x-given'], undefined);
    assert.equal(h.origin, 'https://example.test');
    assert.equal(h[':path'], '/decorated?x=1');
    await ws.close();
  });

  it('connect({ http2: true, connectTimeout }) gives up on a server that never completes the connection', async () => {
    const net = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const silent = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    await assert.rejects(
      connect(`wss://127.0.0.1:${(silent.address() as AddressInfo).port}/`, { http2: true, ca, connectTimeout: 200 }),
      { code: 'ERR_WS_TIMEOUT' },
    );
    for (const s of held) s.destroy();
    silent.close();
  });

  it('100 WebSockets share one HTTP/2 connection, each echoing; closing some early harms neither the session nor the others', async () => {
    const session = http2.connect(`https://localhost:${port}`, { ca });
    const streams = await Promise.all(
      Array.from({ length: 100 }, () => connect(`wss://localhost:${port}/`, { http2: session })),
    );
    await Promise.all(streams.slice(0, 20).map((ws) => ws.close({ code: 1000 })));
    await Promise.all(
      streams.slice(20).map(async (ws, i) => {
        for (let k = 0; k < 5; k++) {
          await ws.write(`stream ${i} message ${k}`);
          assert.equal((await ws.read()).text(), `stream ${i} message ${k}`);
        }
      }),
    );
    assert.equal(session.destroyed, false);
    await Promise.all(streams.slice(20).map((ws) => ws.close({ code: 1000 })));
    assert.ok(streams.every((ws) => ws.closeInfo?.wasClean));
    session.close();
  });

  it('an invalid extended CONNECT is answered with an error status on that stream only', async () => {
    const refused = new Promise<void>((r) => (onRefusal = r));
    const session = http2.connect(`https://localhost:${port}`, { ca });
    const req = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/',
      ':authority': `localhost:${port}`,
    });
    const res = await new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
    assert.equal(res[':status'], 400);
    req.close();
    await refused;
    assert.equal(refusals.at(-1), 'ERR_WS_NO_SEC_VERSION');
    const ws = await connect(`wss://localhost:${port}/`, { http2: session });
    await ws.write('the session still works');
    assert.equal((await ws.read()).text(), 'the session still works');
    await ws.close();
    session.close();
  });

  it('a server that does not enable extended CONNECT gives a clear error', async () => {
    const plain = http2.createSecureServer({ key: fixture('key.pem'), cert: ca });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const err = await connect(`wss://localhost:${(plain.address() as AddressInfo).port}/`, { http2: true, ca }).then(
      () => null,
      (e: ClientHandshakeError) => e,
    );
    assert.equal(err?.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.match(String(err?.message), /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
    plain.close();
  });

  it("node:http2's compatibility API: accept(req) on an Http2ServerRequest from the 'connect' event", async () => {
    const compat = http2.createSecureServer(
      { key: fixture('key.pem'), cert: ca, settings: { enableConnectProtocol: true } },
      (_req, res) => res.end('page'),
    );
    compat.on('connect', (req: http2.Http2ServerRequest) => {
      const ws = new WebSocketStream(req.stream);
      ws.accept(req).then(
        async () => {
          try {
            for await (const m of ws) await ws.write(m.data, { binary: m.binary });
          } catch {
            /* ended */
          }
        },
        () => {},
      );
    });
    await new Promise<void>((r) => compat.listen(0, '127.0.0.1', r));
    const ws = await connect(`wss://localhost:${(compat.address() as AddressInfo).port}/`, { http2: true, ca });
    await ws.write('through the compatibility API');
    assert.equal((await ws.read()).text(), 'through the compatibility API');
    await ws.close();
    compat.close();
  });
});
