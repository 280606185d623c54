/**
 * Prepared frames (the same Buffers queued to many streams) that would wait in the socket's buffer
 * are handed to the socket as they are, not as this stream's own joined copy: a subscriber that fell
 * behind holds no copy of bytes its fellow subscribers share. Over real TCP sockets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { queuePreparedFrame } from '../../src/stream/prepared.js';
import { frame } from '../support/frames.js';
import { backUpWithPreparedFrames, flushed, openServerOverTcp } from '../support/open.js';

/** A whole unmasked binary frame of `n` bytes (seeded), as a prepared-frame caller holds it. */
function prepared(n: number, seed: number): Buffer {
  const payload = Buffer.alloc(n);
  for (let i = 0; i < n; i++) payload[i] = (i * 13 + seed) & 0xff;
  return frame({ opcode: 2, payload, mask: false });
}

/** The chunks `socket.write` is handed from now on (the socket writes them as ever). */
function watchWrites(socket: net.Socket): Buffer[] {
  const seen: Buffer[] = [];
  const write = socket.write;
  socket.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (Buffer.isBuffer(chunk)) seen.push(chunk);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof socket.write;
  return seen;
}

/** Whether `f` itself (its memory, not a copy of its bytes) was handed to the socket. */
const handedAsItself = (seen: Buffer[], f: Buffer): boolean =>
  seen.some((c) => c.buffer === f.buffer && c.byteOffset === f.byteOffset && c.length === f.length);

describe('prepared frames that would wait in the socket', () => {
  it('a backed-up socket is handed the prepared frames themselves, and the peer gets every frame in order', async (t) => {
    const { ws, socket, peer } = await openServerOverTcp({}, undefined, t);
    peer.io.pause(); // the peer stops reading: the kernel's buffers fill, then the socket's
    const filler = prepared(1 << 20, 1);
    const fillers = await backUpWithPreparedFrames(ws, socket, filler);
    const seen = watchWrites(socket);
    const batch = [prepared(1000, 2), prepared(5000, 3), prepared(10, 4)];
    for (const f of batch) assert.equal(queuePreparedFrame(ws, f), true);
    await flushed();
    assert.ok(
      handedAsItself(seen, batch[0]!) && handedAsItself(seen, batch[1]!),
      'the frames go to the socket as they are, not as a joined copy',
    );
    peer.io.resume();
    const frames = await peer.waitFrames(fillers + batch.length);
    assert.equal(frames.length, fillers + batch.length);
    for (let i = 0; i < fillers; i++) assert.equal(frames[i]!.payload.length, 1 << 20);
    const wire = Buffer.concat(frames.slice(fillers).map((f) => frame({ opcode: 2, payload: f.payload, mask: false })));
    assert.ok(wire.equals(Buffer.concat(batch)), 'the batch arrives byte for byte, in order');
  });

  it('a batch over 64 KiB of prepared frames, to a socket holding nothing, is handed over as those frames', async (t) => {
    const { ws, socket, peer } = await openServerOverTcp({}, undefined, t);
    const seen = watchWrites(socket);
    const batch = Array.from({ length: 20 }, (_, i) => prepared(4000, 10 + i));
    for (const f of batch) assert.equal(queuePreparedFrame(ws, f), true);
    await flushed();
    const asThemselves = batch.filter((f) => handedAsItself(seen, f)).length;
    assert.equal(asThemselves, batch.length, 'each frame goes to the socket as it is');
    const frames = await peer.waitFrames(batch.length);
    const wire = Buffer.concat(frames.map((f) => frame({ opcode: 2, payload: f.payload, mask: false })));
    assert.ok(wire.equals(Buffer.concat(batch)), 'the batch arrives byte for byte, in order');
  });
});
