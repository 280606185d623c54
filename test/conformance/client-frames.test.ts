/**
 * The client role after the handshake, to the letter of RFC 6455 §5 (framing, masking, control
 * frames), §7 (the close handshake, close codes), §8.1 (UTF-8) and §10.7, against a raw TCP server
 * that writes exact bytes: every violation from the server fails the connection with the close
 * code on the wire (masked), then the client closes TCP; valid frames get exactly the answers the
 * RFC asks (pong payloads, close echoes), and the server closes TCP first (§7.1.1).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConnectOptions, type WebSocketStream, connect } from '../../src/index.js';
import type { WireFrame } from '../support/frames.js';
import { type RawPeer, type RawServer, codeOf, rawServer, sclose, sframe } from './raw-server.js';

/** connect() to `server`, answered with a valid 101 followed by `after` in the same write. */
async function open(
  server: RawServer,
  after: Buffer[] = [],
  options: ConnectOptions = {},
): Promise<{ ws: WebSocketStream; peer: RawPeer }> {
  const pending = connect(server.url(), { handshakeTimeout: 20_000, ...options });
  const peer = await server.next();
  peer.write(peer.ok(), ...after);
  return { ws: await pending, peer };
}

/** Reads every message (text, or hex for binary) until reads end; resolves with them and the code reads ended with. */
function reader(ws: WebSocketStream): { got: string[]; done: Promise<string> } {
  const got: string[] = [];
  const done = (async () => {
    try {
      for await (const m of ws) got.push(m.binary ? m.data.toString('hex') : m.text());
      return 'ERR_WS_CLOSED';
    } catch (e) {
      return (e as { code: string }).code;
    }
  })();
  return { got, done };
}

const frameSummary = (f: WireFrame): [number, boolean, string] => [f.opcode, f.masked, f.payload.toString('hex')];
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const t = (
  payload: string | Buffer,
  o: { fin?: boolean; rsv?: number; mask?: boolean; lengthForm?: 7 | 16 | 64 } = {},
) => sframe({ opcode: 1, payload, ...o });
const c = (payload: string | Buffer, o: { fin?: boolean; rsv?: number } = {}) => sframe({ opcode: 0, payload, ...o });

/**
 * [name, what the server sends after the 101, the close code the client must send, the reader's
 * error, the messages whole before the violation (after the 'before' every case starts with)].
 */
