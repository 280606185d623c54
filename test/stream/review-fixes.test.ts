/**
 * The API bugs of issue 14 §1, each reproduced as the review did: connect() validates before
 * connecting, HTTP/2 connect is bounded by handshakeTimeout and the signal, closeInfo keeps the
 * first closer, bufferPolicy 'close' means "buffered bytes over the limit", one autoFragment rule.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import {
  WebSocketStream,
  connect,
  createTestPair,
  type ConnectOptions,
  type StreamOptions,
  type WebSocketError,
} from '../../src/index.js';
import { closeFrame, requestHead, requestObject } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

const listen = (srv: net.Server | http2.Http2Server) =>
  new Promise<number>((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)));

async function openServer(options: StreamOptions = {}, headers: Record<string, string> = {}) {
  const [server, client] = createTestPair();
  const ws = new WebSocketStream(server, options);
  const peer = new RawPeer(client);
  await ws.accept(requestObject(headers));
  await peer.responseHead();
  return { ws, peer };
}

describe('connect() checks every option before connecting', () => {
  it('a bad option rejects with ERR_WS_INVALID_ARGUMENT and opens no connection (TCP and HTTP/2)', async (t) => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
    });
    const port = await listen(srv);
    t.after(() => {
      for (const s of sockets) s.destroy();
      srv.close();
    });
    const bad: [string, ConnectOptions][] = [
      ['readMessageMax -1', { readMessageMax: -1 }],
      ['connectTimeout -5', { connectTimeout: -5 }],
      ['connectTimeout not a number', { connectTimeout: 'soon' as unknown as number }],
      ['handshakeTimeout 1.5', { handshakeTimeout: 1.5 }],
      ['bufferPolicy', { bufferPolicy: 'drop' as 'close' }],
      ['perMessageDeflate level 12', { perMessageDeflate: { level: 12 } }],
      ['a protocol that is no token', { protocols: ['a b'] }],
      ['protocols not an array', { protocols: 'chat' as unknown as string[] }],
      ['a header the handshake sets', { headers: { 'Sec-WebSocket-Key': 'x' } }],
      ['a header value with CRLF', { headers: { 'X-A': 'a\r\nX-B: b' } }],
      ['decorator not a function', { decorator: 'x' as unknown as () => void }],
      ['signal not an AbortSignal', { signal: {} as AbortSignal }],
      ['http2 with readMessageMax -1', { http2: true, readMessageMax: -1 }],
      ['http2 with handshakeTimeout -1', { http2: true, handshakeTimeout: -1 }],
      ['http2 with connectTimeout -5', { http2: true, connectTimeout: -5 }],
    ];
    for (const [name, options] of bad) {
      await assert.rejects(connect(`ws://127.0.0.1:${port}/`, options), { code: 'ERR_WS_INVALID_ARGUMENT' }, name);
    }
    // A valid connect afterwards: its connection is the first (and only) one the server sees.
    const seen = new Promise<net.Socket>((r) => srv.once('connection', r));
    const good = connect(`ws://127.0.0.1:${port}/`, { handshakeTimeout: 0 }).catch((e: WebSocketError) => e.code);
    await seen;
    assert.equal(sockets.length, 1, 'no connection was opened for the bad options');
    sockets[0]!.destroy();
    assert.ok(typeof (await good) === 'string');
  });
});

describe('connect(url, { http2 }) timeouts and cancellation', () => {
  it('handshakeTimeout bounds the wait for the CONNECT answer; the HTTP/2 stream and session are closed', async (t) => {
    const server = http2.createServer({ settings: { enableConnectProtocol: true } });
    const streamClosed = new Promise<void>((resolve) =>
      server.on('stream', (stream) => {
        stream.on('error', () => {});
        stream.once('close', () => resolve()); // never answered
      }),
    );
    const sessionClosed = new Promise<void>((resolve) =>
      server.on('session', (s) => {
        s.on('error', () => {});
        s.once('close', () => resolve());
      }),
    );
    const port = await listen(server);
    t.after(() => server.close());
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { http2: true, handshakeTimeout: 300 }), {
      code: 'ERR_WS_TIMEOUT',
    });
    await streamClosed;
    await sessionClosed;
  });

  it('handshakeTimeout on a shared session: only the stream is cancelled, the session lives on', async (t) => {
    const server = http2.createServer({ settings: { enableConnectProtocol: true } });
    const streamClosed = new Promise<void>((resolve) =>
      server.on('stream', (stream) => {
        stream.on('error', () => {});
        stream.once('close', () => resolve());
      }),
    );
    const port = await listen(server);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    t.after(() => {
      session.destroy();
      server.close();
    });
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { http2: session, handshakeTimeout: 200 }), {
      code: 'ERR_WS_TIMEOUT',
    });
    await streamClosed;
    assert.equal(session.destroyed, false);
  });

  it('the signal is watched while waiting for the server SETTINGS: abort → ERR_WS_ABORTED, connection closed', async (t) => {
    const ac = new AbortController();
    let socketClosed!: Promise<void>;
    const srv = net.createServer((s) => {
      s.on('error', () => {});
      socketClosed = new Promise((r) => s.once('close', () => r()));
      ac.abort(); // connected, and no SETTINGS will ever come
    });
    const port = await listen(srv);
    t.after(() => srv.close());
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { http2: true, signal: ac.signal }), {
      code: 'ERR_WS_ABORTED',
    });
    await socketClosed;
  });
});

describe('closeInfo names the first closer', () => {
  it('the peer closed first (1001) and the app calls close() before the automatic reply: remote, 1001', async () => {
    let ws!: WebSocketStream;
    let closing: Promise<void> | undefined;
    const opened = await openServer({
      controlCallback: (kind) => {
        if (kind === 'close') closing = ws.close({ code: 1000, reason: 'bye' });
      },
    });
    ws = opened.ws;
    opened.peer.send(closeFrame(1001, 'going'));
    const [reply] = await opened.peer.waitFrames(1);
    assert.equal(reply!.opcode, 8);
    assert.equal(reply!.payload.readUInt16BE(0), 1000, "the app's own close frame is the reply");
    await opened.peer.waitClosed();
    const info = await ws.whenClosed();
    assert.deepEqual(info, { initiatedBy: 'remote', code: 1001, reason: 'going', wasClean: true });
    await closing;
  });

  it('we closed first and the peer answers with another code: local, our code', async () => {
    const { ws, peer } = await openServer();
    const closing = ws.close({ code: 4000, reason: 'ours' });
    await peer.waitFrames(1);
    peer.send(closeFrame(1001, 'theirs'));
    await closing;
    assert.deepEqual(ws.closeInfo, { initiatedBy: 'local', code: 4000, reason: 'ours', wasClean: true });
  });
});

describe("bufferPolicy 'close': closes when the buffered bytes exceed maxBufferedBytes", () => {
  const max = 256 * 1024;
  const message = Buffer.alloc(64 * 1024, 1);

  /** A server whose first stream runs `app`; a raw client socket; both closed after the test. */
  async function pair(t: { after(fn: () => void): void }, app: (ws: WebSocketStream) => Promise<unknown>) {
    let result!: Promise<unknown>;
    let ws!: WebSocketStream;
    let opened!: () => void;
    const started = new Promise<void>((resolve) => (opened = resolve));
    const srv = net.createServer((socket) => {
      ws = new WebSocketStream(socket, { maxBufferedBytes: max, bufferPolicy: 'close' });
      void ws.accept().then(() => {
        result = app(ws);
        opened();
      });
    });
    t.after(() => srv.close());
    const sock = net.connect(await listen(srv), '127.0.0.1');
    t.after(() => sock.destroy());
    sock.on('error', () => {});
    sock.write(requestHead());
    return { sock, started, result: () => result, stream: () => ws };
  }

  it('a reading peer, with a writer that awaits each write, stays up through 200 messages', async (t) => {
    let bytes = 0;
    let maxBuffered = 0;
    const p = await pair(t, async (ws) => {
      for (let i = 0; i < 200; i++) {
        await ws.write(message);
        maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
      }
      return ws.isOpen;
    });
    const total = 200 * (message.length + 4);
    const all = new Promise<void>((resolve) =>
      p.sock.on('data', (d: Buffer) => {
        bytes += d.length;
        if (bytes >= total) resolve();
      }),
    );
    await p.started;
    assert.equal(await p.result(), true, 'still open after every write');
    await all;
    assert.ok(maxBuffered <= max, `bufferedAmount reached ${maxBuffered}`);
    assert.equal(p.stream().closeInfo, undefined);
  });

  it('a peer that does not read is closed with 1008 and ERR_WS_BUFFER_OVERFLOW', async (t) => {
    const p = await pair(t, async (ws) => {
      try {
        // A producer that does not wait (a broadcast, say): the bytes pile up behind the peer.
        for (let i = 0; i < 1000 && ws.isOpen; i++) {
          void ws.write(message).catch(() => {});
          await new Promise((r) => setImmediate(r));
        }
        return 'not closed';
      } catch (e) {
        return (e as WebSocketError).code;
      }
    });
    p.sock.pause();
    await p.started;
    const info = await p.stream().whenClosed();
    assert.equal(info.error?.code, 'ERR_WS_BUFFER_OVERFLOW');
    assert.equal(info.code, 1008);
    assert.equal(await p.result(), 'not closed', 'the producer saw the stream close');
  });

  it('the limit is on the bytes buffered at any moment: a burst over it closes even a reading peer', async (t) => {
    const p = await pair(t, async (ws) => {
      const writes = Array.from({ length: 10 }, () => ws.write(message)); // 640 KiB in one turn
      const outcomes = await Promise.allSettled(writes);
      return outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as WebSocketError).code)).at(-1);
    });
    p.sock.resume();
    await p.started;
    assert.equal(await p.result(), 'ERR_WS_BUFFER_OVERFLOW');
    assert.equal((await p.stream().whenClosed()).code, 1008);
  });
});

