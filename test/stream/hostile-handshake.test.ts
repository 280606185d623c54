/**
 * Hostile handshakes over real sockets, in both roles. Server role: the same request bytes go to
 * `net` + `accept()`, node:http + `accept(req, { head })` and `ws-stream serve`, which must answer
 * alike (status) and fail accept() with the code naming the fault. Client role: a fake server answers
 * `connect()` with exact bytes (wrong accept, unrequested extension or subprotocol, frames right
 * behind the 101, a refusal with a body, 1xx interim responses, a cut or silent server, TLS cut).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ClientHandshakeError, WebSocketStream, type WebSocketError, connect } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';
import { KEY, closeFrame, frame, requestHead, text } from '../support/frames.js';
import {
  abandonHandshakes,
  attack,
  closeCodeOf,
  fakeServer,
  httpServer,
  netServer,
  response101,
  type RecordingServer,
} from '../support/hostile.js';

const hs = (over: Record<string, string | null> = {}, line = 'GET /chat HTTP/1.1'): string => requestHead(over, line);
/** The request with one more header line (a repeated field). */
const plus = (line: string, over: Record<string, string | null> = {}): string =>
  hs(over).replace(/\r\n\r\n$/, `\r\n${line}\r\n\r\n`);

/** Requests every front must answer the same way: [name, request, status, accept()'s code]. */
const requests: [string, string, number, string][] = [
  ['two Sec-WebSocket-Key fields', plus('Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=='), 400, 'ERR_WS_BAD_SEC_KEY'],
  ['the same Sec-WebSocket-Key twice', plus(`Sec-WebSocket-Key: ${KEY}`), 400, 'ERR_WS_BAD_SEC_KEY'],
  ['Upgrade: websocket, h2c (a list with websocket)', hs({ Upgrade: 'websocket, h2c' }), 101, 'ok'],
  ['Upgrade: h2c only', hs({ Upgrade: 'h2c' }), 400, 'ERR_WS_NO_UPGRADE_WEBSOCKET'],
  ['Connection: keep-alive, Upgrade', hs({ Connection: 'keep-alive, Upgrade' }), 101, 'ok'],
  ['Connection: keep-alive (no upgrade token)', hs({ Connection: 'keep-alive' }), 400, 'ERR_WS_NO_CONNECTION_UPGRADE'],
  ['Sec-WebSocket-Version: 8', hs({ 'Sec-WebSocket-Version': '8' }), 426, 'ERR_WS_BAD_SEC_VERSION'],
  ['Sec-WebSocket-Version: 13, 8', hs({ 'Sec-WebSocket-Version': '13, 8' }), 426, 'ERR_WS_BAD_SEC_VERSION'],
  ['no Sec-WebSocket-Version', hs({ 'Sec-WebSocket-Version': null }), 400, 'ERR_WS_NO_SEC_VERSION'],
  ['HTTP/1.0', hs({}, 'GET /chat HTTP/1.0'), 400, 'ERR_WS_BAD_HTTP_VERSION'],
  ['POST', hs({}, 'POST /chat HTTP/1.1'), 400, 'ERR_WS_BAD_METHOD'],
  [
    'absolute-form target (RFC 9112 §3.2.2: must be accepted)',
    hs({}, 'GET http://server.example.com/chat HTTP/1.1'),
    101,
    'ok',
  ],
  ['no Host', hs({ Host: null }), 400, 'ERR_WS_NO_HOST'],
  ['two Host fields (RFC 9112 §3.2)', plus('Host: other.example.com'), 400, 'ERR_WS_BAD_REQUEST'],
  ['a head over 16 KiB', hs({ 'X-Big': 'a'.repeat(17_000) }), 431, 'ERR_WS_HEADER_LIMIT'],
  ['an empty line before the request line (RFC 9112 §2.2: ignored)', `\r\n${hs()}`, 101, 'ok'],
  ['a malformed Sec-WebSocket-Protocol', hs({ 'Sec-WebSocket-Protocol': 'a b' }), 400, 'ERR_WS_BAD_REQUEST'],
];

