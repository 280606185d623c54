/** The sans-I/O read side: hex vectors from RFC 6455 §5.7, every violation's code, chunking. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Receiver, type ReceiverHandler } from '../../src/proto/receiver.js';
import type { WebSocketError } from '../../src/errors.js';
import { frame, text, binary, cont, ping, pong, closeFrame } from '../support/frames.js';

interface Event {
  kind: string;
  data?: string;
  fin?: boolean;
  binary?: boolean;
  code?: number | string;
  reason?: string;
}

export function collect(
  role: 'server' | 'client',
  opts: { readMessageMax?: number; maxFragments?: number; allowRsv1?: boolean } = {},
) {
  const events: Event[] = [];
  const handler: ReceiverHandler = {
    onMessageData: (d, fin, bin) => events.push({ kind: 'data', data: d.toString('hex'), fin, binary: bin }),
    onPing: (p) => events.push({ kind: 'ping', data: p.toString('hex') }),
    onPong: (p) => events.push({ kind: 'pong', data: p.toString('hex') }),
    onCloseFrame: (code, reason) => events.push({ kind: 'close', code, reason }),
    onFail: (e: WebSocketError) => events.push({ kind: 'fail', code: e.code }),
  };
  const r = new Receiver(
    {
      role,
      readMessageMax: opts.readMessageMax ?? 1 << 24,
      maxFragments: opts.maxFragments ?? 1000,
      allowRsv1: opts.allowRsv1,
    },
    handler,
  );
  return { r, events };
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const h = (s: string): string => Buffer.from(s).toString('hex');

describe('Receiver: RFC 6455 §5.7 examples', () => {
  it('a single-frame unmasked text message (client role)', () => {
    const { r, events } = collect('client');
    r.receive(hex('81 05 48 65 6c 6c 6f'));
    assert.deepEqual(events, [{ kind: 'data', data: h('Hello'), fin: true, binary: false }]);
  });
  it('a single-frame masked text message (server role)', () => {
    const { r, events } = collect('server');
    r.receive(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    assert.deepEqual(events, [{ kind: 'data', data: h('Hello'), fin: true, binary: false }]);
  });
  it('a fragmented unmasked text message', () => {
    const { r, events } = collect('client');
    r.receive(hex('01 03 48 65 6c'));
    r.receive(hex('80 02 6c 6f'));
    assert.deepEqual(events, [
      { kind: 'data', data: h('Hel'), fin: false, binary: false },
      { kind: 'data', data: h('lo'), fin: true, binary: false },
    ]);
  });
  it('unmasked ping and masked pong', () => {
    const c = collect('client');
    c.r.receive(hex('89 05 48 65 6c 6c 6f'));
    assert.deepEqual(c.events, [{ kind: 'ping', data: h('Hello') }]);
    const s = collect('server');
    s.r.receive(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'));
    assert.deepEqual(s.events, [{ kind: 'pong', data: h('Hello') }]);
  });
  it('256 bytes and 64 KiB binary messages with 16- and 64-bit lengths', () => {
    const { r, events } = collect('client');
    r.receive(Buffer.concat([hex('82 7e 01 00'), Buffer.alloc(256, 1)]));
    r.receive(Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), Buffer.alloc(65536, 2)]));
    assert.equal(events.length, 2);
    assert.equal(events[0]!.data!.length, 512);
    assert.equal(events[1]!.data!.length, 131072);
  });
});

describe('Receiver: chunking', () => {
  it('gives the same messages whatever the chunk size, with headers cut anywhere', () => {
    const stream = Buffer.concat([
      text('héllo'),
      binary(Buffer.alloc(300, 7)),
      text('a', { fin: false }),
      ping('p'),
      cont('b', { fin: false }),
      cont('c'),
      binary(Buffer.alloc(70000, 9)),
      closeFrame(1000, 'bye'),
    ]);
    const whole = collect('server');
    whole.r.receive(Buffer.from(stream));
    const join = (ev: Event[]) => {
      const out: string[] = [];
      let cur = '';
      for (const e of ev) {
        if (e.kind === 'data') {
          cur += e.data;
          if (e.fin) {
            out.push(`${e.binary}:${cur}`);
            cur = '';
          }
        } else out.push(JSON.stringify(e));
      }
      return out;
    };
    for (const size of [1, 2, 3, 5, 13, 64, 1000]) {
      const c = collect('server');
      const copy = Buffer.from(stream);
      for (let i = 0; i < copy.length; i += size) c.r.receive(copy.subarray(i, i + size));
      assert.deepEqual(join(c.events), join(whole.events), `chunk size ${size}`);
    }
    assert.deepEqual(whole.events.at(-1), { kind: 'close', code: 1000, reason: 'bye' });
  });
  it('an empty message is one empty piece with fin', () => {
    const { r, events } = collect('server');
    r.receive(text(''));
    r.receive(Buffer.concat([binary(Buffer.alloc(0), { fin: false }), cont(Buffer.alloc(0))]));
    assert.deepEqual(events, [
      { kind: 'data', data: '', fin: true, binary: false },
      { kind: 'data', data: '', fin: true, binary: true },
    ]);
  });
  it('ignores everything after a close frame', () => {
    const { r, events } = collect('server');
    r.receive(Buffer.concat([closeFrame(1001), text('after'), Buffer.from([0xff, 0xff])]));
    assert.deepEqual(events, [{ kind: 'close', code: 1001, reason: '' }]);
    assert.equal(r.active, false);
  });
  it('a close frame without payload is code 1005', () => {
    const { r, events } = collect('server');
    r.receive(closeFrame());
    assert.deepEqual(events, [{ kind: 'close', code: 1005, reason: '' }]);
  });
});

describe('Receiver: each violation fails once with its code, and nothing is read after it', () => {
  const big = Buffer.alloc(126, 1);
  const cases: [string, 'server' | 'client', Buffer, string][] = [
    ['RSV1 without extension', 'server', text('x', { rsv: 4 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ['RSV2', 'server', text('x', { rsv: 2 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ['RSV3', 'server', text('x', { rsv: 1 }), 'ERR_WS_BAD_RESERVED_BITS'],
    ['opcode 3', 'server', frame({ opcode: 3 }), 'ERR_WS_BAD_OPCODE'],
    ['opcode 7', 'server', frame({ opcode: 7 }), 'ERR_WS_BAD_OPCODE'],
    ['opcode 0xB', 'server', frame({ opcode: 0xb }), 'ERR_WS_BAD_OPCODE'],
    ['opcode 0xF', 'server', frame({ opcode: 0xf }), 'ERR_WS_BAD_OPCODE'],
    ['unmasked to a server', 'server', text('x', { mask: false }), 'ERR_WS_BAD_UNMASKED_FRAME'],
    ['masked to a client', 'client', text('x', { mask: true }), 'ERR_WS_BAD_MASKED_FRAME'],
    ['fragmented ping', 'server', ping('x', { fin: false }), 'ERR_WS_BAD_CONTROL_FRAGMENT'],
    ['ping of 126 bytes', 'server', ping(big), 'ERR_WS_BAD_CONTROL_SIZE'],
    ['pong of 126 bytes (16-bit length)', 'server', pong(big), 'ERR_WS_BAD_CONTROL_SIZE'],
    ['continuation without a message', 'server', cont('x'), 'ERR_WS_BAD_CONTINUATION'],
    [
      'new message inside a fragmented one',
      'server',
      Buffer.concat([text('a', { fin: false }), text('b')]),
      'ERR_WS_BAD_DATA_FRAME',
    ],
    ['length 5 in the 16-bit form', 'server', text('hello', { lengthForm: 16 }), 'ERR_WS_BAD_SIZE'],
    ['length 300 in the 64-bit form', 'server', binary(Buffer.alloc(300), { lengthForm: 64 }), 'ERR_WS_BAD_SIZE'],
    ['64-bit length with the top bit', 'client', hex('82 7f 80 00 00 00 00 00 00 01'), 'ERR_WS_BAD_SIZE'],
    ['invalid UTF-8 in text', 'server', text(Buffer.from([0xc0, 0xaf])), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ['text ending inside a character', 'server', text(Buffer.from([0x61, 0xe2, 0x82])), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ['close payload of 1 byte', 'server', frame({ opcode: 8, payload: Buffer.from([3]) }), 'ERR_WS_BAD_CLOSE_SIZE'],
    ['close reason not UTF-8', 'server', closeFrame(1000, Buffer.from([0xff])), 'ERR_WS_BAD_CLOSE_PAYLOAD'],
  ];
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    cases.push([`close code ${code}`, 'server', closeFrame(code), 'ERR_WS_BAD_CLOSE_CODE']);
  }
  for (const [name, role, bytes, code] of cases) {
    it(`${name} → ${code}`, () => {
      const { r, events } = collect(role);
      r.receive(Buffer.concat([bytes, text('after', { mask: role === 'server' })]));
      const fails = events.filter((e) => e.kind === 'fail');
      assert.deepEqual(fails, [{ kind: 'fail', code }]);
      assert.equal(events.at(-1)!.kind, 'fail', 'no event after the failure');
      assert.equal(r.active, false);
    });
  }
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    it(`close code ${code} is valid`, () => {
      const { r, events } = collect('server');
      r.receive(closeFrame(code, 'ok'));
      assert.deepEqual(events, [{ kind: 'close', code, reason: 'ok' }]);
    });
  }
  it('a message over readMessageMax fails at its header with ERR_WS_MESSAGE_TOO_BIG, before the payload', () => {
    const { r, events } = collect('server', { readMessageMax: 100 });
    r.receive(text('a'.repeat(101)).subarray(0, 8));
    assert.deepEqual(events, [{ kind: 'fail', code: 'ERR_WS_MESSAGE_TOO_BIG' }]);
  });
  it('a length from 2^53 to 2^63 − 1 is legal and over every limit: ERR_WS_MESSAGE_TOO_BIG, also with the largest limit; on a ping, ERR_WS_BAD_CONTROL_SIZE; each names it', () => {
    const failures: string[] = [];
    const onFail = (e: WebSocketError) => failures.push(`${e.code}: ${e.message}`);
    const ignore = () => {};
    const handler: ReceiverHandler = {
      onMessageData: ignore,
      onPing: ignore,
      onPong: ignore,
      onCloseFrame: ignore,
      onFail,
    };
    for (const header of [
      '82 7f 7f ff ff ff ff ff ff ff',
      '82 7f 00 20 00 00 00 00 00 00',
      '89 7f 00 20 00 00 00 00 00 00',
    ]) {
      const r = new Receiver({ role: 'client', readMessageMax: Number.MAX_SAFE_INTEGER, maxFragments: 1000 }, handler);
      r.receive(hex(header));
    }
    assert.deepEqual(failures, [
      'ERR_WS_MESSAGE_TOO_BIG: message too big: a frame length of 2^53 or more',
      'ERR_WS_MESSAGE_TOO_BIG: message too big: a frame length of 2^53 or more',
      'ERR_WS_BAD_CONTROL_SIZE: control frame payload over 125 bytes: a frame length of 2^53 or more',
    ]);
  });
  it('a fragmented message over readMessageMax fails at the fragment that crosses it', () => {
    const { r, events } = collect('server', { readMessageMax: 100 });
    r.receive(Buffer.concat([binary(Buffer.alloc(60), { fin: false }), cont(Buffer.alloc(60))]));
    assert.deepEqual(events.at(-1), { kind: 'fail', code: 'ERR_WS_MESSAGE_TOO_BIG' });
  });
  it('readMessageMax counts each fragmented message afresh', () => {
    const { r, events } = collect('server', { readMessageMax: 10 });
    const message = (): Buffer => Buffer.concat([binary(Buffer.alloc(6, 1), { fin: false }), cont(Buffer.alloc(4, 2))]);
    r.receive(Buffer.concat([message(), message()]));
    const one = [
      { kind: 'data', data: '01'.repeat(6), fin: false, binary: true },
      { kind: 'data', data: '02'.repeat(4), fin: true, binary: true },
    ];
    assert.deepEqual(events, [...one, ...one]);
  });
  it('more fragments than maxFragments → ERR_WS_TOO_MANY_FRAGMENTS, also when they are empty', () => {
    const { r, events } = collect('server', { maxFragments: 10 });
    const frames = [binary(Buffer.alloc(0), { fin: false })];
    for (let i = 0; i < 20; i++) frames.push(cont(Buffer.alloc(0), { fin: false }));
    r.receive(Buffer.concat(frames));
    assert.deepEqual(events, [{ kind: 'fail', code: 'ERR_WS_TOO_MANY_FRAGMENTS' }]);
  });
  it('a message of exactly maxFragments frames is read, each message counted afresh; one more frame fails', () => {
    const { r, events } = collect('server', { maxFragments: 3 });
    const message = (n: number): Buffer[] => [
      binary(Buffer.from([1]), { fin: false }),
      ...Array.from({ length: n - 2 }, () => cont(Buffer.from([2]), { fin: false })),
      cont(Buffer.from([3])),
    ];
    r.receive(Buffer.concat([...message(3), ...message(3)]));
    const three = [
      { kind: 'data', data: '01', fin: false, binary: true },
      { kind: 'data', data: '02', fin: false, binary: true },
      { kind: 'data', data: '03', fin: true, binary: true },
    ];
    assert.deepEqual(events, [...three, ...three]);
    r.receive(Buffer.concat(message(4)));
    assert.deepEqual(events.slice(6), [
      { kind: 'data', data: '01', fin: false, binary: true },
      { kind: 'data', data: '02', fin: false, binary: true },
      { kind: 'data', data: '02', fin: false, binary: true },
      { kind: 'fail', code: 'ERR_WS_TOO_MANY_FRAGMENTS' },
    ]);
  });
  it('invalid UTF-8 fails fast: mid-fragment, before the frame or message ends', () => {
    const { r, events } = collect('server');
    // a valid start, then F4 90 (above U+10FFFF): no continuation can make it valid
    const f = text(Buffer.from([0x61, 0x62, 0xf4, 0x90, 0x80, 0x80, 0x63, 0x64]), { fin: false });
    r.receive(f.subarray(0, 6 + 4)); // header (2 + 4 mask) and 4 payload bytes: 'a' 'b' F4 90
    assert.deepEqual(events, [{ kind: 'fail', code: 'ERR_WS_BAD_FRAME_PAYLOAD' }]);
  });
  it('UTF-8 split across fragments and chunks is valid', () => {
    const { r, events } = collect('server');
    const bytes = Buffer.from('κόσμε 𝄞', 'utf8');
    const frames = Buffer.concat([
      text(bytes.subarray(0, 3), { fin: false }),
      cont(bytes.subarray(3, 10), { fin: false }),
      cont(bytes.subarray(10)),
    ]);
    for (const b of frames) r.receive(Buffer.from([b]));
    assert.equal(events.filter((e) => e.kind === 'fail').length, 0);
    assert.equal(Buffer.from(events.map((e) => e.data).join(''), 'hex').toString(), 'κόσμε 𝄞');
  });
});
