/**
 * Property tests of the sans-I/O core (fast-check): valid frame streams, cut into random chunks,
 * decode to the messages that were encoded; random and mutated streams never make it throw, and
 * it fails only with documented codes. Every random value (payloads, cuts, mask keys, chunk sizes)
 * comes from fast-check's generator, seeded by FUZZ_SEED or the clock; the seed is printed, and a
 * failure reports the seed and the path of the shrunk case, so `FUZZ_SEED=<seed>` replays it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Receiver } from '../../src/proto/receiver.js';
import { WebSocketError, errorCodes } from '../../src/errors.js';
import { frame } from '../support/frames.js';

const seed = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
console.log(`fast-check seed ${seed} (replay with FUZZ_SEED=${seed})`);
const params = (numRuns: number): fc.Parameters<unknown> => ({ seed, numRuns });

/** At most 6 data frames (5 cuts) and 2 pings per message: one mask key each. */
const MAX_FRAMES = 8;

interface Msg {
  binary: boolean;
  payload: Buffer;
  cuts: number[];
  pings: number;
  /** The mask key of each frame, in order (a client's frames are masked). */
  keys: Uint8Array[];
}

const message = fc
  .record({
    binary: fc.boolean(),
    text: fc.string({ unit: 'grapheme', maxLength: 300 }),
    bytes: fc.uint8Array({ maxLength: 300 }),
    cuts: fc.array(fc.nat({ max: 300 }), { maxLength: 5 }),
    pings: fc.nat({ max: 2 }),
    keys: fc.array(fc.uint8Array({ minLength: 4, maxLength: 4 }), { minLength: MAX_FRAMES, maxLength: MAX_FRAMES }),
  })
  .map(
    ({ binary, text, bytes, cuts, pings, keys }): Msg => ({
      binary,
      payload: binary ? Buffer.from(bytes) : Buffer.from(text, 'utf8'),
      cuts: [...new Set(cuts)].sort((a, b) => a - b),
      pings,
      keys,
    }),
  );

/** Encodes a message as fragments cut at `cuts`, with pings (payload `p<i>`) between fragments, masked with `keys`. */
function encode(m: Msg): Buffer[] {
  const bounds = [0, ...m.cuts.filter((c) => c > 0 && c < m.payload.length), m.payload.length];
  const out: Buffer[] = [];
  let k = 0;
  for (let i = 0; i + 1 < bounds.length || i === 0; i++) {
    const part = m.payload.subarray(bounds[i], bounds[i + 1] ?? m.payload.length);
    const last = i + 2 >= bounds.length;
    out.push(frame({ opcode: i === 0 ? (m.binary ? 2 : 1) : 0, payload: part, fin: last, mask: m.keys[k++]! }));
    if (!last && i < m.pings) out.push(frame({ opcode: 9, payload: `p${i}`, mask: m.keys[k++]! }));
    if (last) break;
  }
  return out;
}

/** The pings `encode` puts between the fragments of `m`, in order. */
function pingsOf(m: Msg): string[] {
  const fragments = 1 + m.cuts.filter((c) => c > 0 && c < m.payload.length).length;
  return Array.from({ length: Math.min(m.pings, fragments - 1) }, (_, i) => `p${i}`);
}

function split(buf: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  let i = 0;
  while (off < buf.length) {
    const n = Math.max(1, sizes.length ? sizes[i++ % sizes.length]! : buf.length);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

describe('Receiver properties', () => {
  it('valid streams in random chunks decode to the encoded messages, and the pings between fragments are seen', () => {
    let pingsSeen = 0;
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 10 }),
        (msgs, sizes) => {
          const got: { binary: boolean; payload: Buffer }[] = [];
          let parts: Buffer[] = [];
          const pings: string[] = [];
          const r = new Receiver(
            { role: 'server', readMessageMax: 1 << 20, maxFragments: 100 },
            {
              onMessageData: (d, fin, binary) => {
                parts.push(Buffer.from(d));
                if (fin) {
                  got.push({ binary, payload: Buffer.concat(parts) });
                  parts = [];
                }
              },
              onPing: (p) => {
                pings.push(Buffer.from(p).toString());
              },
              onPong: () => {},
              onCloseFrame: () => {},
              onFail: (e) => {
                throw new Error(`unexpected failure ${e.code}`);
              },
            },
          );
          const wire = Buffer.concat(msgs.flatMap(encode));
          for (const c of split(wire, sizes)) r.receive(Buffer.from(c));
          assert.deepEqual(
            got.map((m) => [m.binary, m.payload.toString('hex')]),
            msgs.map((m) => [m.binary, m.payload.toString('hex')]),
          );
          assert.deepEqual(pings, msgs.flatMap(pingsOf), 'every ping between fragments, in order');
          pingsSeen += pings.length;
        },
      ),
      params(300),
    );
    assert.ok(pingsSeen > 0, 'the runs included pings');
  });

  const codes = new Set<string>(errorCodes);
  const arbitraryStream = fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
    fc
      .tuple(
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      )
      .map(([msgs, flips]) => {
        const wire = Buffer.concat(msgs.flatMap(encode));
        for (const [at, v] of flips) if (wire.length) wire[at % wire.length] = v;
        return wire;
      }),
  );

  for (const role of ['server', 'client'] as const) {
    it(`random and mutated streams never throw and fail only with documented codes (${role})`, () => {
      fc.assert(
        fc.property(arbitraryStream, fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 6 }), (wire, sizes) => {
          let fails = 0;
          const r = new Receiver(
            { role, readMessageMax: 1000, maxFragments: 10 },
            {
              onMessageData: () => {},
              onPing: () => {},
              onPong: () => {},
              onCloseFrame: () => {},
              onFail: (e) => {
                fails++;
                assert.ok(
                  e instanceof WebSocketError && codes.has(e.code) && e.condition === 'protocol_violation',
                  String(e),
                );
                assert.ok(e.closeCode >= 1002 && e.closeCode <= 1009);
              },
            },
          );
          for (const c of split(wire, sizes)) r.receive(c);
          assert.ok(fails <= 1);
        }),
        params(1000),
      );
    });
  }
});