describe('autoFragment: one rule for write() and every writeSome() part, compressed or not', () => {
  it('uncompressed writeSome parts are split into frames of fragmentSize, FIN on the last of the last part', async () => {
    const { ws, peer } = await openServer({ autoFragment: true, fragmentSize: 10 });
    await ws.writeSome('a'.repeat(25), { fin: false });
    await ws.writeSome('b'.repeat(5), { fin: true });
    await ws.write('c'.repeat(12));
    const frames = await peer.waitFrames(6);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.payload.length]),
      [
        [1, false, 10],
        [0, false, 10],
        [0, false, 5],
        [0, true, 5],
        [1, false, 10],
        [0, true, 2],
      ],
    );
  });

  it('compressed writeSome parts follow the same rule (RSV1 on the first frame only)', async () => {
    const { ws, peer } = await openServer(
      { autoFragment: true, fragmentSize: 10, perMessageDeflate: { threshold: 0 } },
      { 'Sec-WebSocket-Extensions': 'permessage-deflate' },
    );
    const random = Buffer.from(Array.from({ length: 60 }, (_, i) => (i * 151 + 17) & 0xff));
    await ws.writeSome(random, { fin: false });
    await ws.writeSome(random, { fin: true });
    await ws.writeSome(random, { fin: true, compress: false });
    const frames = await peer.until(() => {
      const f = peer.frames();
      return f.filter((x) => x.fin).length >= 2 ? f : undefined;
    });
    assert.ok(frames.length > 4, `${frames.length} frames`);
    assert.ok(
      frames.every((f) => f.payload.length <= 10),
      'no frame over fragmentSize',
    );
    const firstEnd = frames.findIndex((f) => f.fin);
    assert.deepEqual(
      frames.map((f) => f.rsv),
      frames.map((_, i) => (i === 0 ? 4 : 0)),
      'RSV1 on the first frame only',
    );
    assert.ok(
      frames.slice(1, firstEnd + 1).every((f) => f.opcode === 0),
      'continuations',
    );
    assert.equal(frames[firstEnd + 1]!.opcode, 2);
  });
});
