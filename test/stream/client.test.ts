/** The client role: handshake over the test layer against a raw server, and ws-stream ↔ ws-stream. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  WebSocketStream,
  createTestPair,
  connect,
  computeAccept,
  type ClientHandshakeError,
  type WebSocketError,
} from '../../src/index.js';
import { parseFrames, frame } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

/** A raw server end: waits for the request, answers with `respond(key)`. */
async function rawServer(respond: (key: string) => string | Buffer) {
  const [a, b] = createTestPair();
  const ws = new WebSocketStream(a);
  const server = new RawPeer(b);
  const request = server.until(() => {
    const s = server.received.toString('latin1');
    return s.includes('\r\n\r\n') ? s : undefined;
  });
  return {
    ws,
    server,
    b,
    request: request.then((req) => {
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(req)![1]!;
      b.write(respond(key));
      return req;
    }),
  };
}

const ok = (key: string, extra = ''): string =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(key)}\r\n${extra}\r\n`;

describe('handshake (client role)', () => {
  it('sends a GET with a fresh 16-byte key, version 13 and the offered subprotocols, and opens on a valid 101', async () => {
    const { ws, request } = await rawServer((key) => ok(key, 'Sec-WebSocket-Protocol: chat\r\n'));
    await ws.handshake({
      host: 'example.com:8080',
      target: '/path?q=1',
      protocols: ['superchat', 'chat'],
      headers: { Origin: 'http://example.com' },
    });
    const req = await request;
    assert.match(req, /^GET \/path\?q=1 HTTP\/1\.1\r\n/);
    assert.match(req, /\r\nHost: example\.com:8080\r\n/);
    assert.match(req, /\r\nSec-WebSocket-Version: 13\r\n/);
    assert.match(req, /\r\nSec-WebSocket-Protocol: superchat, chat\r\n/);
    assert.match(req, /\r\nOrigin: http:\/\/example\.com\r\n/);
    assert.equal(Buffer.from(/Sec-WebSocket-Key: (\S+)/.exec(req)![1]!, 'base64').length, 16);
    assert.equal(ws.protocol, 'chat');
    assert.equal(ws.isOpen, true);
  });

  it('masks every frame it sends with a fresh key', async () => {
    const { ws, server } = await rawServer((key) => ok(key));
    await ws.handshake({ host: 'h' });
    await ws.write('abc', { binary: false });
    await ws.write('abc', { binary: false });
    const wire = await server.until(() => {
      const i = server.received.indexOf('\r\n\r\n');
      const f = parseFrames(server.received.subarray(i + 4));
      return f.frames.length >= 2 ? server.received.subarray(i + 4) : undefined;
    });
    const frames = parseFrames(wire).frames;
    assert.deepEqual(
      frames.map((f) => [f.masked, f.payload.toString()]),
      [
        [true, 'abc'],
        [true, 'abc'],
      ],
    );
    assert.notDeepEqual(wire.subarray(2, 6), wire.subarray(11, 15), 'two frames, two keys');
  });

  it('draws its masking keys afresh (RFC 6455 §10.3): the first four never come back in a row over 4,200 frames', async () => {
    const { ws, server } = await rawServer((key) => ok(key));
    await ws.handshake({ host: 'h' });
    const count = 4200;
    await Promise.all(Array.from({ length: count }, () => ws.write('a', { binary: false })));
    // Each frame is 7 bytes: 0x81, 0x81 (masked, length 1), the key, the masked 'a'.
    const wire = await server.until(() => {
      const i = server.received.indexOf('\r\n\r\n');
      return server.received.length - i - 4 >= count * 7 ? server.received.subarray(i + 4) : undefined;
    });
    const keys = Array.from({ length: count }, (_, k) => wire.readUInt32BE(k * 7 + 2));
    assert.equal(parseFrames(wire).frames.length, count);
    // Four random 32-bit keys recur in a row with a chance of 2^-128; a source cycled through a
    // fixed block of bytes repeats them.
    const run = keys.slice(0, 4).join();
    const again = keys.findIndex((_, k) => k > 0 && keys.slice(k, k + 4).join() === run);
    assert.equal(again, -1, `the first four keys again from frame ${again}`);
  });

  it('keeps the bytes the server sent right after its response: the first message', async () => {
    const { ws } = await rawServer((key) =>
      Buffer.concat([Buffer.from(ok(key)), frame({ opcode: 1, payload: 'early', mask: false })]),
    );
    await ws.handshake({ host: 'h' });
    assert.equal((await ws.read()).text(), 'early');
  });

  const bad: [string, (key: string) => string, string][] = [
    [
      'no Sec-WebSocket-Accept',
      () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'ERR_WS_NO_SEC_ACCEPT',
    ],
    [
      'a wrong Sec-WebSocket-Accept',
      () =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept('x')}\r\n\r\n`,
      'ERR_WS_BAD_SEC_ACCEPT',
    ],
    [
      'no Upgrade',
      (key) =>
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(key)}\r\n\r\n`,
      'ERR_WS_NO_UPGRADE',
    ],
    [
      'Connection without upgrade',
      (key) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: ${computeAccept(key)}\r\n\r\n`,
      'ERR_WS_NO_CONNECTION_UPGRADE',
    ],
    ['a subprotocol not offered', (key) => ok(key, 'Sec-WebSocket-Protocol: other\r\n'), 'ERR_WS_BAD_SUBPROTOCOL'],
    ['an empty subprotocol field', (key) => ok(key, 'Sec-WebSocket-Protocol: \r\n'), 'ERR_WS_BAD_SUBPROTOCOL'],
    [
      'an extension not offered',
      (key) => ok(key, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'),
      'ERR_WS_BAD_EXTENSION',
    ],
    ['a malformed status line', () => 'HTTP/1.1 abc\r\n\r\n', 'ERR_WS_BAD_RESPONSE'],
  ];
  for (const [name, respond, code] of bad) {
    it(`${name} → ${code}, and the connection is closed`, async () => {
      const { ws, server } = await rawServer(respond);
      await assert.rejects(ws.handshake({ host: 'h', protocols: ['chat'] }), { code });
      await server.waitClosed();
    });
  }

  it('with permessage-deflate offered, an invalid deflate response → ERR_WS_BAD_EXTENSION', async () => {
    for (const ext of [
      'permessage-deflate; foo',
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; server_max_window_bits=16',
      'x-other',
    ]) {
      const [a, b] = createTestPair();
      const ws = new WebSocketStream(a, { perMessageDeflate: true });
      const server = new RawPeer(b);
      const done = ws.handshake({ host: 'h' }).then(
        () => 'ok',
        (e: WebSocketError) => e.code,
      );
      const req = await server.until(() => {
        const t = server.received.toString('latin1');
        return t.includes('\r\n\r\n') ? t : undefined;
      });
      assert.match(req, /\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n/);
      b.write(ok(/Sec-WebSocket-Key: (\S+)/.exec(req)![1]!, `Sec-WebSocket-Extensions: ${ext}\r\n`));
      assert.equal(await done, 'ERR_WS_BAD_EXTENSION', ext);
    }
  });

  it('a refusal → ERR_WS_UPGRADE_DECLINED with the status, headers and body', async () => {
    const { ws } = await rawServer(
      () => 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nno entry\n',
    );
    const err = await ws.handshake({ host: 'h' }).then(
      () => null,
      (e: ClientHandshakeError) => e,
    );
    assert.equal(err?.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err?.response?.status, 403);
    assert.equal(err?.response?.headers['content-type'], 'text/plain');
    assert.equal(err?.response?.body.toString(), 'no entry\n');
  });

  it('refuses header values that would break the request, at once', async () => {
    const [a] = createTestPair();
    const ws = new WebSocketStream(a);
    assert.throws(() => ws.handshake({ host: 'h', headers: { 'X-A': 'a\r\nb' } }), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => ws.handshake({ host: 'h', headers: { 'Sec-WebSocket-Key': 'x' } }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
    });
    // a NUL, a handshake field in another case, a subprotocol offered twice
    assert.throws(() => ws.handshake({ host: 'h', headers: { 'X-A': 'a\0b' } }), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => ws.handshake({ host: 'h', headers: { host: 'other' } }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
      message: /set by the handshake/,
    });
    assert.throws(() => ws.handshake({ host: 'h', protocols: ['chat', 'chat'] }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
      message: /repeated/,
    });
    // A space would end the request target early (RFC 9112 §3: SP separates the request line's parts).
    assert.throws(() => ws.handshake({ host: 'h', target: '/a b' }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
      message: /bad request target/,
    });
  });
});

