/**
 * The receiver's gathered frames (`assembleFrame`): a data frame that runs past its chunk, gathered into one
 * buffer as it arrives (unmasked as it is copied) for a handler that asks, and handed out whole; what was
 * gathered goes out as a piece when the handler lets go of it (`releaseFrame`) or when its text turns bad.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Receiver, type ReceiverHandler } from '../../src/proto/receiver.js';
import { setNativeUnmask } from '../../src/proto/mask.js';
import { loadNativeHelper } from '../../src/stream/native.js';
import type { WebSocketError } from '../../src/errors.js';
import { binary, cont, text } from '../support/frames.js';
import { random } from '../support/random.js';

interface Piece {
  data: Buffer;
  fin: boolean;
  binary: boolean;
  own: boolean;
}

/** A receiver whose handler gathers frames while `gather` says so, and records what it hands out. */
function gathering(role: 'server' | 'client', gather: (length: number) => boolean = () => true) {
  const pieces: Piece[] = [];
  const failures: string[] = [];
  const asked: number[] = [];
  const handler: ReceiverHandler = {
    onMessageData: (data, fin, bin, _compressed, gathered) =>
      pieces.push({
        data: Buffer.from(data),
        fin,
        binary: bin,
        own: gathered !== undefined && data.buffer === gathered.buffer,
      }),
    assembleFrame: (length) => {
      asked.push(length);
      return gather(length);
    },
    onPing: () => {},
    onPong: () => {},
    onCloseFrame: () => {},
    onFail: (e: WebSocketError) => failures.push(e.code),
  };
  const r = new Receiver({ role, readMessageMax: 1 << 24, maxFragments: 1000 }, handler);
  return { r, pieces, failures, asked };
}

/** `bytes` cut at the given offsets, each piece received in turn. */
function receiveCut(r: Receiver, bytes: Buffer, cuts: number[]): void {
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    if (c > at) r.receive(bytes.subarray(at, c));
    at = Math.max(at, c);
  }
}

/** The first `n` wire bytes of a masked binary frame of `length` bytes (zero payload): its header and a first piece. */
function frameStart(length: number, n: number): Buffer {
  const key = [0x12, 0x34, 0x56, 0x78];
  const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, ...key]);
  header.writeUInt32BE(length, 6);
  return Buffer.concat([header, Buffer.alloc(n)]);
}

