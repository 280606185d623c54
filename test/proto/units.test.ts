/** Small pure pieces of the core: masking, UTF-8, close payloads, frame headers, token lists, accept key, errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskInto, unmask, setNativeUnmask } from '../../src/proto/mask.js';
import { loadNativeHelper } from '../../src/stream/native.js';
import { Utf8Validator } from '../../src/proto/utf8.js';
import { closeReasonOf, encodeClosePayload, parseClosePayload } from '../../src/proto/close-payload.js';
import { frameHeaderSize, newFrameHeader, parseFrameHeader, writeFrameHeader } from '../../src/proto/frame.js';
import { hasToken, splitList } from '../../src/proto/tokens.js';
import { computeAccept } from '../../src/proto/handshake-server.js';
import { type ErrorCode, WebSocketError, describeError, errorCodes, shown } from '../../src/errors.js';

describe('mask', () => {
  const sizes = [0, 1, 3, 4, 31, 32, 33, 100, 257, 1024, 1031, 5000];
  function check(label: string): void {
    const backing = Buffer.alloc(5010);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 31) & 0xff;
    const key = [0x37, 0xfa, 0x21, 0x3d];
    for (const off of [0, 1, 2, 3, 5]) {
      for (const len of sizes) {
        for (let phase = 0; phase < 4; phase++) {
          const a = Buffer.from(backing);
          const p = unmask(a, off, off + len, 0x37fa213d, phase);
          const b = Buffer.from(backing);
          for (let i = 0; i < len; i++) b[off + i] = b[off + i]! ^ key[(phase + i) & 3]!;
          assert.ok(a.equals(b), `${label}: off ${off} len ${len} phase ${phase}`);
          assert.equal(p, (phase + len) & 3);
        }
      }
    }
  }
  it('the JavaScript word loop agrees with a byte loop at every offset, length and phase', () => {
    setNativeUnmask(null);
    try {
      check('js');
    } finally {
      loadNativeHelper();
    }
  });
  it('the optional native helper (bufferutil, a devDependency here) loads and agrees too', () => {
    assert.equal(loadNativeHelper(), true);
    check('native');
  });
  /** maskInto: `src` XORed from key byte `phase` into `dst` at `offset`, `src` and the rest of `dst` untouched. */
  function checkInto(label: string): void {
    const key = [0x37, 0xfa, 0x21, 0x3d];
    for (const len of [0, 1, 5, 33, 1023, 1024, 1031, 5000]) {
      const src = Buffer.alloc(len + 3);
      for (let i = 0; i < src.length; i++) src[i] = (i * 29 + 7) & 0xff;
      const before = Buffer.from(src);
      for (const from of [0, 1, 3]) {
        const piece = src.subarray(from, from + len);
        for (const offset of [0, 2, 5]) {
          for (let phase = 0; phase < 4; phase++) {
            const dst = Buffer.alloc(len + 8, 0xee);
            const p = maskInto(piece, dst, offset, 0x37fa213d, phase);
            const want = Buffer.alloc(len + 8, 0xee);
            for (let i = 0; i < len; i++) want[offset + i] = piece[i]! ^ key[(phase + i) & 3]!;
            const where = `${label}: len ${len} from ${from} offset ${offset} phase ${phase}`;
            assert.ok(dst.equals(want), where);
            assert.equal(p, (phase + len) & 3, where);
          }
        }
      }
      assert.ok(src.equals(before), `${label}: the source is untouched`);
    }
  }
  it('maskInto copies with the key from any phase into any offset, in JavaScript and with the native helper', () => {
    setNativeUnmask(null);
    try {
      checkInto('js');
    } finally {
      loadNativeHelper();
    }
    checkInto('native');
  });
});

