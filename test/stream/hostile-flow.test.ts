/**
 * Hostile flow over real sockets: a peer that never reads while it floods us with pings or data,
 * a close flood, a FIN or a reset at every byte of an exchange (both roles), idle peers, and the
 * memory a decompression bomb or a flood costs `ws-stream serve`, measured in the server's own
 * process (peak RSS from /proc, against a bound with a wide margin; never timings).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { WebSocketStream, connect } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';
import { binary, closeFrame, cont, ping, requestHead, text } from '../support/frames.js';
import {
  abandonHandshakes,
  attack,
  closeCodeOf,
  fakeServer,
  floodUntilServerStopsReading,
  memoryOf,
  netServer,
  onFramesAfterHead,
  response101,
  serverTurns,
} from '../support/hostile.js';

const hs = (over: Record<string, string | null> = {}): string => requestHead(over, 'GET / HTTP/1.1');
const MiB = 1 << 20;

describe('a peer that never reads', { timeout: 120_000 }, () => {
  it('a ping flood: the server stops reading once its pongs pass maxBufferedBytes; then every pong, in order', async (t) => {
    const max = 256 * 1024;
    let ws!: WebSocketStream;
    let maxBuffered = 0;
    let pausedSeen!: () => void;
    const paused = new Promise<void>((r) => {
      pausedSeen = r;
    });
    const srv = net.createServer((socket) => {
      ws = new WebSocketStream(socket, {
        maxBufferedBytes: max,
        controlCallback: (kind, _p, s) => {
          if (kind !== 'ping') return;
          maxBuffered = Math.max(maxBuffered, s.bufferedAmount);
          if (s.bufferedAmount > max) pausedSeen();
        },
      });
      ws.accept().then(() => ws.read().catch(() => {}));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.after(() => srv.close());
    const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(hs());
    // 40 MiB of pings (125 bytes each, numbered), written as the kernel takes them, never reading.
    const count = Math.floor((40 * MiB) / 131);
    const batch = 8192;
    let sent = 0;
    const writeAll = (async () => {
      while (sent < count) {
        const frames: Buffer[] = [];
        for (let i = 0; i < batch && sent < count; i++, sent++) {
          const payload = Buffer.alloc(125);
          payload.writeUInt32BE(sent);
          frames.push(ping(payload));
        }
        if (!socket.write(Buffer.concat(frames))) await once(socket, 'drain');
      }
    })();
    await paused;
    // Now read: every pong comes back, numbered in order, none lost.
    let pongs = 0;
    const allPongs = new Promise<void>((resolve, reject) => {
      onFramesAfterHead(socket, (frames) => {
        for (const f of frames) {
          if (f.opcode !== 10 || f.payload.readUInt32BE(0) !== pongs) {
            reject(new Error(`frame ${f.opcode} where pong ${pongs} was due`));
            return;
          }
          pongs++;
        }
        if (pongs === count) resolve();
      });
    });
    await writeAll;
    await allPongs;
    assert.equal(pongs, count);
    // The pongs held at any ping: the limit, plus what one read of pings (at most 64 KiB) answers.
    assert.ok(maxBuffered <= max + 128 * 1024, `${maxBuffered} bytes buffered at most`);
    socket.destroy();
  });

  it("bufferPolicy 'close': writes to a peer that does not read fail with ERR_WS_BUFFER_OVERFLOW and close 1008", async (t) => {
    let result!: (r: [string, number]) => void;
    const outcome = new Promise<[string, number]>((r) => {
      result = r;
    });
    const srv = net.createServer(async (socket) => {
      const ws = new WebSocketStream(socket, { bufferPolicy: 'close', maxBufferedBytes: MiB });
      await ws.accept();
      const chunk = Buffer.alloc(64 * 1024);
      let error = '';
      // Written in one go, never awaited: the peer reads nothing (its kernel buffers fill first).
      for (let i = 0; i < 4096 && error === ''; i++) {
        ws.write(chunk).catch((e: { code: string }) => {
          error ||= e.code;
        });
        if (i % 64 === 63) await new Promise((r) => setImmediate(r));
      }
      const info = await ws.whenClosed();
      result([error, info.code]);
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.after(() => srv.close());
    const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(hs());
    socket.once('data', () => socket.pause());
    assert.deepEqual(await outcome, ['ERR_WS_BUFFER_OVERFLOW', 1008]);
    socket.destroy();
  });
});

describe('a close flood, and a FIN or a reset at every byte', { timeout: 300_000 }, () => {
  it('10,000 close frames after the first: answered once, the rest ignored, the connection ends cleanly', async (t) => {
    const server = await netServer(t);
    const flood = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => closeFrame(1000 + (i % 2) * 2000)));
    const ex = await attack(server.port, [hs(), text('before'), flood]);
    assert.deepEqual(
      ex.frames.map((f) => (f.opcode === 8 ? closeCodeOf(f) : f.payload.toString())),
      ['before', 1000],
    );
    const o = await server.next();
    assert.deepEqual(
      [o.messages, o.readError, o.info?.wasClean, o.info?.code],
      [['before'], 'ERR_WS_CLOSED', true, 1000],
    );
  });

  // Request, a message, a fragmented message with a ping between its parts, a close.
  const exchange = [hs(), text('hello'), text('wor', { fin: false }), ping('p'), cont('ld'), closeFrame(1000, 'bye')];
  const bytes = Buffer.concat(exchange.map((c) => Buffer.from(c)));
  const requestLength = Buffer.byteLength(exchange[0] as string);
  const ends = [requestLength, requestLength + text('hello').length, bytes.length - closeFrame(1000, 'bye').length];

  for (const how of ['FIN', 'reset'] as const) {
    it(`server role: a ${how} after each of the ${bytes.length} bytes: the messages whole before it are read, then ${how === 'FIN' ? 'ERR_WS_EOF' : 'ERR_WS_NEXT_LAYER or ERR_WS_EOF'}`, async (t) => {
      const server = await netServer(t, { closeTimeout: 2000 });
      for (let cut = 0; cut <= bytes.length; cut++) {
        // The FIN or reset only once the server has the connection (a reset before would never reach it).
        const n = server.connections + 1;
        await attack(server.port, [bytes.subarray(0, cut)], {
          end: how === 'FIN',
          reset: how === 'reset',
          // Our reset may cut off an echo or pong the server was sending: not the server's doing.
          cutAllowed: how === 'reset',
          before: () => server.connected(n),
        });
        const o = await server.next();
        const whole = cut < ends[0]! ? null : cut < ends[1]! ? [] : cut < ends[2]! ? ['hello'] : ['hello', 'world'];
        if (whole === null) {
          // No whole request: accept() fails (a reset may also come before the server reads a byte).
          assert.ok(['ERR_WS_EOF', 'ERR_WS_NEXT_LAYER'].includes(o.accept), `cut ${cut}: ${o.accept}`);
          continue;
        }
        if (o.accept !== 'ok') {
          // A reset right behind the request may fail the 101's write.
          assert.ok(how === 'reset' && o.accept === 'ERR_WS_NEXT_LAYER', `cut ${cut}: ${o.accept}`);
          continue;
        }
        if (cut === bytes.length && how === 'FIN') {
          assert.deepEqual([o.messages, o.info?.code], [whole, 1000], `cut ${cut}`);
          continue;
        }
        // A reset may lose bytes the server had not read yet: what it read is a prefix, in order.
        if (how === 'FIN') assert.deepEqual(o.messages, whole, `cut ${cut}`);
        else assert.deepEqual(o.messages, whole.slice(0, o.messages.length), `cut ${cut}`);
        assert.ok(
          how === 'FIN'
            ? o.readError === 'ERR_WS_EOF'
            : ['ERR_WS_EOF', 'ERR_WS_NEXT_LAYER', 'ERR_WS_CLOSED'].includes(o.readError!),
          `cut ${cut}: ${o.readError}`,
        );
        // A reset after the whole exchange may come after the close was read.
        if (cut < bytes.length) assert.equal(o.info?.code, 1006, `cut ${cut}`);
      }
    });
  }

  it('client role: the server ends (FIN) after each byte of its answer and frames: messages whole before it, then ERR_WS_EOF', async (t) => {
    let answer = Buffer.alloc(0);
    let cut = 0;
    const { url } = await fakeServer(t, (s, accept) => {
      const u = { mask: false };
      const frames = [
        text('hello', u),
        text('wor', { fin: false, ...u }),
        ping('p', u),
        cont('ld', u),
        closeFrame(1000, '', u),
      ];
      answer = Buffer.concat([Buffer.from(response101(accept)), ...frames]);
      s.end(answer.subarray(0, cut));
    });
    // The answer's length, learnt from a first whole run.
    cut = Number.MAX_SAFE_INTEGER;
    const first = await connect(url);
    const all: string[] = [];
    for await (const m of first) all.push(m.data.toString());
    assert.deepEqual(all, ['hello', 'world']);
    const total = answer.length;
    const headLength = answer.indexOf('\r\n\r\n') + 4;
    for (cut = 0; cut < total; cut++) {
      const r = await connect(url).then(
        async (ws) => {
          const got: string[] = [];
          try {
            for await (const m of ws) got.push(m.data.toString());
            return { got, error: 'ERR_WS_CLOSED' };
          } catch (e) {
            return { got, error: (e as { code: string }).code };
          }
        },
        (e: { code: string }) => ({ got: [] as string[], error: `handshake ${e.code}` }),
      );
      if (cut < headLength) assert.equal(r.error, 'handshake ERR_WS_EOF', `cut ${cut}`);
      else assert.equal(r.error, 'ERR_WS_EOF', `cut ${cut}`);
      assert.deepEqual(r.got, ['hello', 'world'].slice(0, r.got.length), `cut ${cut}`);
    }
  });
});

describe('idle peers', { timeout: 60_000 }, () => {
  // Real timers: the order (a ping, then the close) and the outcome; where they fall in the idle
  // time is checked on a mocked clock in idle-window.test.ts.
  it('idleTimeout: a silent peer gets a ping, then close 1001, and is dropped; one that answers pings stays', async (t) => {
    const server = await netServer(t, { idleTimeout: 400 });
    const silent = await attack(server.port, [hs()]);
    assert.deepEqual(
      silent.frames.map((f) => (f.opcode === 8 ? closeCodeOf(f) : f.opcode)),
      [9, 1001],
    );
    const o = await server.next();
    assert.deepEqual([o.readError, o.info?.error?.code], ['ERR_WS_TIMEOUT', 'ERR_WS_TIMEOUT']);
    // A peer that answers each ping: still open after 3 pings (3 idle half-periods), then closes itself.
    const socket = net.connect(server.port, '127.0.0.1');
    socket.write(hs());
    let pings = 0;
    await new Promise<void>((resolve) => {
      onFramesAfterHead(socket, (frames) => {
        for (const f of frames) {
          if (pings === 3) return; // the close's answer, after ours below
          assert.equal(f.opcode, 9);
          socket.write(Buffer.from([0x8a, 0x80, 1, 2, 3, 4])); // an empty masked pong
          if (++pings === 3) resolve();
        }
      });
    });
    socket.write(closeFrame(1000));
    await once(socket, 'close');
    const kept = await server.next();
    assert.deepEqual([kept.readError, kept.info?.code, kept.info?.wasClean], ['ERR_WS_CLOSED', 1000, true]);
  });

  it('client role: a server that goes silent is dropped at idleTimeout with ERR_WS_TIMEOUT', async (t) => {
    const { url } = await fakeServer(t, (s, accept) => s.write(response101(accept)));
    const ws = await connect(url, { idleTimeout: 400, keepAlive: false });
    await assert.rejects(ws.read(), { code: 'ERR_WS_TIMEOUT' });
    assert.equal((await ws.whenClosed()).code, 1006);
  });
});

/** A compressed message as permessage-deflate sends it. */
function deflated(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

describe('ws-stream serve: memory under attack (peak RSS of the server process)', { timeout: 300_000 }, () => {
  it('20 decompression bombs at once (200 KB inflating to 200 MB each): every one closed 1009; peak RSS under +250 MB', async (t) => {
    const server = await startServer(['--deflate']);
    t.after(() => server.stop());
    const before = await memoryOf(server.proc.pid!);
    const bomb = binary(deflated(Buffer.alloc(200 * MiB)), { rsv: 4 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        attack(server.port, [hs({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }), bomb]),
      ),
    );
    for (const r of results)
      assert.deepEqual(
        r.frames.map((f) => closeCodeOf(f)),
        [1009],
      );
    const after = await memoryOf(server.proc.pid!);
    // Inflated in full, 20 bombs would take 4 GB; the limit is 16 MiB per message, 10 inflating at once.
    assert.ok(after.peak - before.rss < 250 * MiB, `peak ${after.peak} bytes, ${before.rss} before`);
  });

  it('a flood of 64 KiB messages that the peer never reads back: the server stops reading; peak RSS under +150 MB', async (t) => {
    const server = await startServer([]);
    t.after(() => server.stop());
    const before = await memoryOf(server.proc.pid!);
    const turns = await serverTurns(server.port);
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(hs());
    socket.once('data', () => socket.pause()); // the 101, then nothing is read
    const message = binary(Buffer.alloc(64 * 1024, 7));
    // Written as the kernel takes them until the server has stopped reading (its echoes back up);
    // one that never stops takes all 256 MiB.
    const { written, stopped } = await floodUntilServerStopsReading(socket, message, turns, 256 * MiB).finally(() => {
      socket.destroy();
      turns.close();
    });
    assert.ok(stopped, `${written} bytes taken: the server never stopped reading`);
    console.log(`flood: ${written} bytes taken, then the server stopped reading`);
    const after = await memoryOf(server.proc.pid!);
    // Buffered without a bound, the echoes of what was taken would be the server's memory.
    assert.ok(
      after.peak - before.rss < 150 * MiB,
      `peak ${after.peak} bytes, ${before.rss} before; ${written} written`,
    );
  });

  it('2,000 connections abandoned mid-handshake (reset, FIN, silent): every descriptor released, peak RSS under +100 MB', async (t) => {
    const server = await startServer(['--handshake-timeout', '1']);
    t.after(() => server.stop());
    const pid = server.proc.pid!;
    const descriptors = async (): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;
    const baseline = await descriptors();
    const before = await memoryOf(pid);
    const request = hs();
    await abandonHandshakes(server.port, request, 2000);
    // Each connection's descriptor goes once the server has seen it end: wait for that, checked every 50 ms.
    while ((await descriptors()) > baseline) await new Promise((r) => setTimeout(r, 50));
    const after = await memoryOf(pid);
    assert.ok(after.peak - before.rss < 100 * MiB, `peak ${after.peak} bytes, ${before.rss} before`);
    // And it still serves.
    const ex = await attack(server.port, [hs(), text('still here'), closeFrame(1000)]);
    assert.deepEqual(
      ex.frames.map((f) => (f.opcode === 8 ? closeCodeOf(f) : f.payload.toString())),
      ['still here', 1000],
    );
  });
});