describe('server role: hostile requests, the same answer from every front', { timeout: 120_000 }, () => {
  it('net + accept(), node:http + accept(req, { head }), ws-stream serve', async (t) => {
    const options = { handshakeTimeout: 60_000 };
    const fronts: [string, RecordingServer | null, number][] = [];
    const a = await netServer(t, options);
    const b = await httpServer(t, options);
    const serve = await startServer(['--handshake-timeout', '60']);
    t.after(() => serve.stop());
    fronts.push(['net', a, a.port], ['node:http', b, b.port], ['serve', null, serve.port]);
    for (const [name, request, status, code] of requests) {
      for (const [front, recorder, port] of fronts) {
        // node:http itself answers 431 for a head over its limit, before any 'upgrade'.
        const reachesAccept = !(front === 'node:http' && status === 431);
        const ex = await attack(port, [request], { closeIfOpened: true });
        assert.equal(ex.status, status, `${name} (${front}): ${ex.head.split('\r\n')[0]}`);
        if (status === 426) assert.match(ex.head, /^Sec-WebSocket-Version: 13$/im, `${name} (${front})`);
        if (status === 101) assert.equal(closeCodeOf(ex.frames.at(-1)), 1000, `${name} (${front}): the close answered`);
        if (recorder && reachesAccept) assert.equal((await recorder.next()).accept, code, `${name} (${front})`);
      }
    }
    assert.equal(a.pending + b.pending, 0);
  });

  it('a request and frames trickled one byte per write: 101, the message echoed, the close answered', async (t) => {
    for (const server of [await netServer(t), await httpServer(t)]) {
      const ex = await attack(server.port, [hs(), text('trickled'), closeFrame(1000)], { perByte: true });
      assert.equal(ex.status, 101);
      assert.deepEqual(
        ex.frames.map((f) => [f.opcode, f.opcode === 8 ? closeCodeOf(f) : f.payload.toString()]),
        [
          [1, 'trickled'],
          [8, 1000],
        ],
      );
      const o = await server.next();
      assert.deepEqual([o.accept, o.messages, o.info?.code, o.info?.wasClean], ['ok', ['trickled'], 1000, true]);
    }
  });

  it('a request never finished: dropped at handshakeTimeout with ERR_WS_TIMEOUT and no answer', async (t) => {
    const server = await netServer(t, { handshakeTimeout: 300 });
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    await once(socket, 'connect');
    socket.write(hs().slice(0, 30));
    assert.equal((await server.next()).accept, 'ERR_WS_TIMEOUT');
    await once(socket, 'close');
    assert.equal(Buffer.concat(got).length, 0);
  });

  it('lines ended by a bare LF: 400 at once, not a wait for the handshake deadline (60 s here)', async (t) => {
    const a = await netServer(t, { handshakeTimeout: 60_000 });
    const serve = await startServer(['--handshake-timeout', '60']);
    t.after(() => serve.stop());
    for (const request of [
      hs().replaceAll('\r\n', '\n'),
      hs().replace('\r\n', '\n'),
      hs().replace(/\r\n\r\n$/, '\r\n\n'),
    ]) {
      for (const port of [a.port, serve.port]) {
        const ex = await attack(port, [request]);
        assert.equal(ex.status, 400, JSON.stringify(request.slice(0, 40)));
      }
      assert.equal((await a.next()).accept, 'ERR_WS_BAD_REQUEST');
    }
  });

  it('lines ended by a bare CR: 400 at once, not a wait for the handshake deadline (60 s here)', async (t) => {
    // RFC 9112 §2.2: a bare CR is invalid. A whole head with one is refused by the parser; an
    // unfinished one (no CRLF CRLF ever comes) must not wait for the deadline either.
    const a = await netServer(t, { handshakeTimeout: 60_000 });
    const serve = await startServer(['--handshake-timeout', '60']);
    t.after(() => serve.stop());
    for (const request of [hs().replaceAll('\r\n', '\r'), hs().replace('\r\n', '\r'), `${hs().slice(0, 30)}\rX`]) {
      for (const port of [a.port, serve.port]) {
        const ex = await attack(port, [request]);
        assert.equal(ex.status, 400, JSON.stringify(request.slice(0, 40)));
      }
      const o = await a.next();
      assert.equal(o.accept, 'ERR_WS_BAD_REQUEST');
    }
  });

  it('2,000 connections abandoned mid-handshake (reset, FIN, silent): every one ends, the server still serves', async (t) => {
    const server = await netServer(t, { handshakeTimeout: 1000 });
    const request = hs();
    await abandonHandshakes(server.port, request, 2000);
    // A good connection last: once it is served, the server was handed every earlier connection
    // it will ever get (one reset before the server took it never reaches it).
    const ex = await attack(server.port, [hs(), text('still here'), closeFrame(1000)]);
    assert.equal(ex.frames[0]?.payload.toString(), 'still here');
    const codes = new Map<string, number>();
    for (let i = 0; i < server.connections; i++) {
      const o = await server.next();
      codes.set(o.accept, (codes.get(o.accept) ?? 0) + 1);
    }
    assert.equal(codes.get('ok'), 1, `only the last one opened: ${[...codes]}`);
    for (const code of codes.keys()) {
      assert.ok(['ok', 'ERR_WS_EOF', 'ERR_WS_NEXT_LAYER', 'ERR_WS_TIMEOUT'].includes(code), code);
    }
    assert.ok(server.connections > 1000, `${server.connections} connections reached the server`);
    assert.ok((codes.get('ERR_WS_TIMEOUT') ?? 0) >= 600, `the 666 silent ones time out: ${[...codes]}`);
  });
});

