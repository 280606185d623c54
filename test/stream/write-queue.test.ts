/** The write queue's batches, byte for byte: headers written in place, withdrawn frames gone, large payloads not copied. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WriteQueue, noopWaiter } from '../../src/stream/write-queue.js';
import { parseFrames } from '../support/frames.js';

function fill(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

describe('write queue', () => {
  for (const [name, big, last] of [
    ['a batch joined whole (≤ 64 KiB)', 1000, 20_000],
    ['a batch over 64 KiB', 100_000, 70_000],
  ] as const) {
    it(`${name}: raw bytes, then frames of each header size, in order, one withdrawn`, () => {
      const q = new WriteQueue();
      q.raw(Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'));
      q.frame(1, Buffer.from('héllo'), true);
      const first = q.length;
      q.frame(2, fill(300, 1), false);
      const slot = q.wait(noopWaiter);
      q.withdraw(first, q.length, slot);
      q.frame(0x9, Buffer.alloc(0), true);
      const large = fill(big, 2);
      q.frame(2, large, false, true);
      const tail = fill(last, 3);
      q.frame(0, tail, true);
      const expected = q.bytes;
      const { bufs } = q.take();
      const wire = Buffer.concat(bufs);
      assert.equal(wire.length, expected, 'bytes counts exactly what is written');
      assert.equal(q.bytes, 0);
      assert.equal(q.length, 0);
      const head = wire.indexOf('\r\n\r\n') + 4;
      assert.equal(wire.subarray(0, head).toString(), 'HTTP/1.1 101 Switching Protocols\r\n\r\n');
      const { frames, rest } = parseFrames(wire.subarray(head));
      assert.equal(rest.length, 0);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.fin, f.rsv, f.masked, f.payload.length]),
        [
          [1, true, 0, false, 6],
          [9, true, 0, false, 0],
          [2, false, 4, false, big],
          [0, true, 0, false, last],
        ],
      );
      assert.equal(frames[0]!.payload.toString(), 'héllo');
      assert.ok(frames[2]!.payload.equals(large));
      assert.ok(frames[3]!.payload.equals(fill(last, 3)));
      if (expected > 65_536)
        assert.ok(
          bufs.includes(large) && bufs.includes(tail) && bufs.length === 4,
          'small entries joined, large payloads passed on as they are',
        );
      else assert.equal(bufs.length, 1, 'one buffer, one write');
    });
  }

  it("a client queue masks each frame with its own key and leaves the caller's bytes alone", () => {
    const q = new WriteQueue();
    q.mask = true;
    const payload = fill(2000, 4);
    const copy = Buffer.from(payload);
    q.frame(2, payload, true);
    q.frame(1, Buffer.from('x'), true);
    const { frames } = parseFrames(Buffer.concat(q.take().bufs));
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.masked]),
      [
        [2, true],
        [1, true],
      ],
    );
    assert.ok(frames[0]!.payload.equals(copy));
    assert.ok(payload.equals(copy));
  });

  it('frames built at the call (copy): the bytes at the call; one run per queue until another entry or queue comes between', () => {
    const a = new WriteQueue();
    const b = new WriteQueue();
    const buf = fill(300, 0);
    const at = (n: number): Buffer => Buffer.from(buf.fill(n));
    const want = [at(1)];
    a.frame(2, buf, true, false, true);
    want.push(at(2));
    a.frame(2, buf, true, false, true);
    const forB = at(3);
    b.frame(2, buf, true, false, true); // b's frame lands between a's
    want.push(at(4));
    a.frame(2, buf, true, false, true);
    a.frame(9, Buffer.from('p'), true); // a payload kept as it is ends the run
    const first = a.mark();
    buf.fill(5);
    a.frame(2, buf, true, false, true);
    const slot = a.wait(noopWaiter);
    a.withdraw(first, a.mark(), slot);
    want.push(at(6).subarray(0, 40));
    a.frame(1, buf.subarray(0, 40), false, true, true);
    buf.fill(0xee);

    const bBatch = b.take().bufs;
    assert.equal(bBatch.length, 1);
    assert.deepEqual(
      parseFrames(bBatch[0]!).frames.map((f) => f.payload),
      [forB],
    );
    const expected = a.bytes;
    const wire = Buffer.concat(a.take().bufs);
    assert.equal(wire.length, expected);
    const { frames, rest } = parseFrames(wire);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.rsv, f.payload.toString('hex')]),
      [
        [2, true, 0, want[0]!.toString('hex')],
        [2, true, 0, want[1]!.toString('hex')],
        [2, true, 0, want[2]!.toString('hex')],
        [9, true, 0, Buffer.from('p').toString('hex')],
        [1, false, 4, want[3]!.toString('hex')],
      ],
    );
  });

  it('frames built one after the other by one queue are taken as one buffer, no join', () => {
    const q = new WriteQueue();
    const buf = Buffer.alloc(1000);
    for (let i = 1; i <= 16; i++) q.frame(2, buf.fill(i), true, false, true);
    const bufs = q.take().bufs;
    assert.equal(bufs.length, 1);
    assert.deepEqual(
      parseFrames(bufs[0]!).frames.map((f) => f.payload[999]),
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
  });
});

describe('write queue: batches of prepared frames shared by many queues', () => {
  /** A whole unmasked frame as a prepared-frame caller queues it (header and payload in one Buffer). */
  const prepared = (n: number, seed: number): Buffer => {
    const q = new WriteQueue();
    q.frame(2, fill(n, seed), true);
    return q.take().bufs[0]!;
  };

  it('queues holding the same Buffers in the same order in one turn get one joined Buffer; others their own bytes', () => {
    const frames = [prepared(1000, 1), prepared(10, 2), prepared(3000, 3)];
    const expected = Buffer.concat(frames);
    const batches = [1, 2, 3].map(() => {
      const q = new WriteQueue();
      for (const f of frames) {
        q.raw(f);
        q.wait(noopWaiter);
      }
      const { bufs, waiters } = q.take();
      assert.equal(waiters.length, 0, 'nobody waits for these frames: no waiter kept');
      assert.equal(bufs.length, 1);
      return bufs[0]!;
    });
    for (const b of batches) assert.ok(b.equals(expected));
    assert.equal(batches[1], batches[0], 'the second queue shares the first one’s joined Buffer (no copy)');
    assert.equal(batches[2], batches[0]);

    // The same Buffers in another order, or one Buffer more, or a copy of one: bytes of their own.
    const reordered = new WriteQueue();
    for (const f of [frames[1]!, frames[0]!, frames[2]!]) reordered.raw(f);
    const r = Buffer.concat(reordered.take().bufs);
    assert.ok(r.equals(Buffer.concat([frames[1]!, frames[0]!, frames[2]!])));
    const copied = new WriteQueue();
    const copy = Buffer.from(frames[2]!);
    copy[copy.length - 1] ^= 0xff;
    for (const f of [frames[0]!, frames[1]!, copy]) copied.raw(f);
    const c = Buffer.concat(copied.take().bufs);
    assert.ok(c.equals(Buffer.concat([frames[0]!, frames[1]!, copy])));
    assert.ok(!c.equals(batches[0]!), 'a Buffer with other bytes is not taken for the shared one');
  });

  it('a frame written with a header among prepared ones, and a batch over 64 KiB, keep their bytes and order', () => {
    const frames = [prepared(40_000, 4), prepared(30_000, 5), prepared(20, 6)];
    const own = fill(500, 7);
    const outs = [0, 1].map((k) => {
      const q = new WriteQueue();
      q.raw(frames[0]!);
      if (k === 1) q.frame(1, Buffer.from('between'), true);
      q.raw(frames[1]!);
      q.raw(frames[2]!);
      if (k === 1) q.frame(2, own, true);
      const expected = q.bytes;
      const wire = Buffer.concat(q.take().bufs);
      assert.equal(wire.length, expected);
      return wire;
    });
    assert.ok(outs[0]!.equals(Buffer.concat(frames)));
    const { frames: parsed, rest } = parseFrames(outs[1]!);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      parsed.map((f) => [f.opcode, f.payload.length]),
      [
        [2, 40_000],
        [1, 7],
        [2, 30_000],
        [2, 20],
        [2, 500],
      ],
    );
    assert.ok(parsed[4]!.payload.equals(own));
  });
  it('a batch over 64 KiB passes prepared frames as they are, its own small frames joined with their headers', () => {
    const frames = Array.from({ length: 20 }, (_, i) => prepared(4000, 10 + i));
    const tiny = prepared(20, 30);
    const q = new WriteQueue();
    for (const f of frames) q.raw(f);
    q.raw(tiny);
    q.frame(8, Buffer.from([0x03, 0xf0, 0x73, 0x6c, 0x6f, 0x77]), true); // a close frame (1008 "slow") behind them
    const expected = q.bytes;
    const { bufs } = q.take();
    for (const f of frames) assert.ok(bufs.includes(f), 'a prepared frame goes as it is, not copied');
    assert.equal(bufs.length, frames.length + 1, 'the tiny frame and the close frame are one joined run');
    const wire = Buffer.concat(bufs);
    assert.equal(wire.length, expected);
    const { frames: parsed, rest } = parseFrames(wire);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      parsed.map((f) => [f.opcode, f.payload.length]),
      [...frames.map(() => [2, 4000]), [2, 20], [8, 6]],
    );
    assert.ok(wire.subarray(0, expected - 8).equals(Buffer.concat([...frames, tiny])));
  });
});