describe('ws-stream client ↔ ws-stream server', () => {
  it('over the test layer: messages both ways, ping/pong, and a clean close started by the client', async () => {
    const [a, b] = createTestPair({ readSize: 3 }, { readSize: 5 });
    const pongs: string[] = [];
    let ponged!: () => void;
    const pongSeen = new Promise<void>((r) => (ponged = r));
    const client = new WebSocketStream(a, {
      controlCallback: (k, p) => {
        if (k !== 'pong') return;
        pongs.push(p.toString());
        ponged();
      },
    });
    const server = new WebSocketStream(b);
    await Promise.all([
      server.accept({ selectProtocol: (o) => o[0] }),
      client.handshake({ host: 'h', protocols: ['p1'] }),
    ]);
    assert.equal(client.protocol, 'p1');
    await client.write('héllo', { binary: false });
    const m = await server.read();
    assert.deepEqual([m.text(), m.binary], ['héllo', false]);
    await server.write(Buffer.alloc(70000, 1));
    assert.equal((await client.read()).data.length, 70000);
    await client.ping('x');
    await pongSeen;
    assert.deepEqual(pongs, ['x']);
    const serverDone = server.read().then(
      () => 'message',
      (e: WebSocketError) => e.code,
    );
    await client.close({ code: 1000, reason: 'bye' });
    assert.equal(await serverDone, 'ERR_WS_CLOSED');
    assert.deepEqual(client.closeInfo, { initiatedBy: 'local', code: 1000, reason: 'bye', wasClean: true });
    await server.whenClosed();
    assert.deepEqual(server.closeInfo, { initiatedBy: 'remote', code: 1000, reason: 'bye', wasClean: true });
  });

  it('connect() over TCP, and connect timeouts and refusals as typed errors', async () => {
    const srv = net.createServer((s) => {
      const ws = new WebSocketStream(s);
      ws.accept().then(
        async () => {
          for await (const m of ws) await ws.write(m.data, { binary: m.binary });
        },
        () => {},
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const ws = await connect(`ws://127.0.0.1:${port}/x`);
    await ws.write('ping me', { binary: false });
    assert.equal((await ws.read()).text(), 'ping me');
    await ws.close();
    srv.close();
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`), { code: 'ERR_WS_NEXT_LAYER' });
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const sockets: net.Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    await assert.rejects(
      connect(`ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`, { handshakeTimeout: 100 }),
      { code: 'ERR_WS_TIMEOUT' },
    );
    for (const s of sockets) s.destroy();
    silent.close();
    await assert.rejects(connect('ftp://x/'), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });
});

describe('connect over TLS', () => {
  it('wss:// with the test CA connects (SNI localhost); without it the certificate is refused', async () => {
    const { readFileSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const tls = await import('node:tls');
    const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
    let sni: string | undefined;
    const srv = tls.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') }, (s) => {
      sni = (s as unknown as { servername?: string }).servername;
      const ws = new WebSocketStream(s);
      ws.accept().then(
        async () => {
          for await (const m of ws) await ws.write(m.data, { binary: m.binary });
        },
        () => {},
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const ws = await connect(`wss://localhost:${port}/`, { ca: fixture('cert.pem') });
    assert.equal(sni, 'localhost');
    await ws.write('secure', { binary: false });
    assert.equal((await ws.read()).text(), 'secure');
    await ws.close();
    const err = await connect(`wss://localhost:${port}/`).then(
      () => null,
      (e: WebSocketError) => e,
    );
    assert.equal(err?.code, 'ERR_WS_NEXT_LAYER');
    assert.match(String((err?.cause as Error)?.message), /self.signed|certificate/i);
    srv.close();
  });
});
