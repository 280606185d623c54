/**
 * `ws-stream serve --tls` (a child process) against HTTP/2 clients that open many WebSockets on one
 * connection, and its shutdown with HTTP/2 sessions open: SETTINGS_MAX_CONCURRENT_STREAMS bounds the
 * WebSockets of one session (a stream past it is refused with RST_STREAM REFUSED_STREAM, the others
 * go on), and SIGTERM closes a WebSocket over HTTP/2 with 1001 and every session, idle or not, with
 * GOAWAY, then exits 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/index.js';
import { H2_MAX_CONCURRENT_STREAMS, serve } from '../../src/cli/serve.js';
import { startServer } from '../conformance/raw-client.js';
import { h2Frame, parseFrames, requestHead, frame as wsFrame } from '../support/frames.js';

const fixturePath = (n: string) => fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url));
const ca = readFileSync(fixturePath('cert.pem'));
const tlsArgs = ['--tls', '--cert', fixturePath('cert.pem'), '--key', fixturePath('key.pem')];

const H2_DATA = 0;
const H2_HEADERS = 1;
const H2_RST_STREAM = 3;
const H2_SETTINGS = 4;
const H2_GOAWAY = 7;
const END_HEADERS = 4;
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;

interface H2Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** An HPACK field block of literals without indexing or Huffman coding (RFC 7541 §6.2.2), short names and values. */
function fieldBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(
    fields.map(([n, v]) =>
      Buffer.concat([Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]),
    ),
  );
}

const extendedConnect = fieldBlock([
  [':method', 'CONNECT'],
  [':protocol', 'websocket'],
  [':scheme', 'https'],
  [':path', '/'],
  [':authority', 'localhost'],
  ['sec-websocket-version', '13'],
]);

/**
 * A raw HTTP/2 client over TLS (ALPN h2) that writes its frames as they are given, heeding no
 * SETTINGS of the server: what a hostile peer does. Frames received are kept, in order.
 */
async function rawH2(port: number): Promise<{
  frames: H2Frame[];
  send(...frames: Buffer[]): void;
  /** Resolves once a frame received (earlier ones too) satisfies `test`. */
  until(test: (frames: H2Frame[]) => boolean): Promise<void>;
  socket: tls.TLSSocket;
}> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  assert.equal(socket.alpnProtocol, 'h2');
  const frames: H2Frame[] = [];
  let waits: { test: (f: H2Frame[]) => boolean; resolve: () => void }[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      frames.push({
        type: buf[3]!,
        flags: buf[4]!,
        stream: buf.readUInt32BE(5) & 0x7fffffff,
        payload: buf.subarray(9, 9 + len),
      });
      buf = buf.subarray(9 + len);
    }
    const met = waits.filter((w) => w.test(frames));
    waits = waits.filter((w) => !met.includes(w));
    for (const w of met) w.resolve();
  });
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(H2_SETTINGS, 0, 0)]));
  return {
    frames,
    socket,
    send: (...f) => socket.write(Buffer.concat(f)),
    until: (test) =>
      test(frames)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waits.push({ test, resolve });
            socket.once('close', () =>
              reject(new Error(`connection closed; frames: ${JSON.stringify(frames.map((f) => [f.type, f.stream]))}`)),
            );
          }),
  };
}

/** The settings of a SETTINGS frame's payload (RFC 9113 §6.5.1). */
function settingsOf(payload: Buffer): Map<number, number> {
  const settings = new Map<number, number>();
  for (let i = 0; i + 6 <= payload.length; i += 6) settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
  return settings;
}