const violations: [string, Buffer[], number, string, string[]?][] = [
  // §5.1: a client MUST close a connection on which it gets a masked frame.
  ['a masked text frame', [t('x', { mask: true })], 1002, 'ERR_WS_BAD_MASKED_FRAME'],
  ['a masked ping', [sframe({ opcode: 9, payload: 'x', mask: true })], 1002, 'ERR_WS_BAD_MASKED_FRAME'],
  ['a masked empty close', [sframe({ opcode: 8, mask: true })], 1002, 'ERR_WS_BAD_MASKED_FRAME'],
  // §5.2: RSV bits without an extension that defines them.
  ['RSV1 without an extension', [t('x', { rsv: 4 })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV2', [t('x', { rsv: 2 })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV3 on a ping', [sframe({ opcode: 9, rsv: 1 })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV1 on a close', [sclose(1000, '', { rsv: 4 })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  // §5.2: reserved opcodes.
  ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op): [string, Buffer[], number, string] => [
    `reserved opcode ${op}`,
    [sframe({ opcode: op, payload: 'x' })],
    1002,
    'ERR_WS_BAD_OPCODE',
  ]),
  // §5.5: control frames: at most 125 octets, never fragmented.
  ['a ping of 126 octets', [sframe({ opcode: 9, payload: Buffer.alloc(126) })], 1002, 'ERR_WS_BAD_CONTROL_SIZE'],
  ['a pong of 126 octets', [sframe({ opcode: 10, payload: Buffer.alloc(126) })], 1002, 'ERR_WS_BAD_CONTROL_SIZE'],
  ['a close of 126 octets', [sclose(1000, 'a'.repeat(124))], 1002, 'ERR_WS_BAD_CONTROL_SIZE'],
  ['a ping without FIN', [sframe({ opcode: 9, payload: 'x', fin: false })], 1002, 'ERR_WS_BAD_CONTROL_FRAGMENT'],
  ['a close without FIN', [sclose(1000, '', { fin: false })], 1002, 'ERR_WS_BAD_CONTROL_FRAGMENT'],
  // §5.5.1: a close body is empty or starts with a 2-octet code.
  ['a close of 1 octet', [sframe({ opcode: 8, payload: b(0x03) })], 1002, 'ERR_WS_BAD_CLOSE_SIZE'],
  // §7.4: codes that may not be sent (1004–1006, 1015: never on the wire; 1016–2999: unassigned; ≥ 5000).
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map(
    (code): [string, Buffer[], number, string] => [`close code ${code}`, [sclose(code)], 1002, 'ERR_WS_BAD_CLOSE_CODE'],
  ),
  // §8.1: text and close reasons must be UTF-8.
  ['a close reason not UTF-8', [sclose(1000, b(0xce, 0xba, 0xe1, 0xbd))], 1007, 'ERR_WS_BAD_CLOSE_PAYLOAD'],
  ['text 0xff', [t(b(0xff))], 1007, 'ERR_WS_BAD_FRAME_PAYLOAD'],
  ['text with an overlong NUL (C0 80)', [t(b(0x61, 0xc0, 0x80))], 1007, 'ERR_WS_BAD_FRAME_PAYLOAD'],
  ['text with a surrogate (ED A0 80)', [t(b(0xed, 0xa0, 0x80))], 1007, 'ERR_WS_BAD_FRAME_PAYLOAD'],
  ['text over U+10FFFF (F4 90 80 80)', [t(b(0xf4, 0x90, 0x80, 0x80))], 1007, 'ERR_WS_BAD_FRAME_PAYLOAD'],
  ['text cut in a character at FIN', [t(b(0x61, 0xe2, 0x82))], 1007, 'ERR_WS_BAD_FRAME_PAYLOAD'],
  [
    'text invalid across fragments (E2 | 28 A1)',
    [t(b(0xe2), { fin: false }), c(b(0x28, 0xa1))],
    1007,
    'ERR_WS_BAD_FRAME_PAYLOAD',
  ],
  // §5.4: fragmentation.
  ['a continuation without a message', [c('x')], 1002, 'ERR_WS_BAD_CONTINUATION'],
  ['a continuation after a whole message', [t('a'), c('x')], 1002, 'ERR_WS_BAD_CONTINUATION', ['a']],
  ['a text frame inside a fragmented message', [t('a', { fin: false }), t('b')], 1002, 'ERR_WS_BAD_DATA_FRAME'],
  [
    'a binary frame inside a fragmented message, after a ping',
    [t('a', { fin: false }), sframe({ opcode: 9 }), sframe({ opcode: 2, payload: 'b' })],
    1002,
    'ERR_WS_BAD_DATA_FRAME',
  ],
  // §5.2: "the most significant bit MUST be 0"; "the minimal number of bytes MUST be used".
  ['a 64-bit length with its top bit set', [b(0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1)], 1002, 'ERR_WS_BAD_SIZE'],
  ['a 16-bit length of 5', [t('hello', { lengthForm: 16 })], 1002, 'ERR_WS_BAD_SIZE'],
  ['a 64-bit length of 5', [t('hello', { lengthForm: 64 })], 1002, 'ERR_WS_BAD_SIZE'],
  ['a 64-bit length of 200', [t('a'.repeat(200), { lengthForm: 64 })], 1002, 'ERR_WS_BAD_SIZE'],
  ['a 16-bit length on a ping', [sframe({ opcode: 9, payload: 'p', lengthForm: 16 })], 1002, 'ERR_WS_BAD_SIZE'],
];

describe('RFC 6455 §5, §7.4, §8.1, client role: a violation from the server', { timeout: 180_000 }, () => {
  it('each: the messages before it, then one masked close frame with its code and nothing after it, the client ends TCP', async (tc) => {
    const server = await rawServer(tc);
    for (const [name, bytes, code, error, messages = []] of violations) {
      // A whole message first: it is read before the failure.
      const { ws, peer } = await open(server, [t('before'), ...bytes]);
      const r = reader(ws);
      assert.equal(await r.done, error, name);
      assert.deepEqual(r.got, ['before', ...messages], name);
      await peer.clientDone();
      // The pong of the (empty, unmasked) ping before the violation, then the close frame, the last thing sent.
      const frames = peer.frames;
      assert.deepEqual(
        frames.map((f) => f.opcode),
        [...bytes.filter((x) => x.equals(b(0x89, 0))).map(() => 10), 8],
        name,
      );
      const close = frames.at(-1)!;
      assert.deepEqual(
        [close.opcode, close.fin, close.rsv, close.masked, codeOf(close)],
        [8, true, 0, true, code],
        name,
      );
      assert.ok(close.payload.length <= 125, name);
      assert.equal(Buffer.from(close.payload.subarray(2).toString()).compare(close.payload.subarray(2)), 0, name);
      // Every byte the client sent is those frames (no garbage, nothing after the close).
      assert.equal(
        peer.after.length,
        frames.reduce((n, f) => n + 6 + f.payload.length, 0),
        name,
      );
      peer.end();
      const info = await ws.whenClosed();
      assert.deepEqual(
        [info.initiatedBy, info.code, info.wasClean, info.error?.code],
        ['local', code, false, error],
        name,
      );
    }
  });
});

describe('RFC 6455 §5.2–5.6, client role: valid frames from the server', { timeout: 120_000 }, () => {
  it('lengths in every form at their edges, empty messages and empty fragments, UTF-8 split across fragments', async (tc) => {
    const server = await rawServer(tc);
    const big = (n: number): Buffer => Buffer.alloc(n, 0x61);
    const { ws, peer } = await open(server, [
      t(''),
      sframe({ opcode: 2 }),
      t(big(125)),
      t(big(126)),
      t(big(65535)),
      t(big(65536)),
      t('', { fin: false }),
      c('', { fin: false }),
      c('x'),
      t(b(0xe2), { fin: false }),
      c(b(0x82), { fin: false }),
      sframe({ opcode: 9, payload: 'between' }),
      c(b(0xac)),
      sclose(1000),
    ]);
    const r = reader(ws);
    assert.equal(await r.done, 'ERR_WS_CLOSED');
    assert.deepEqual(
      r.got.map((s) => (s.length > 8 ? `a×${s.length}` : s)),
      ['', '', 'a×125', 'a×126', 'a×65535', 'a×65536', 'x', '€'],
    );
    await peer.frameCount(2);
    assert.deepEqual(peer.frames.map(frameSummary), [
      [10, true, Buffer.from('between').toString('hex')],
      [8, true, '03e8'],
    ]);
    peer.end();
    await ws.whenClosed();
  });

  it('§5.5.2: a ping is answered by a pong with its exact payload (0 and 125 octets, not UTF-8), also between fragments, before the message ends', async (tc) => {
    const server = await rawServer(tc);
    const p125 = Buffer.from(Array.from({ length: 125 }, (_, i) => (i * 7 + 0x80) & 0xff));
    const { ws, peer } = await open(server, [
      sframe({ opcode: 9 }),
      sframe({ opcode: 9, payload: p125 }),
      t('par', { fin: false }),
      sframe({ opcode: 9, payload: 'mid' }),
    ]);
    const r = reader(ws);
    // The pong for the ping inside the message comes while the message is still unfinished.
    const pongs = await peer.frameCount(3);
    assert.deepEqual(pongs.map(frameSummary), [
      [10, true, ''],
      [10, true, p125.toString('hex')],
      [10, true, Buffer.from('mid').toString('hex')],
    ]);
    assert.deepEqual(r.got, []);
    peer.write(c('t'), sframe({ opcode: 10, payload: 'unsolicited' }), t('after'), sclose(1000));
    assert.equal(await r.done, 'ERR_WS_CLOSED');
    assert.deepEqual(r.got, ['part', 'after']);
    await peer.frameCount(4);
    // §5.5.3: the unsolicited pong gets no answer; the close is echoed.
    assert.deepEqual(peer.frames.slice(3).map(frameSummary), [[8, true, '03e8']]);
    peer.end();
    await ws.whenClosed();
  });

  it('every frame the client sends is masked (§5.1, §5.3), with keys that change from frame to frame', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server);
    for (let i = 0; i < 40; i++) {
      ws.write(`t${i}`).catch(() => {});
      ws.write(Buffer.from([i])).catch(() => {});
      ws.ping(`p${i}`).catch(() => {});
      ws.pong(`q${i}`).catch(() => {});
    }
    ws.writeSome('frag', { fin: false }).catch(() => {});
    ws.writeSome('ment', { fin: true }).catch(() => {});
    const closed = ws.close({ code: 1000, reason: 'done' });
    const frames = await peer.frameCount(163);
    assert.ok(frames.every((f) => f.masked && f.rsv === 0));
    assert.deepEqual(frames.slice(0, 4).map(frameSummary), [
      [1, true, Buffer.from('t0').toString('hex')],
      [2, true, '00'],
      [9, true, Buffer.from('p0').toString('hex')],
      [10, true, Buffer.from('q0').toString('hex')],
    ]);
    assert.deepEqual(
      frames.slice(160).map((f) => [f.opcode, f.fin, f.payload.toString('latin1')]),
      [
        [1, false, 'frag'],
        [0, true, 'ment'],
        [8, true, '\x03\xe8done'],
      ],
    );
    // The masking keys, read off the wire: 163 random 32-bit keys (a repeat: about 3 in a million runs).
    const keys = new Set<string>();
    let at = 0;
    for (const f of frames) {
      keys.add(peer.after.subarray(at + 2, at + 6).toString('hex'));
      at += 6 + f.payload.length;
    }
    assert.equal(keys.size, 163);
    peer.write(sclose(1000, 'done'));
    peer.end();
    await closed;
  });
});