describe('UTF-8 validator', () => {
  const valid = ['', 'a', 'héllo', 'κόσμε', '𝄞 music', '\u{10FFFF}', '\uD7FF\uE000', `${'x'.repeat(100)}€`];
  it('accepts valid text however it is split', () => {
    for (const s of valid) {
      const b = Buffer.from(s, 'utf8');
      for (let i = 0; i <= b.length; i++) {
        for (let j = i; j <= b.length; j++) {
          const v = new Utf8Validator();
          assert.ok(
            v.write(b.subarray(0, i)) && v.write(b.subarray(i, j)) && v.write(b.subarray(j)) && v.end(),
            `${s} split at ${i},${j}`,
          );
        }
      }
    }
  });
  const invalid: [number[], number][] = [
    // bytes, index of the first byte at which it can no longer be valid
    [[0xc0, 0x80], 0],
    [[0xc1, 0xbf], 0],
    [[0xe0, 0x80, 0x80], 1],
    [[0xed, 0xa0, 0x80], 1], // overlong, surrogate
    [[0xf4, 0x90, 0x80, 0x80], 1],
    [[0xf5, 0x80, 0x80, 0x80], 0],
    [[0xff], 0],
    [[0x80], 0],
    [
      [
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74,
        0x65, 0x64,
      ],
      12,
    ],
    [[0x61, 0xe2, 0x28, 0xa1], 2],
  ];
  it('rejects invalid text at the first byte that makes it invalid, fed byte by byte', () => {
    for (const [bytes, at] of invalid) {
      const v = new Utf8Validator();
      let failedAt = -1;
      for (let i = 0; i < bytes.length; i++) {
        if (!v.write(Uint8Array.of(bytes[i]!))) {
          failedAt = i;
          break;
        }
      }
      assert.equal(failedAt, at, `${Buffer.from(bytes).toString('hex')}`);
    }
  });
  it('rejects invalid text fed whole, and an incomplete end', () => {
    for (const [bytes] of invalid) assert.equal(new Utf8Validator().write(Uint8Array.from(bytes)), false);
    const v = new Utf8Validator();
    assert.equal(v.write(Uint8Array.of(0xe2, 0x82)), true);
    assert.equal(v.end(), false);
  });
});

