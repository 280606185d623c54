/**
 * The receiver's one-step path for whole messages (a data frame with FIN, header and payload in one
 * chunk): it must report exactly what the general path reports, byte for byte and error for error.
 * Every case is fed twice, as one chunk (the one-step path) and cut inside each frame's header (the
 * general path), and the two event lists must be equal; the expected events are asserted too, so
 * that both paths agreeing on something wrong fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Receiver } from '../../src/proto/receiver.js';
import { frame, text, binary, cont, ping, closeFrame } from '../support/frames.js';

interface Ev {
  kind: string;
  data?: string;
  fin?: boolean;
  binary?: boolean;
  code?: number | string;
  reason?: string;
  detail?: string;
}
interface Opts {
  readMessageMax?: number;
  allowRsv1?: boolean;
  validateUtf8?: boolean;
}

function collect(role: 'server' | 'client', opts: Opts = {}) {
  const events: Ev[] = [];
  const r = new Receiver(
    {
      role,
      readMessageMax: opts.readMessageMax ?? 1 << 24,
      maxFragments: 1000,
      allowRsv1: opts.allowRsv1,
      validateUtf8: opts.validateUtf8,
    },
    {
      onMessageData: (d, fin, bin) => events.push({ kind: 'data', data: d.toString('hex'), fin, binary: bin }),
      onPing: (p) => events.push({ kind: 'ping', data: p.toString('hex') }),
      onPong: (p) => events.push({ kind: 'pong', data: p.toString('hex') }),
      onCloseFrame: (code, reason) => events.push({ kind: 'close', code, reason }),
      onFail: (e) => events.push({ kind: 'fail', code: e.code, detail: e.message }),
    },
  );
  return { r, events };
}

function feedWhole(role: 'server' | 'client', frames: Buffer[], opts?: Opts): Ev[] {
  const { r, events } = collect(role, opts);
  r.receive(Buffer.concat(frames)); // a copy: payloads are unmasked in place
  return events;
}

/**
 * The general path on the same frames: each frame fed as its first byte, the rest of its header,
 * then its payload, so that no chunk holds a whole frame and each payload still arrives in one piece.
 */
function feedGeneral(role: 'server' | 'client', frames: Buffer[], opts?: Opts): Ev[] {
  const { r, events } = collect(role, opts);
  for (const f of frames) {
    const len7 = f[1]! & 0x7f;
    const head = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (f[1]! & 0x80 ? 4 : 0);
    r.receive(Buffer.from(f.subarray(0, 1)));
    r.receive(Buffer.from(f.subarray(1, head)));
    if (f.length > head) r.receive(Buffer.from(f.subarray(head)));
  }
  return events;
}

/**
 * The events of the frames in one chunk, after checking that the general path reports the same
 * (failures' details included); returned without the details.
 */
function events(role: 'server' | 'client', frames: Buffer[], opts?: Opts): Ev[] {
  const whole = feedWhole(role, frames, opts);
  assert.deepEqual(whole, feedGeneral(role, frames, opts));
  return whole.map((e) => (e.kind === 'fail' ? { kind: 'fail', code: e.code } : e));
}

const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');