describe('ws-stream serve --tls: HTTP/2 concurrent streams and shutdown', { timeout: 60_000 }, () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer(tlsArgs);
  });
  after(() => server.stop());

  it(`SETTINGS_MAX_CONCURRENT_STREAMS is ${H2_MAX_CONCURRENT_STREAMS}; extended CONNECTs past it are refused with RST_STREAM REFUSED_STREAM, the WebSockets within it go on`, async () => {
    const client = await rawH2(server.port);
    await client.until((f) => f.some((x) => x.type === H2_SETTINGS && (x.flags & 1) === 0));
    const settings = settingsOf(client.frames.find((x) => x.type === H2_SETTINGS)!.payload);
    assert.equal(settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), H2_MAX_CONCURRENT_STREAMS);
    // One more than the bound, and one more again: all sent at once, as a peer that ignores the setting does.
    const ids = Array.from({ length: H2_MAX_CONCURRENT_STREAMS + 2 }, (_, i) => 1 + 2 * i);
    client.send(...ids.map((id) => h2Frame(H2_HEADERS, END_HEADERS, id, extendedConnect)));
    const answered = (f: H2Frame[]) => new Set(f.filter((x) => x.type === H2_HEADERS).map((x) => x.stream));
    const refused = (f: H2Frame[]) => f.filter((x) => x.type === H2_RST_STREAM);
    await client.until((f) => answered(f).size === H2_MAX_CONCURRENT_STREAMS && refused(f).length === 2);
    assert.deepEqual(
      [...answered(client.frames)].sort((a, b) => a - b),
      ids.slice(0, H2_MAX_CONCURRENT_STREAMS),
    );
    assert.deepEqual(
      refused(client.frames).map((x) => [x.stream, x.payload.readUInt32BE(0)]),
      ids.slice(H2_MAX_CONCURRENT_STREAMS).map((id) => [id, http2.constants.NGHTTP2_REFUSED_STREAM]),
    );
    // The WebSockets within the bound are open: stream 1 echoes.
    client.send(h2Frame(H2_DATA, 0, 1, wsFrame({ opcode: 1, payload: 'still here' })));
    const echoOn1 = (f: H2Frame[]) =>
      Buffer.concat(f.filter((x) => x.type === H2_DATA && x.stream === 1).map((x) => x.payload));
    await client.until((f) => echoOn1(f).length >= 12);
    assert.deepEqual(
      parseFrames(echoOn1(client.frames)).frames.map((x) => [x.opcode, Buffer.from(x.payload).toString()]),
      [[1, 'still here']],
    );
    // One closed (reset by the client) makes room for one more.
    const next = ids.at(-1)! + 2;
    client.send(
      h2Frame(H2_RST_STREAM, 0, 3, Buffer.from([0, 0, 0, http2.constants.NGHTTP2_CANCEL])),
      h2Frame(H2_HEADERS, END_HEADERS, next, extendedConnect),
    );
    await client.until((f) => f.some((x) => x.stream === next));
    const toNext = client.frames.filter((x) => x.stream === next);
    assert.deepEqual(
      toNext.map((x) => x.type),
      [H2_HEADERS],
    );
    assert.equal(
      client.frames.some((x) => x.type === H2_GOAWAY),
      false,
    );
    client.socket.destroy();
  });

  it('a client that acknowledged the bound (SETTINGS ACK) and opens past it breaks a setting it agreed to: nghttp2 ends its connection (a connection error); the server goes on', async () => {
    const client = await rawH2(server.port);
    await client.until((f) => f.some((x) => x.type === H2_SETTINGS && (x.flags & 1) === 0));
    const closed = once(client.socket, 'close');
    const ids = Array.from({ length: H2_MAX_CONCURRENT_STREAMS + 1 }, (_, i) => 1 + 2 * i);
    client.send(h2Frame(H2_SETTINGS, 1, 0), ...ids.map((id) => h2Frame(H2_HEADERS, END_HEADERS, id, extendedConnect)));
    await closed;
    assert.equal(
      client.frames.some((x) => x.stream === ids.at(-1)),
      false,
    );
    // Another connection is served.
    const ws = await connect(`wss://localhost:${server.port}/`, { http2: true, ca });
    await ws.write('next');
    assert.equal((await ws.read()).text(), 'next');
    await ws.close();
  });

  it('a node:http2 client sees the bound in SETTINGS', async () => {
    const session = http2.connect(`https://localhost:${server.port}`, { ca });
    session.on('error', () => {});
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, H2_MAX_CONCURRENT_STREAMS);
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    session.close();
  });
});