describe('close payload', () => {
  it('encodes code and reason, and a view of a larger buffer as its own bytes only', () => {
    const backing = new Uint8Array([0xaa, 0x62, 0x79, 0x65, 0xbb]);
    const p = encodeClosePayload(1000, backing.subarray(1, 4));
    assert.deepEqual([...p], [0x03, 0xe8, 0x62, 0x79, 0x65]);
    const wide = new Uint16Array([0x6968]); // 2 bytes: 'h', 'i' little-endian
    assert.deepEqual([...encodeClosePayload(1001, wide)], [0x03, 0xe9, 0x68, 0x69]);
    assert.deepEqual(parseClosePayload(p), { code: 1000, reason: 'bye' });
  });
  it('refuses invalid codes, long reasons and a reason without a code', () => {
    assert.throws(() => encodeClosePayload(1005), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => encodeClosePayload(999), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => encodeClosePayload(1000, 'x'.repeat(124)), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => encodeClosePayload(undefined, 'x'), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.equal(encodeClosePayload(1000, 'x'.repeat(123)).length, 125);
    // a fraction in the valid range, and a reason given as bytes that are not UTF-8
    assert.throws(() => encodeClosePayload(1000.5), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => encodeClosePayload(1000, Buffer.from([0x61, 0xff])), {
      code: 'ERR_WS_INVALID_ARGUMENT',
      message: /not UTF-8/,
    });
  });
});

describe('frame header', () => {
  it('round-trips every length form, masked and not', () => {
    for (const len of [0, 125, 126, 127, 128, 65535, 65536, 2 ** 32 + 5]) {
      for (const key of [undefined, 0x01020304]) {
        const buf = Buffer.alloc(14);
        const n = writeFrameHeader(buf, 0, 2, true, false, len, key);
        assert.equal(n, frameHeaderSize(len, key !== undefined));
        const hdr = newFrameHeader();
        assert.equal(parseFrameHeader(buf, 0, n, hdr), n);
        assert.equal(hdr.length, len);
        assert.equal(hdr.masked, key !== undefined);
        if (key !== undefined) assert.equal(hdr.mask, key);
        assert.equal(parseFrameHeader(buf, 0, n - 1, hdr), 0, 'needs more');
      }
    }
  });
});

describe('token lists and the accept key', () => {
  it('splits lists with empty elements and white space', () => {
    assert.deepEqual(splitList(' a ,, b,\tc , '), ['a', 'b', 'c']);
    assert.deepEqual(splitList(['a, b', 'c']), ['a', 'b', 'c']);
    assert.equal(hasToken('keep-alive, UPGRADE', 'upgrade'), true);
    assert.equal(hasToken('upgrade2', 'upgrade'), false);
    assert.equal(hasToken('keep-alive, Upgrad', 'upgrade'), false);
  });
  it('computes the RFC 6455 §1.3 example', () => {
    assert.equal(computeAccept('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('errors', () => {
  it('every code has a condition and a close code; misuse carries the stack of the call, connection events none', () => {
    for (const code of errorCodes) {
      const e = new WebSocketError(code, 'detail');
      assert.equal(e.code, code);
      assert.equal(e.condition, describeError(code).condition);
      assert.equal(e.closeCode, describeError(code).closeCode);
      assert.match(e.message, /: detail$/);
      const frames = e.stack!.split('\n').filter((l) => l.trimStart().startsWith('at '));
      if (e.condition === 'local_misuse')
        assert.ok(
          frames.some((l) => l.includes('units.test')),
          `${code} points at the caller`,
        );
      else assert.deepEqual(frames, [], `${code} has no stack trace`);
    }
    assert.equal(Error.stackTraceLimit, 10, 'the global limit is left as it was');
    const cause = new Error('read ECONNRESET');
    assert.equal(new WebSocketError('ERR_WS_NEXT_LAYER', cause.message, { cause }).cause, cause);
  });

  it('a code outside the list is refused with ERR_WS_INVALID_ARGUMENT naming it and every valid code', () => {
    // From plain JavaScript or through a cast; 'toString' and '__proto__' are keys of every object.
    const bad: unknown[] = ['BOGUS', 'toString', '__proto__', 'err_ws_closed', undefined, 42, Symbol('x')];
    for (const code of bad) {
      for (const make of [() => new WebSocketError(code as ErrorCode), () => describeError(code as ErrorCode)]) {
        assert.throws(make, (e: unknown) => {
          assert.ok(e instanceof WebSocketError, String(e));
          assert.equal(e.code, 'ERR_WS_INVALID_ARGUMENT');
          assert.equal(e.condition, 'local_misuse');
          assert.ok(
            e.message.startsWith(`invalid argument: not an error code: ${shown(code)} (the codes: `),
            e.message,
          );
          for (const valid of errorCodes) assert.ok(e.message.includes(valid), `${valid} is named`);
          return true;
        });
      }
    }
  });
});

describe('closeReasonOf: an error message cut to a close reason', () => {
  it('keeps a text of at most 123 bytes as it is', () => {
    assert.equal(closeReasonOf(''), '');
    assert.equal(closeReasonOf('a'.repeat(123)), 'a'.repeat(123));
    assert.equal(closeReasonOf('é'.repeat(61)), 'é'.repeat(61)); // 122 bytes
  });

  it('cuts at 123 bytes of UTF-8, never inside a character, and the result is a sendable reason', () => {
    const cases: [string, string][] = [
      ['a'.repeat(200), 'a'.repeat(123)],
      ['é'.repeat(62), 'é'.repeat(61)], // 124 bytes: the 62nd would split
      ['€'.repeat(42), '€'.repeat(41)], // 3 bytes each: 41 fit
      [`a${'😀'.repeat(40)}`, `a${'😀'.repeat(30)}`], // 4 bytes each (a surrogate pair): 1 + 120
      [`${'a'.repeat(120)}😀`, 'a'.repeat(120)], // a pair cut in the middle by chars would leave a lone surrogate
    ];
    for (const [text, want] of cases) {
      const got = closeReasonOf(text);
      assert.equal(got, want);
      assert.ok(Buffer.byteLength(got) <= 123);
      assert.equal(encodeClosePayload(1008, got).subarray(2).toString(), got);
    }
    // What `slice(0, 123)` did: over 123 bytes, which encodeClosePayload refuses.
    assert.throws(() => encodeClosePayload(1008, 'é'.repeat(62).slice(0, 123)), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });
});