/** connect()'s outcome against a fake server: 'open' with what it read, or the error code. */
async function connectTo(url: string, options: Parameters<typeof connect>[1] = {}) {
  try {
    const ws = await connect(url, { handshakeTimeout: 60_000, ...options });
    const messages: string[] = [];
    let readError = 'ERR_WS_CLOSED';
    try {
      for await (const m of ws) messages.push(m.data.toString());
    } catch (e) {
      readError = (e as WebSocketError).code;
    }
    return { open: true as const, ws, messages, readError, info: await ws.whenClosed() };
  } catch (e) {
    return { open: false as const, error: e as ClientHandshakeError };
  }
}

const unmasked = (o: Parameters<typeof frame>[0]): Buffer => frame({ ...o, mask: false });

describe('client role: hostile responses', { timeout: 60_000 }, () => {
  const refusals: [string, (accept: string) => string | Buffer, string][] = [
    ['a wrong Sec-WebSocket-Accept', (a) => response101(`x${a.slice(1)}`), 'ERR_WS_BAD_SEC_ACCEPT'],
    [
      'two Sec-WebSocket-Accept fields',
      (a) => response101(a, `Sec-WebSocket-Accept: ${a}\r\n`),
      'ERR_WS_BAD_SEC_ACCEPT',
    ],
    [
      'no Sec-WebSocket-Accept',
      () => response101('').replace(/Sec-WebSocket-Accept: \r\n/, ''),
      'ERR_WS_NO_SEC_ACCEPT',
    ],
    [
      'an unrequested extension',
      (a) => response101(a, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'),
      'ERR_WS_BAD_EXTENSION',
    ],
    ['an unrequested subprotocol', (a) => response101(a, 'Sec-WebSocket-Protocol: chat\r\n'), 'ERR_WS_BAD_SUBPROTOCOL'],
    [
      'Upgrade: h2c',
      (a) => response101(a).replace('Upgrade: websocket', 'Upgrade: h2c'),
      'ERR_WS_NO_UPGRADE_WEBSOCKET',
    ],
    ['no Connection', (a) => response101(a).replace('Connection: Upgrade\r\n', ''), 'ERR_WS_NO_CONNECTION'],
    ['a head over 16 KiB', (a) => response101(a, `X-Big: ${'a'.repeat(17_000)}\r\n`), 'ERR_WS_HEADER_LIMIT'],
    ['a malformed status line', () => 'HTTP/1.1 1O1 Switching\r\n\r\n', 'ERR_WS_BAD_RESPONSE'],
  ];
  for (const [name, response, code] of refusals) {
    it(`${name}: ${code}, the connection dropped`, async (t) => {
      let closed!: Promise<unknown>;
      const { url } = await fakeServer(t, (s, accept) => {
        closed = once(s, 'close');
        s.write(response(accept));
      });
      const r = await connectTo(url);
      assert.equal(r.open, false);
      assert.equal(!r.open && r.error.code, code);
      await closed;
    });
  }

  it('lines ended by a bare LF: ERR_WS_BAD_RESPONSE at once, not a wait for handshakeTimeout (60 s here)', async (t) => {
    const { url } = await fakeServer(t, (s, accept) => s.write(response101(accept).replaceAll('\r\n', '\n')));
    const r = await connectTo(url);
    assert.equal(!r.open && r.error.code, 'ERR_WS_BAD_RESPONSE');
    assert.match(!r.open ? r.error.message : '', /bare LF/);
  });

  it('Upgrade or Sec-WebSocket-Accept ending in 0xA0 (obs-text, not white space: RFC 9110 §5.5): refused', async (t) => {
    for (const [edit, code] of [
      [(r: string) => r.replace('Upgrade: websocket', 'Upgrade: websocket\xa0'), 'ERR_WS_NO_UPGRADE_WEBSOCKET'],
      [(r: string) => r.replace(/(Sec-WebSocket-Accept: \S+)/, '$1\xa0'), 'ERR_WS_BAD_SEC_ACCEPT'],
    ] as const) {
      // Latin-1: the byte 0xA0 itself, as a server would send it.
      const { url } = await fakeServer(t, (s, accept) => s.write(Buffer.from(edit(response101(accept)), 'latin1')));
      const r = await connectTo(url);
      assert.equal(!r.open && r.error.code, code);
    }
  });

  it('lines ended by a bare CR: ERR_WS_BAD_RESPONSE at once, not a wait for handshakeTimeout (60 s here)', async (t) => {
    const { url } = await fakeServer(t, (s, accept) => s.write(response101(accept).replaceAll('\r\n', '\r')));
    const r = await connectTo(url);
    assert.equal(!r.open && r.error.code, 'ERR_WS_BAD_RESPONSE');
    assert.match(!r.open ? r.error.message : '', /bare CR/);
  });

  it('100 Continue and 103 Early Hints before the 101 are read past (RFC 9110 §15.2); a 1xx before a refusal too', async (t) => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n';
    const { url } = await fakeServer(t, (s, accept) => {
      // The interim responses, the 101 and a first frame, one byte per write.
      const bytes = Buffer.concat([Buffer.from(interim + response101(accept)), unmasked({ opcode: 1, payload: 'hi' })]);
      let i = 0;
      const next = (): void => {
        if (i < bytes.length) s.write(bytes.subarray(i, ++i), next);
        else s.end(unmasked({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) }));
      };
      next();
    });
    const r = await connectTo(url);
    assert.equal(r.open, true, r.open ? '' : r.error.message);
    assert.deepEqual(r.open && [r.messages, r.info.code, r.info.initiatedBy], [['hi'], 1000, 'remote']);
    const refused = await fakeServer(t, (s) =>
      s.end(`${interim}HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope`),
    );
    const r2 = await connectTo(refused.url);
    assert.equal(!r2.open && r2.error.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.deepEqual(!r2.open && [r2.error.response?.status, r2.error.response?.body.toString()], [403, 'nope']);
  });

  it('frames right behind the 101, in the same write, are the first messages', async (t) => {
    const { url } = await fakeServer(t, (s, accept) => {
      s.write(
        Buffer.concat([
          Buffer.from(response101(accept)),
          unmasked({ opcode: 1, payload: 'one' }),
          unmasked({ opcode: 1, payload: 'tw', fin: false }),
          unmasked({ opcode: 0, payload: 'o' }),
          unmasked({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) }),
        ]),
      );
      // The client's answer to the close (all it sends): the server ends the connection, as a
      // server does (else the client waits its close timeout for it).
      s.once('data', () => s.end());
    });
    const r = await connectTo(url);
    assert.deepEqual(r.open && [r.messages, r.readError, r.info.wasClean], [['one', 'two'], 'ERR_WS_CLOSED', true]);
  });

  it('a masked frame or a bad one right behind the 101: the connection fails with 1002, its code to the reader', async (t) => {
    for (const [bytes, code] of [
      [frame({ opcode: 1, payload: 'masked' }), 'ERR_WS_BAD_MASKED_FRAME'],
      [unmasked({ opcode: 1, payload: 'x', rsv: 4 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ] as const) {
      const seen: Buffer[] = [];
      const { url } = await fakeServer(t, (s, accept) => {
        s.on('data', (d: Buffer) => seen.push(d));
        s.write(Buffer.concat([Buffer.from(response101(accept)), bytes]));
      });
      const r = await connectTo(url);
      assert.deepEqual(r.open && [r.readError, r.info.code], [code, 1002]);
    }
  });

  it('a refusal with a body: ERR_WS_UPGRADE_DECLINED with status, headers and body (Content-Length, to the end, chunked)', async (t) => {
    for (const [response, body] of [
      ['HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\nWWW-Authenticate: Bearer\r\n\r\nlog in', 'log in'],
      ['HTTP/1.1 503 Busy\r\n\r\ncome back later', 'come back later'],
      ['HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
    ]) {
      const { url } = await fakeServer(t, (s) => s.end(response));
      const r = await connectTo(url);
      assert.equal(!r.open && r.error.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(!r.open && r.error.response?.body.toString(), body);
    }
  });

  it('the server closing during the handshake: ERR_WS_EOF (FIN) or ERR_WS_NEXT_LAYER (reset), never a hang', async (t) => {
    for (const [what, act, code] of [
      ['FIN before any answer', (s: net.Socket) => s.end(), 'ERR_WS_EOF'],
      ['FIN in the middle of the 101', (s: net.Socket, a: string) => s.end(response101(a).slice(0, 50)), 'ERR_WS_EOF'],
      ['reset', (s: net.Socket) => s.resetAndDestroy(), 'ERR_WS_NEXT_LAYER'],
    ] as const) {
      const { url } = await fakeServer(t, act);
      const r = await connectTo(url);
      assert.equal(!r.open && r.error.code, code, what);
    }
  });

  it('a server that never answers, or stops mid-head: ERR_WS_TIMEOUT at handshakeTimeout', async (t) => {
    for (const act of [(_s: net.Socket) => {}, (s: net.Socket, a: string) => s.write(response101(a).slice(0, 40))]) {
      const { url } = await fakeServer(t, act);
      const r = await connectTo(url, { handshakeTimeout: 300 });
      assert.equal(!r.open && r.error.code, 'ERR_WS_TIMEOUT');
    }
  });

  it('TLS cut mid-handshake: ERR_WS_NEXT_LAYER; a TLS server that never answers the upgrade: ERR_WS_TIMEOUT', async (t) => {
    const cut = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.destroy()); // the ClientHello, then nothing
    });
    const silent = tls.createServer({
      key: readFileSync(new URL('../../../test/fixtures/key.pem', import.meta.url)),
      cert: readFileSync(new URL('../../../test/fixtures/cert.pem', import.meta.url)),
    });
    silent.on('secureConnection', (s: tls.TLSSocket) => s.resume());
    for (const srv of [cut, silent]) {
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      t.after(() => srv.close());
    }
    const port = (s: net.Server): number => (s.address() as net.AddressInfo).port;
    const r1 = await connectTo(`wss://127.0.0.1:${port(cut)}/`, { rejectUnauthorized: false });
    assert.equal(!r1.open && r1.error.code, 'ERR_WS_NEXT_LAYER');
    const r2 = await connectTo(`wss://127.0.0.1:${port(silent)}/`, {
      rejectUnauthorized: false,
      handshakeTimeout: 300,
    });
    assert.equal(!r2.open && r2.error.code, 'ERR_WS_TIMEOUT');
  });
});

describe('client role through handshake() on a socket, and through `ws-stream connect`', { timeout: 60_000 }, () => {
  it('handshake() over a net.Socket: an interim 103 is read past, the frames behind the 101 are read', async (t) => {
    const { port } = await fakeServer(t, (s, accept) =>
      s.end(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 103 Early Hints\r\n\r\n${response101(accept)}`),
          unmasked({ opcode: 1, payload: 'first' }),
          unmasked({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) }),
        ]),
      ),
    );
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const ws = new WebSocketStream(socket);
    await ws.handshake({ host: `127.0.0.1:${port}`, target: '/feed' });
    assert.equal((await ws.read()).text(), 'first');
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.deepEqual([(await ws.whenClosed()).code], [1000]);
  });

  /** Runs `ws-stream connect URL` with stdin open (an interactive session); its exit code and output. */
  async function cli(url: string): Promise<{ code: number | null; out: string; err: string }> {
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, 'connect', url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, out, err };
  }

  it('ws-stream connect: a refusal prints its status and body and exits 1; a violation prints its code and exits 1; 103 then 101 works', async (t) => {
    const refused = await fakeServer(t, (s) => s.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 8\r\n\r\ngo away\n'));
    const r1 = await cli(refused.url);
    assert.equal(r1.code, 1);
    assert.match(r1.err, /HTTP 403 Forbidden\ngo away/);
    const violating = await fakeServer(t, (s, accept) =>
      s.write(
        Buffer.concat([
          Buffer.from(response101(accept)),
          unmasked({ opcode: 1, payload: 'hi' }),
          unmasked({ opcode: 3 }),
        ]),
      ),
    );
    const r2 = await cli(violating.url);
    assert.equal(r2.code, 1);
    assert.match(r2.out, /^< hi$/m);
    assert.match(r2.out, /closed by local: 1002/);
    assert.match(r2.err, /ERR_WS_BAD_OPCODE/);
    const interim = await fakeServer(t, (s, accept) => {
      s.write(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 103 Early Hints\r\n\r\n${response101(accept)}`),
          unmasked({ opcode: 1, payload: 'hello' }),
          unmasked({ opcode: 8, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]) }),
        ]),
      );
      s.once('data', () => s.end()); // the close answered: ended, as a server does
    });
    const r3 = await cli(interim.url);
    assert.deepEqual([r3.code, r3.err], [0, '']);
    assert.match(r3.out, /^< hello$/m);
    assert.match(r3.out, /closed by remote: 1000 bye/);
  });
});