describe('ws-stream serve --tls: SIGTERM with HTTP/2 sessions open', { timeout: 60_000 }, () => {
  it('a WebSocket over HTTP/2 gets close 1001, its session and an idle one get GOAWAY (before they close), and the process exits 0', async () => {
    const server = await startServer(tlsArgs);
    try {
      const busy = http2.connect(`https://localhost:${server.port}`, { ca });
      busy.on('error', () => {});
      const ws = await connect(`wss://localhost:${server.port}/`, { http2: busy });
      const idle = http2.connect(`https://localhost:${server.port}`, { ca });
      idle.on('error', () => {});
      const page = idle.request({ ':method': 'GET', ':path': '/' }, { endStream: true });
      page.resume();
      await once(page, 'end');
      /** What the session saw first: GOAWAY (with its error code) or its end without one. */
      const endOf = (session: http2.ClientHttp2Session) =>
        new Promise<string>((resolve) => {
          session.once('goaway', (code: number) => resolve(`goaway ${code}`));
          session.once('close', () => resolve('closed without GOAWAY'));
        });
      const busyEnd = endOf(busy);
      const idleEnd = endOf(idle);
      const exited = once(server.proc, 'exit');
      server.proc.kill('SIGTERM');
      const info = await ws.whenClosed();
      assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['remote', 1001, true]);
      assert.equal(await busyEnd, `goaway ${http2.constants.NGHTTP2_NO_ERROR}`);
      assert.equal(await idleEnd, `goaway ${http2.constants.NGHTTP2_NO_ERROR}`);
      assert.deepEqual(await exited, [0, null]);
      busy.destroy();
      idle.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe('serve --tls: shutdown with a page answer in flight over HTTP/2', () => {
  it('the GOAWAYed session keeps its page stream until the answer is whole (it is not cut when no WebSocket is open)', async () => {
    // Larger than HTTP/2's initial flow-control window (64 KiB): the rest waits for the client's reading.
    const page = `<!doctype html>${'x'.repeat(1 << 20)}`;
    const running = await serve({
      host: '127.0.0.1',
      port: 0,
      quiet: true,
      page,
      tls: { key: readFileSync(fixturePath('key.pem')), cert: ca },
    });
    const port = (running.server.address() as AddressInfo).port;
    const session = http2.connect(`https://localhost:${port}`, { ca });
    session.on('error', () => {});
    const req = session.request({ ':method': 'GET', ':path': '/' }, { endStream: true });
    req.on('error', () => {});
    req.pause();
    await once(req, 'response');
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.pause();
    let ended = false;
    req.once('end', () => {
      ended = true;
    });
    // The client reads the rest once told the server is going away.
    session.once('goaway', () => req.resume());
    const stopped = running.shutdown();
    await once(req, 'close');
    const body = Buffer.concat(chunks);
    assert.equal(body.length, Buffer.byteLength(page), 'the whole page came');
    assert.equal(body.equals(Buffer.from(page)), true);
    assert.equal(ended, true, 'the answer ended (END_STREAM)');
    await stopped;
    session.destroy();
  });
});

describe('ws-stream serve --tls: SIGTERM while an HTTP/2 client resets its connection', { timeout: 60_000 }, () => {
  it("a session whose client resets it after the GOAWAY (the server reads ECONNRESET) ends the shutdown's wait for it as a close: the WebSocket still waited on gets 1001, and the process exits 0", async () => {
    const server = await startServer(tlsArgs);
    try {
      // A WebSocket (HTTP/1.1 over TLS) that never answers a close: the shutdown waits for it until its deadline,
      // so the reset below comes while it waits.
      const waited = tls.connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' });
      waited.on('error', () => {});
      await once(waited, 'secureConnect');
      let got = Buffer.alloc(0);
      const closed = new Promise<void>((resolve) => waited.once('close', resolve));
      const opened = new Promise<void>((resolve, reject) => {
        waited.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.includes('\r\n\r\n')) resolve();
        });
        waited.once('close', () => reject(new Error(`closed before a response head: ${got.toString('latin1')}`)));
      });
      waited.write(requestHead({ Host: 'localhost' }, 'GET / HTTP/1.1'));
      await opened;
      assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 /, 'the HTTP/1.1 WebSocket is open');
      // A WebSocket over HTTP/2 on a TCP connection of the test's own, to reset.
      const tcp = net.connect(server.port, '127.0.0.1');
      tcp.on('error', () => {});
      await once(tcp, 'connect');
      const session = http2.connect(`https://localhost:${server.port}`, {
        createConnection: () => tls.connect({ socket: tcp, ca, servername: 'localhost', ALPNProtocols: ['h2'] }),
      });
      session.on('error', () => {});
      const ws = await connect(`wss://localhost:${server.port}/`, { http2: session });
      const reset = new Promise<void>((resolve) =>
        session.once('goaway', () => {
          tcp.resetAndDestroy();
          resolve();
        }),
      );
      const exited = once(server.proc, 'exit');
      server.proc.kill('SIGTERM');
      await reset;
      assert.deepEqual(await exited, [0, null]);
      await closed;
      const { frames } = parseFrames(got.subarray(got.indexOf('\r\n\r\n') + 4));
      assert.equal(frames[0]?.opcode, 8, 'a close frame came');
      assert.equal(frames[0].payload.readUInt16BE(0), 1001);
      await ws.whenClosed();
    } finally {
      await server.stop();
    }
  });
});