describe('Receiver: whole messages in one chunk', () => {
  it('text and binary messages of every length form, several in one chunk, in order', () => {
    const frames: Buffer[] = [];
    const expected: Ev[] = [];
    for (const n of [0, 1, 125, 126, 1024, 65535]) {
      const t = 'é'.repeat(Math.floor(n / 2)) + 'a'.repeat(n % 2);
      const b = Buffer.alloc(n, n & 0xff);
      frames.push(text(t), binary(b));
      expected.push({ kind: 'data', data: hex(t), fin: true, binary: false });
      expected.push({ kind: 'data', data: hex(b), fin: true, binary: true });
    }
    assert.deepEqual(events('server', frames), expected);
  });

  it('the client role: unmasked frames', () => {
    const frames = [text('hi', { mask: false }), binary(Buffer.alloc(300, 7), { mask: false })];
    assert.deepEqual(events('client', frames), [
      { kind: 'data', data: hex('hi'), fin: true, binary: false },
      { kind: 'data', data: hex(Buffer.alloc(300, 7)), fin: true, binary: true },
    ]);
  });

  it('whole messages around a fragmented one, control frames and a close', () => {
    const frames = [
      text('one'),
      text('fr', { fin: false }),
      ping('p'),
      cont('ag'),
      binary(Buffer.from([1, 2, 3])),
      closeFrame(1000, 'bye'),
      text('after the close is not read'),
    ];
    assert.deepEqual(events('server', frames), [
      { kind: 'data', data: hex('one'), fin: true, binary: false },
      { kind: 'data', data: hex('fr'), fin: false, binary: false },
      { kind: 'ping', data: hex('p') },
      { kind: 'data', data: hex('ag'), fin: true, binary: false },
      { kind: 'data', data: hex(Buffer.from([1, 2, 3])), fin: true, binary: true },
      { kind: 'close', code: 1000, reason: 'bye' },
    ]);
  });

  it('a frame cut by the chunk end is read by the general path, in pieces', () => {
    const f = binary(Buffer.alloc(2000, 9));
    const { r, events: evs } = collect('server');
    r.receive(f.subarray(0, 1000));
    r.receive(f.subarray(1000));
    assert.deepEqual(evs, [
      { kind: 'data', data: hex(Buffer.alloc(1000 - 8, 9)), fin: false, binary: true },
      { kind: 'data', data: hex(Buffer.alloc(2000 - 992, 9)), fin: true, binary: true },
    ]);
  });

  const violations: [string, 'server' | 'client', Buffer, string, Opts?][] = [
    ['invalid UTF-8', 'server', text(Buffer.from([0x61, 0xff, 0x62])), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ['text that ends inside a character', 'server', text(Buffer.from([0x61, 0xc3])), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ['an overlong encoding', 'server', text(Buffer.from([0xc0, 0x80])), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ['a surrogate', 'server', text(Buffer.from([0xed, 0xa0, 0x80])), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ['a 16-bit length under 126', 'server', text('x', { lengthForm: 16 }), 'ERR_WS_BAD_SIZE'],
    ['a 64-bit length under 65536', 'server', text('x', { lengthForm: 64 }), 'ERR_WS_BAD_SIZE'],
    // The limits themselves: 125 fits the 7-bit form, 65535 the 16-bit one.
    ['a 16-bit length of 125', 'server', text('x'.repeat(125), { lengthForm: 16 }), 'ERR_WS_BAD_SIZE'],
    ['a 64-bit length of 65535', 'server', binary(Buffer.alloc(65535), { lengthForm: 64 }), 'ERR_WS_BAD_SIZE'],
    ['RSV1 without permessage-deflate', 'server', text('x', { rsv: 4 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ['RSV2', 'server', binary(Buffer.from([1]), { rsv: 2 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ['RSV3', 'server', binary(Buffer.from([1]), { rsv: 1 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ['an unmasked frame to a server', 'server', text('x', { mask: false }), 'ERR_WS_BAD_UNMASKED_FRAME'],
    ['a masked frame to a client', 'client', text('x'), 'ERR_WS_BAD_MASKED_FRAME'],
    [
      'a message over readMessageMax',
      'server',
      binary(Buffer.alloc(11)),
      'ERR_WS_MESSAGE_TOO_BIG',
      { readMessageMax: 10 },
    ],
    ['a continuation with no message', 'server', cont('x'), 'ERR_WS_BAD_CONTINUATION'],
    ['a reserved opcode', 'server', frame({ opcode: 3, payload: 'x' }), 'ERR_WS_BAD_OPCODE'],
  ];
  for (const [what, role, bytes, code, opts] of violations) {
    it(`fails ${what} with ${code}, and reads nothing after it`, () => {
      const after = role === 'server' ? text('ok') : text('ok', { mask: false });
      assert.deepEqual(events(role, [bytes, after], opts), [{ kind: 'fail', code }]);
    });
  }

  it('with validateUtf8: false, text is handed out unchecked', () => {
    const bad = Buffer.from([0x61, 0xff, 0xc3]);
    assert.deepEqual(events('server', [text(bad), text('ok')], { validateUtf8: false }), [
      { kind: 'data', data: hex(bad), fin: true, binary: false },
      { kind: 'data', data: hex('ok'), fin: true, binary: false },
    ]);
  });

  it('a message of exactly readMessageMax bytes is read', () => {
    assert.deepEqual(events('server', [binary(Buffer.alloc(10, 1))], { readMessageMax: 10 }), [
      { kind: 'data', data: hex(Buffer.alloc(10, 1)), fin: true, binary: true },
    ]);
  });

  it('a new data message while a fragmented one is open fails', () => {
    assert.deepEqual(events('server', [text('a', { fin: false }), text('b')]), [
      { kind: 'data', data: hex('a'), fin: false, binary: false },
      { kind: 'fail', code: 'ERR_WS_BAD_DATA_FRAME' },
    ]);
  });

  it('a failure carries the detail the general path gives', () => {
    const frames = [text(Buffer.from([0x61, 0xe2, 0x82]))];
    const whole = feedWhole('server', frames);
    assert.deepEqual(whole, feedGeneral('server', frames));
    assert.equal(whole.length, 1);
    assert.match(whole[0]!.detail!, /text ends inside a character/);
  });
});

describe('Receiver: whole messages, random frames (property)', () => {
  const seed = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
  console.log(`fast-check seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const anyFrame = fc.record({
    opcode: fc.constantFrom(0, 1, 2, 3, 8, 9, 10),
    fin: fc.boolean(),
    rsv: fc.constantFrom(0, 0, 0, 4, 2),
    mask: fc.oneof(fc.constant(false), fc.uint8Array({ minLength: 4, maxLength: 4 })),
    payload: fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => Buffer.from(s)),
      fc.uint8Array({ maxLength: 300 }),
      fc.constant(Buffer.from([0xe2, 0x82])),
    ),
  });
  it('one chunk and the general path report the same events, both roles', () => {
    fc.assert(
      fc.property(
        fc.array(anyFrame, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.boolean(),
        (fs, server, check) => {
          const frames = fs.map((f) =>
            frame({ ...f, payload: f.opcode >= 8 ? f.payload.subarray(0, 125) : f.payload }),
          );
          const role = server ? 'server' : 'client';
          const opts = { readMessageMax: 200, allowRsv1: false, validateUtf8: check };
          assert.deepEqual(feedWhole(role, frames, opts), feedGeneral(role, frames, opts));
        },
      ),
      { seed, numRuns: 2000 },
    );
  });
});
