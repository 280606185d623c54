/**
 * A peer that floods messages of 0 and 1 byte while nobody reads them, over TCP. `readHighWaterMark`
 * bounds what is held for a reader that is not reading. Such messages cost 2 to 7 octets on the wire
 * and ~50 to ~150 bytes of heap each once queued, so a bound on their payload alone let 500,000 of
 * them (3 MB on the wire, ~25 MB of heap) be queued without the stream ever stopping reading, and
 * empty ones without any limit, in both roles. And a message is queued as a view of the read it came
 * in: one 1-byte message per 64 KiB read (the rest of it pongs, which nothing keeps) kept 64 KiB
 * each, 262 MB for 4,000 of them, still below the bound. The stream must stop reading the peer within
 * an absolute bound of bytes taken from the connection, then deliver every message, in order.
 * And a message in 1-byte fragments between 1 KiB ones, read whole: each 1-byte fragment after a
 * large one took a fresh 16 KiB buffer to gather it, 16 times the payload (131 MB for 8.2 MB).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { type DuplexLayer, type WebSocketStream, connect } from '../../src/index.js';
import { frame, requestHead } from '../support/frames.js';
import { fakeServer, response101 } from '../support/hostile.js';
import { openServerOverTcp } from '../support/open.js';

const COUNT = 200_000;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/**
 * What the stream may take from the connection before it stops reading: the 1 MiB of
 * `readHighWaterMark` buys ~8,000 such messages (~56 KB here), and one read of the socket (64 KiB)
 * may come on top of that before the stream looks again.
 */
const TAKEN_BOUND = 256 * 1024;

/** Message `i` of the flood: empty text for even `i`, one byte of binary for odd. */
function flood(masked: boolean): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < COUNT; i++) {
    frames.push(
      i % 2 === 0
        ? frame({ opcode: 1, payload: '', mask: masked })
        : frame({ opcode: 2, payload: Buffer.of(i % 251), mask: masked }),
    );
  }
  return Buffer.concat(frames);
}

/** Resolves once the stream paused `socket`, or `socket` took `total` bytes (the stream never stopped reading). */
function pausedOrTookAll(socket: net.Socket, total: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!socket.isPaused() && socket.bytesRead < total) return;
      socket.off('data', check);
      resolve();
    };
    socket.on('data', check); // after the stream's own listener: it has handled the chunk
    check();
  });
}

/** Reads the whole flood: every message, in order, none lost. */
async function readFlood(ws: WebSocketStream): Promise<void> {
  let wrong = 0;
  for (let i = 0; i < COUNT; i++) {
    const m = await ws.read();
    const ok =
      i % 2 === 0 ? !m.binary && m.data.length === 0 : m.binary && m.data.length === 1 && m.data[0] === i % 251;
    if (!ok) wrong++;
  }
  assert.equal(wrong, 0, 'messages out of order or changed');
}