function payloadOf(n: number, seed: number): Buffer {
  const next = random(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
}

describe('Receiver: frames gathered for a handler that asks (assembleFrame)', () => {
  for (const native of [true, false]) {
    it(`a frame cut by chunks anywhere is handed out once, whole, unmasked, as its own memory (${native ? 'native helper' : 'JavaScript'})`, () => {
      if (!native) setNativeUnmask(null);
      try {
        const seed = 0x5eed31;
        console.log(`seed ${seed}`);
        const next = random(seed);
        for (const size of [130, 1023, 1024, 5000, 70000]) {
          const payload = payloadOf(size, seed + size);
          for (const role of ['server', 'client'] as const) {
            const wire = binary(payload, { mask: role === 'server' });
            for (let round = 0; round < 6; round++) {
              // A first cut inside the payload (so the frame runs past its first chunk), then up to three more.
              const header = wire.length - size;
              const cuts = [header + 1 + Math.floor(next() * (size - 1))];
              for (let k = 0; k < 3; k++) cuts.push(Math.floor(next() * wire.length));
              cuts.sort((a, b) => a - b);
              const { r, pieces, failures, asked } = gathering(role);
              receiveCut(r, wire, cuts);
              const where = `${role} size ${size} cuts ${cuts.join(',')}`;
              assert.deepEqual(failures, [], where);
              assert.deepEqual(asked, [size], where);
              assert.equal(pieces.length, 1, where);
              assert.ok(pieces[0]!.data.equals(payload), where);
              assert.deepEqual([pieces[0]!.fin, pieces[0]!.binary, pieces[0]!.own], [true, true, true], where);
            }
          }
        }
      } finally {
        loadNativeHelper();
      }
    });
  }

  it('a frame whole in its chunk, a fragment, and a frame the handler declines go piece by piece as views', () => {
    const payload = payloadOf(3000, 7);
    // whole in its chunk: nothing to gather, the handler is not asked
    const whole = gathering('server');
    whole.r.receive(binary(payload));
    assert.deepEqual(whole.asked, []);
    assert.deepEqual(
      whole.pieces.map((p) => [p.data.length, p.fin, p.own]),
      [[3000, true, false]],
    );
    // the frames of a fragmented message: pieces, never gathered
    const frag = gathering('server');
    const fragments = Buffer.concat([binary(payload, { fin: false }), cont(payload)]);
    receiveCut(frag.r, fragments, [1000, 4000]);
    assert.deepEqual(frag.asked, []);
    assert.ok(frag.pieces.every((p) => !p.own));
    assert.ok(Buffer.concat(frag.pieces.map((p) => p.data)).equals(Buffer.concat([payload, payload])));
    // declined: pieces as they come
    const declined = gathering('server', () => false);
    receiveCut(declined.r, binary(payload), [1000, 2000]);
    assert.deepEqual(declined.asked, [3000]);
    assert.deepEqual(
      declined.pieces.map((p) => [p.fin, p.own]),
      [
        [false, false],
        [false, false],
        [true, false],
      ],
    );
    assert.ok(Buffer.concat(declined.pieces.map((p) => p.data)).equals(payload));
  });

  it('releaseFrame: what was gathered goes out as one piece, the rest piece by piece, fin on the last', () => {
    const payload = payloadOf(9000, 11);
    const wire = binary(payload);
    const header = wire.length - payload.length;
    const { r, pieces } = gathering('server');
    receiveCut(r, wire.subarray(0, header + 4000), [header + 1500]);
    assert.equal(pieces.length, 0);
    r.releaseFrame();
    r.releaseFrame(); // nothing more to release
    assert.equal(pieces.length, 1);
    assert.ok(pieces[0]!.data.equals(payload.subarray(0, 4000)));
    assert.deepEqual([pieces[0]!.fin, pieces[0]!.own], [false, true]);
    receiveCut(r, wire.subarray(header + 4000), [3000]);
    assert.deepEqual(
      pieces.slice(1).map((p) => [p.data.length, p.fin, p.own]),
      [
        [3000, false, false],
        [2000, true, false],
      ],
    );
    assert.ok(Buffer.concat(pieces.map((p) => p.data)).equals(payload));
  });

  it('a gathered text frame whose later piece is not UTF-8: the valid part goes out first, then ERR_WS_BAD_FRAME_PAYLOAD', () => {
    const bytes = Buffer.concat([Buffer.from('é'.repeat(1000), 'utf8'), Buffer.from([0xf4, 0x90, 0x80, 0x80])]);
    const wire = text(bytes);
    const header = wire.length - bytes.length;
    const { r, pieces, failures } = gathering('server');
    receiveCut(r, wire, [header + 1200]);
    assert.deepEqual(failures, ['ERR_WS_BAD_FRAME_PAYLOAD']);
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]!.data.toString('utf8'), 'é'.repeat(600));
    assert.deepEqual([pieces[0]!.fin, pieces[0]!.binary, pieces[0]!.own], [false, false, true]);
  });

  it('frames being gathered reserve at most 64 MiB in all: past it a frame goes piece by piece; a release gives room back', () => {
    const start = frameStart(1 << 20, 1024); // a 1 MiB frame's header and its first KiB
    const receivers = [];
    for (let i = 0; i < 64; i++) {
      const g = gathering('server');
      g.r.receive(start);
      assert.deepEqual([g.asked, g.pieces.length], [[1 << 20], 0], `receiver ${i}`);
      receivers.push(g);
    }
    const over = gathering('server');
    over.r.receive(start);
    assert.deepEqual(over.asked, []);
    assert.deepEqual(
      over.pieces.map((p) => [p.data.length, p.fin, p.own]),
      [[1024, false, false]],
    );
    receivers[0]!.r.releaseFrame();
    const next = gathering('server');
    next.r.receive(start);
    assert.deepEqual([next.asked, next.pieces.length], [[1 << 20], 0]);
    // stop() gives its room back too
    for (const g of [...receivers.slice(1), next]) g.r.stop();
    const last = gathering('server');
    last.r.receive(start);
    assert.deepEqual(last.asked, [1 << 20]);
    last.r.stop();
  });

  it('valid text gathered across chunks cut inside characters is one whole piece', () => {
    const s = 'κόσμε 𝄞 '.repeat(300);
    const wire = text(s);
    const { r, pieces, failures } = gathering('server');
    receiveCut(r, wire, [9, 10, 11, 501, 1777]);
    assert.deepEqual(failures, []);
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]!.data.toString('utf8'), s);
    assert.deepEqual([pieces[0]!.fin, pieces[0]!.binary, pieces[0]!.own], [true, false, true]);
  });
});