describe('RFC 6455 §7, client role: the close handshake', { timeout: 120_000 }, () => {
  it('§5.5.1, §7.1.1: the server closes first: the client echoes its code and reason, then waits for the server to end TCP', async (tc) => {
    const server = await rawServer(tc);
    const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    for (const code of valid) {
      const reason = code === 4999 ? `${'ü'.repeat(61)}x` : `code ${code}`; // 123 octets: the largest reason
      let processed = false;
      const { ws, peer } = await open(server, [sclose(code, reason)], {
        controlCallback: (kind) => {
          if (kind === 'close') processed = true;
        },
      });
      const r = reader(ws);
      assert.equal(await r.done, 'ERR_WS_CLOSED');
      const [echo] = (await peer.frameCount(1)) as [WireFrame];
      assert.deepEqual(
        [echo.opcode, echo.masked, codeOf(echo), echo.payload.subarray(2).toString()],
        [8, true, code, reason],
      );
      assert.equal(processed, true);
      // The client keeps TCP open for the server to close it (it would have ended within these turns).
      await turns(5);
      assert.equal(peer.clientEnded, false, `${code}: the client ended TCP before the server`);
      peer.end();
      const info = await ws.whenClosed();
      await peer.clientDone();
      assert.deepEqual(peer.events.slice(0, 2), ['end', 'fin']);
      assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['remote', code, reason, true]);
      assert.deepEqual(ws.closeReason, { code, reason });
      assert.equal(peer.frames.length, 1);
    }
  });

  it('a close without a body is echoed with none; a ping or a message after the close gets nothing', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server, [sclose(), sframe({ opcode: 9, payload: 'late' }), t('late')]);
    const r = reader(ws);
    assert.equal(await r.done, 'ERR_WS_CLOSED');
    assert.deepEqual(r.got, []);
    await peer.frameCount(1);
    await turns(5);
    peer.end();
    const info = await ws.whenClosed();
    assert.deepEqual(peer.frames.map(frameSummary), [[8, true, '']]);
    assert.deepEqual([info.code, info.wasClean, ws.closeReason?.code], [1005, true, 1005]);
  });

  it('§7.1.2: the client closes first: its masked close, messages still read until the echo, nothing written after it, TCP ended by the server first', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server);
    const r = reader(ws);
    const closed = ws.close({ code: 1001, reason: 'going' });
    const [close] = (await peer.frameCount(1)) as [WireFrame];
    assert.deepEqual(frameSummary(close), [8, true, Buffer.from('\x03\xe9going', 'latin1').toString('hex')]);
    await assert.rejects(ws.write('after close'), { code: 'ERR_WS_CLOSED' });
    // The server may still send data before its own close (§5.5.1): it is read.
    peer.write(t('still'), sclose(1001, 'going'));
    assert.equal(await r.done, 'ERR_WS_CLOSED');
    assert.deepEqual(r.got, ['still']);
    await turns(5);
    assert.equal(peer.clientEnded, false, 'the client ended TCP before the server');
    assert.equal(peer.frames.length, 1);
    peer.end();
    await closed;
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['local', 1001, 'going', true]);
    await peer.clientDone();
    assert.deepEqual(peer.events.slice(0, 2), ['end', 'fin']);
  });

  it('the server sends its close and ends TCP in the same turn: the echo still goes out (half-open), the close is clean', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server);
    const r = reader(ws);
    peer.write(t('last'), sclose(1000, 'bye'));
    peer.end();
    assert.equal(await r.done, 'ERR_WS_CLOSED');
    assert.deepEqual(r.got, ['last']);
    const info = await ws.whenClosed();
    await peer.clientDone();
    assert.deepEqual(peer.frames.map(frameSummary), [[8, true, Buffer.from('\x03\xe8bye', 'latin1').toString('hex')]]);
    assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['remote', 1000, 'bye', true]);
  });

  it('close frames that cross (both ends close at once): no second close frame, clean, the first closer named', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server);
    const r = reader(ws);
    // The server's close goes out before it has seen the client's.
    peer.write(sclose(1001, 'server'));
    const closed = ws.close({ code: 1000, reason: 'client' });
    assert.equal(await r.done, 'ERR_WS_CLOSED');
    await peer.frameCount(1);
    await turns(5);
    peer.end();
    await closed;
    const info = await ws.whenClosed();
    const frames = peer.frames;
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.opcode, 8);
    // Whichever the client sent (its own, or the echo), it sent one, and the close was clean.
    assert.ok([1000, 1001].includes(codeOf(frames[0]!)));
    assert.equal(info.wasClean, true);
  });

  it('§7.1.1: a server that answers the close but keeps TCP open: the client drops it after closeTimeout; still a clean close', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server, [], { closeTimeout: 200 });
    const closed = ws.close({ code: 1000 });
    await peer.frameCount(1);
    peer.write(sclose(1000));
    await closed;
    await peer.clientDone();
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['local', 1000, true]);
  });

  it('a server that never answers the close: ERR_WS_TIMEOUT after closeTimeout, 1006, not clean', async (tc) => {
    const server = await rawServer(tc);
    const { ws, peer } = await open(server, [], { closeTimeout: 200 });
    await assert.rejects(ws.close({ code: 1000 }), { code: 'ERR_WS_TIMEOUT' });
    await peer.clientDone();
    const info = await ws.whenClosed();
    assert.deepEqual([info.code, info.wasClean], [1006, false]);
    assert.deepEqual(peer.frames.map(frameSummary), [[8, true, '03e8']]);
  });

  it('§7.1.5: TCP closed without a close frame (FIN mid-message, or a reset): 1006, the messages whole before it read', async (tc) => {
    const server = await rawServer(tc);
    for (const how of ['fin', 'reset'] as const) {
      const { ws, peer } = await open(server, [t('whole'), t('half', { fin: false })]);
      const r = reader(ws);
      await new Promise((res) => peer.socket.write(Buffer.alloc(0), res));
      if (how === 'fin') peer.end();
      else peer.socket.resetAndDestroy();
      assert.equal(await r.done, how === 'fin' ? 'ERR_WS_EOF' : 'ERR_WS_NEXT_LAYER');
      assert.deepEqual(r.got, ['whole']);
      const info = await ws.whenClosed();
      assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['abnormal', 1006, false], how);
    }
  });
});