describe('messages and fragments of 0 and 1 byte: what the stream holds follows its bounds', {
  timeout: 120_000,
}, () => {
  it('server role: the stream stops reading within an absolute bound, then every message is read in order', async (t) => {
    const { ws, socket, peer } = await openServerOverTcp();
    t.after(() => peer.io.destroy());
    const bytes = flood(true);
    const taken = socket.bytesRead; // the request head
    peer.send(bytes);
    await pausedOrTookAll(socket, taken + bytes.length);
    const took = socket.bytesRead - taken;
    assert.ok(took < TAKEN_BOUND, `took ${took} of ${bytes.length} bytes with nobody reading`);
    await readFlood(ws);
    const closed = ws.close();
    peer.send(frame({ opcode: 8, payload: Buffer.of(0x03, 0xe8) }));
    await closed;
    assert.equal(ws.closeInfo?.wasClean, true);
  });

  it('server role, one message per read: the reads it keeps count, not its byte; every message is read in order', async (t) => {
    const { ws, socket, peer } = await openServerOverTcp();
    t.after(() => peer.io.destroy());
    const taken = socket.bytesRead;
    // 64 MiB in all, nobody reading: a stream that stops reading takes a few of these, one that does not takes all.
    const pongs = Buffer.concat(Array.from({ length: 500 }, () => frame({ opcode: 10, payload: Buffer.alloc(125) })));
    const reads = 1024;
    let total = 0;
    for (let i = 0; i < reads; i++) {
      const one = Buffer.concat([frame({ opcode: 2, payload: Buffer.of(i % 251) }), pongs]);
      total += one.length;
      peer.send(one);
    }
    await pausedOrTookAll(socket, taken + total);
    const took = socket.bytesRead - taken;
    assert.ok(took < 4 * 1024 * 1024, `took ${took} of ${total} bytes with nobody reading`);
    let wrong = 0;
    for (let i = 0; i < reads; i++) {
      const m = await ws.read();
      if (!m.binary || m.data.length !== 1 || m.data[0] !== i % 251) wrong++;
    }
    assert.equal(wrong, 0, 'messages out of order or changed');
    peer.io.destroy();
    await ws.whenClosed();
  });

  it('server role, permessage-deflate: a plain message behind a compressed one keeps its read too; all read in order', async (t) => {
    let pings = 0;
    let pinged = (): void => {};
    const { ws, socket, peer } = await openServerOverTcp(
      {
        perMessageDeflate: true,
        controlCallback: (kind) => {
          if (kind !== 'ping') return;
          pings++;
          pinged();
        },
      },
      requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
    );
    t.after(() => peer.io.destroy());
    assert.equal(ws.extensions, 'permessage-deflate');
    const taken = socket.bytesRead;
    // Each read: a compressed message (so the plain one behind it waits in the inflate line), a 1-byte
    // plain message, pongs, a ping, reported once what came before it is inflated and queued. One read
    // at a time, after the ping of the one before (the inflate line never holds enough to stop reading
    // by itself). A block sync-flushed by a fresh compressor refers to nothing before it.
    const compressed = zlib.deflateRawSync('y', { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const pongs = Buffer.concat(Array.from({ length: 500 }, () => frame({ opcode: 10, payload: Buffer.alloc(125) })));
    const reads = 1024;
    let sent = 0;
    let total = 0;
    while (sent < reads) {
      const one = Buffer.concat([
        frame({ opcode: 1, rsv: 4, payload: compressed }),
        frame({ opcode: 2, payload: Buffer.of(sent % 251) }),
        pongs,
        frame({ opcode: 9 }),
      ]);
      total += one.length;
      peer.send(one);
      sent++;
      await new Promise<void>((resolve) => {
        pinged = () => {
          if (pings === sent) resolve();
        };
        pinged();
      });
      await turn(); // the stream judged whether to read on once that line emptied (after the report)
      if (socket.isPaused()) break;
    }
    const took = socket.bytesRead - taken;
    assert.ok(socket.isPaused() && took < 4 * 1024 * 1024, `took ${took} of ${total} bytes with nobody reading`);
    let wrong = 0;
    for (let i = 0; i < sent; i++) {
      const y = await ws.read();
      const m = await ws.read();
      if (y.binary || y.text() !== 'y' || !m.binary || m.data.length !== 1 || m.data[0] !== i % 251) wrong++;
    }
    assert.equal(wrong, 0, 'messages out of order or changed');
    peer.io.destroy();
    await ws.whenClosed();
  });

  it('a message whose 1-byte fragments alternate with 1 KiB ones, a reader waiting: memory follows its payload', async (t) => {
    const { ws, socket, peer } = await openServerOverTcp({ readMessageMax: 64 * 1024 * 1024 });
    t.after(() => peer.io.destroy());
    // 8,000 pairs: 8.2 MB of payload. A fresh 16 KiB accumulator for each 1-byte fragment after a
    // large one held 131 MB by the time the message ended.
    const pairs = 8000;
    const big = Buffer.alloc(1024, 0x61);
    const parts: Buffer[] = [];
    for (let i = 0; i < pairs; i++) {
      parts.push(frame({ opcode: i === 0 ? 2 : 0, payload: Buffer.of(i % 251), fin: false }));
      parts.push(frame({ opcode: 0, payload: big, fin: false }));
    }
    parts.push(frame({ opcode: 0, payload: Buffer.of(0x7a) }));
    const bytes = Buffer.concat(parts);
    const base = process.memoryUsage().arrayBuffers;
    let most = 0;
    // After the stream's own listener: what it holds of the message so far, at each read of the socket.
    const measure = (): void => {
      most = Math.max(most, process.memoryUsage().arrayBuffers - base);
    };
    socket.on('data', measure);
    const reading = ws.read();
    peer.send(bytes);
    const m = await reading;
    socket.off('data', measure);
    assert.equal(m.data.length, pairs * 1025 + 1);
    let wrong = 0;
    for (let i = 0; i < pairs; i++) if (m.data[i * 1025] !== i % 251 || m.data[i * 1025 + 1] !== 0x61) wrong++;
    assert.equal(wrong, 0, 'the message came changed');
    assert.ok(most < 48 * 1024 * 1024, `held ${most} bytes for a message of ${m.data.length}`);
  });

  it('client role (connect()): the stream stops reading within an absolute bound, then every message is read in order', async (t) => {
    const bytes = flood(false);
    let headLength = 0;
    const { url } = await fakeServer(t, (socket, accept) => {
      const head = response101(accept);
      headLength = head.length;
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
    });
    const ws = await connect(url);
    const socket = (ws.nextLayer as DuplexLayer).duplex as net.Socket;
    await pausedOrTookAll(socket, headLength + bytes.length);
    const took = socket.bytesRead - headLength;
    assert.ok(took < TAKEN_BOUND, `took ${took} of ${bytes.length} bytes with nobody reading`);
    await readFlood(ws);
    ws.nextLayer.destroy();
    await once(socket, 'close');
  });
});
