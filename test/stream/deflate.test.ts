/** permessage-deflate on the stream: negotiation, RSV1 on the wire, both roles, limits. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { WebSocketStream, createTestPair, connect, type DeflateOptions, type WebSocketError } from '../../src/index.js';
import { frame, parseFrames, requestHead } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

async function pair(server: boolean | DeflateOptions, client: boolean | DeflateOptions, readSize?: number) {
  const [a, b] = createTestPair({ readSize }, { readSize });
  const s = new WebSocketStream(a, { perMessageDeflate: server });
  const c = new WebSocketStream(b, { perMessageDeflate: client });
  await Promise.all([s.accept(), c.handshake({ host: 'h' })]);
  return { s, c, a, b };
}

const serverFrames = (a: { wire(): Buffer }) => {
  const w = a.wire();
  return parseFrames(w.subarray(w.indexOf('\r\n\r\n') + 4)).frames;
};

describe('permessage-deflate between ws-stream endpoints', () => {
  // With context takeover every message is compressed; a compressor that resets after each message
  // leaves those under the threshold (1024) uncompressed.
  const all = [4, 4, 4, 4];
  const longOnly = [4, 4, 0, 0];
  for (const [name, so, co, rsv] of [
    ['defaults', true, true, all],
    ['no context takeover both ways', { serverNoContextTakeover: true, clientNoContextTakeover: true }, true, longOnly],
    ['small windows', { serverMaxWindowBits: 9, clientMaxWindowBits: 10 }, true, all],
    [
      'client asks the server for no context takeover and 10 bits',
      true,
      { serverNoContextTakeover: true, serverMaxWindowBits: 10 },
      longOnly,
    ],
  ] as const) {
    it(`${name}: messages both ways, RSV1 on the first frame of compressed ones only`, async () => {
      const { s, c, a } = await pair(so, co, 7);
      assert.match(s.extensions, /^permessage-deflate/);
      assert.equal(c.extensions, s.extensions);
      const texts = ['x'.repeat(2000), 'κόσμε '.repeat(500), 'short', ''];
      for (const t of texts) {
        await c.write(t, { binary: false });
        const m = await s.read();
        assert.deepEqual([m.text(), m.binary], [t, false]);
        await s.write(m.data, { binary: false });
        assert.equal((await c.read()).text(), t);
      }
      const blob = Buffer.alloc(200000);
      for (let i = 0; i < blob.length; i++) blob[i] = (i * 13) & 0xff;
      await c.write(blob);
      assert.ok((await s.read()).data.equals(blob));
      const f = serverFrames(a);
      assert.deepEqual(
        f.map((x) => x.rsv),
        rsv,
      );
    });
  }

  it('without context takeover, a message of exactly the threshold is compressed, one octet shorter is not', async () => {
    const { s, c, a } = await pair({ serverNoContextTakeover: true, threshold: 100 }, true);
    for (const n of [99, 100]) {
      await s.write('y'.repeat(n), { binary: false });
      assert.equal((await c.read()).text(), 'y'.repeat(n));
    }
    assert.deepEqual(
      serverFrames(a).map((f) => f.rsv),
      [0, 4],
    );
  });

  it('compress: false, and writeSome parts (RSV1 on the first frame only)', async () => {
    const { s, c, a } = await pair({ threshold: 0 }, true);
    await s.write('y'.repeat(3000), { binary: false, compress: false });
    assert.equal((await c.read()).text(), 'y'.repeat(3000));
    await s.writeSome('part one ', { fin: false, binary: false });
    await s.writeSome('part two ', { fin: false });
    await s.writeSome('part three', { fin: true });
    assert.equal((await c.read()).text(), 'part one part two part three');
    const f = serverFrames(a);
    assert.deepEqual(
      f.map((x) => [x.opcode, x.rsv, x.fin]),
      [
        [1, 0, true],
        [1, 4, false],
        [0, 0, false],
        [0, 0, true],
      ],
    );
  });

  it('no negotiation when only one side enables it', async () => {
    const { s, c } = await pair(false, true);
    assert.equal(s.extensions, '');
    assert.equal(c.extensions, '');
    await c.write('z'.repeat(5000), { binary: false });
    assert.equal((await s.read()).text().length, 5000);
  });
});

describe('permessage-deflate limits and errors (server, raw client)', () => {
  async function rawDeflateClient(opts: object = {}) {
    const srv = net.createServer((socket) => {
      const ws = new WebSocketStream(socket, { perMessageDeflate: true, readMessageMax: 1024 * 1024, ...opts });
      ws.accept()
        .then(() => ws.read())
        .then(
          () => {},
          () => {},
        );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const sock = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    const peer = new RawPeer(sock);
    sock.write(requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    const res = await peer.responseHead();
    assert.match(res.head, /\r\nSec-WebSocket-Extensions: permessage-deflate(\r\n|$)/);
    return { sock, peer, srv };
  }

  it('a decompression bomb (50 MB of zeros in a 50 KB frame) is stopped at readMessageMax with close 1009', async () => {
    const { sock, peer, srv } = await rawDeflateClient();
    const bomb = zlib
      .deflateRawSync(Buffer.alloc(50 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      .subarray(0, -4);
    sock.write(frame({ opcode: 2, payload: bomb, rsv: 4 }));
    const f = await peer.waitFrames(1);
    assert.deepEqual([f[0]!.opcode, f[0]!.payload.readUInt16BE(0)], [8, 1009]);
    await peer.waitClosed();
    srv.close();
  });

  it('data that does not inflate fails with 1007; inflated text that is not UTF-8 fails with 1007', async () => {
    for (const payload of [
      Buffer.from([0xff, 0xfe, 0xfd, 0x00]),
      zlib
        .deflateRawSync(Buffer.from([0x61, 0xff, 0x62]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
        .subarray(0, -4),
    ]) {
      const { sock, peer, srv } = await rawDeflateClient();
      sock.write(frame({ opcode: 1, payload, rsv: 4 }));
      const f = await peer.waitFrames(1);
      assert.deepEqual([f[0]!.opcode, f[0]!.payload.readUInt16BE(0)], [8, 1007]);
      srv.close();
    }
  });

  it('RSV1 on a continuation frame is a protocol error (1002)', async () => {
    const { sock, peer, srv } = await rawDeflateClient();
    sock.write(
      Buffer.concat([frame({ opcode: 1, payload: 'a', fin: false }), frame({ opcode: 0, payload: 'b', rsv: 4 })]),
    );
    const f = await peer.waitFrames(1);
    assert.equal(f[0]!.payload.readUInt16BE(0), 1002);
    srv.close();
  });
});

describe('permessage-deflate with the ws npm peer (its perMessageDeflate on)', () => {
  it('ws client → ws-stream server, each combination of window bits and context takeover', async () => {
    const srv = net.createServer((socket) => {
      const ws = new WebSocketStream(socket, { perMessageDeflate: true });
      ws.accept()
        .then(
          async () => {
            for await (const m of ws) await ws.write(m.data, { binary: m.binary });
          },
          () => {},
        )
        .catch(() => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const combos: object[] = [
      {},
      { serverNoContextTakeover: true },
      { clientNoContextTakeover: true },
      { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ];
    for (const bits of [9, 10, 12, 15]) combos.push({ serverMaxWindowBits: bits, clientMaxWindowBits: bits });
    for (const opts of combos) {
      const c = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0, ...opts } });
      await new Promise((r, j) => {
        c.once('open', r);
        c.once('error', j);
      });
      assert.match(c.extensions, /permessage-deflate/, JSON.stringify(opts));
      for (const size of [16, 64, 256, 1024, 4096, 16384, 65536, 131072]) {
        const text = 'The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(size / 45)).slice(0, size);
        const back = new Promise<string>((r) => c.once('message', (d) => r(String(d))));
        c.send(text);
        assert.equal(await back, text, `${JSON.stringify(opts)} ${size}`);
      }
      c.close();
    }
    srv.close();
  });

  it('ws-stream client → ws server', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
    wss.on('connection', (c) => c.on('message', (d, b) => c.send(d, { binary: b })));
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as net.AddressInfo).port;
    for (const opts of [
      true,
      { clientNoContextTakeover: true, clientMaxWindowBits: 10 },
      { serverNoContextTakeover: true },
    ] as const) {
      const ws = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: opts });
      assert.match(ws.extensions, /^permessage-deflate/);
      for (const size of [10, 2000, 100000]) {
        const text = 'abcdefgh'.repeat(size / 8 + 1).slice(0, size);
        await ws.write(text, { binary: false });
        assert.equal((await ws.read()).text(), text);
      }
      await ws.close();
    }
    wss.close();
  });
});

void (null as unknown as WebSocketError);

describe('permessage-deflate and connections that vanish', () => {
  it('peers that reset the connection while zlib works on their messages do not crash the process', async () => {
    const closed: Promise<unknown>[] = [];
    const srv = net.createServer((socket) => {
      const ws = new WebSocketStream(socket, {
        perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 },
      });
      closed.push(ws.whenClosed());
      ws.accept().then(
        async () => {
          try {
            for await (const m of ws) void ws.write(m.data, { binary: m.binary }).catch(() => {});
          } catch {
            /* the peer reset the connection: expected here */
          }
        },
        () => {},
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const payload = zlib
      .deflateRawSync(Buffer.from('data '.repeat(20000)), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      .subarray(0, -4);
    for (let round = 0; round < 30; round++) {
      const sock = net.connect(port, '127.0.0.1');
      const peer = new RawPeer(sock);
      sock.write(
        requestHead({
          'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
        }),
      );
      await peer.responseHead();
      for (let i = 0; i < 20; i++) sock.write(frame({ opcode: 1, payload, rsv: 4 }));
      await new Promise((r) => setTimeout(r, round % 5));
      sock.resetAndDestroy();
    }
    // Every reset seen (not a time: a loaded machine may take long), then a message through zlib again.
    await Promise.all(closed);
    assert.equal(closed.length, 30);
    const ws = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
    await ws.write('still here '.repeat(500), { binary: false });
    assert.equal((await ws.read()).text(), 'still here '.repeat(500));
    await ws.close();
    srv.close();
  });
});
