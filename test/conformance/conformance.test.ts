/**
 * A conformance suite written from RFC 6455, covering what the Autobahn test suite's groups 1–7, 9
 * and 10 cover, run against `ws-stream serve` (a child process) over real TCP with a raw client.
 * Prints a per-group summary.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startServer } from './raw-client.js';
import net from 'node:net';
import zlib from 'node:zlib';
import type { ClientOptions } from 'ws';
import { WebSocketStream, readRequest, rejectUpgrade, type WebSocketError } from '../../src/index.js';
import {
  frame,
  text,
  binary,
  cont,
  ping,
  pong,
  closeFrame,
  parseFrames,
  requestHead,
  type WireFrame,
} from '../support/frames.js';

let server: Awaited<ReturnType<typeof startServer>>;
/** `ws-stream serve --tls`: the same groups run again over HTTP/2 extended CONNECT streams (RFC 8441). */
let h2server: Awaited<ReturnType<typeof startServer>>;
const summary = new Map<string, { pass: number; fail: number }>();

before(async () => {
  [server, h2server] = await Promise.all([startServer(), startServer(['--tls'])]);
});
after(async () => {
  await Promise.all([server.stop(), h2server.stop()]);
  const lines = [...summary].map(
    ([g, r]) => `  ${g.padEnd(34)} ${String(r.pass).padStart(4)} passed ${String(r.fail).padStart(3)} failed`,
  );
  console.log(`conformance summary (RFC 6455, Autobahn groups):\n${lines.join('\n')}`);
});

type Case = (c: RawClient) => Promise<void>;

function group(name: string, cases: [string, Case][]): void {
  for (const h2 of [false, true]) groupOver(h2 ? `${name} (HTTP/2)` : name, cases, h2);
}

function groupOver(name: string, cases: [string, Case][], h2: boolean): void {
  describe(name, () => {
    for (const [title, body] of cases) {
      it(title, async () => {
        const r = summary.get(name) ?? { pass: 0, fail: 0 };
        summary.set(name, r);
        const c = h2 ? await RawClient.connectH2(h2server.port) : await RawClient.connect(server.port);
        try {
          await body(c);
          r.pass++;
        } catch (err) {
          r.fail++;
          throw err;
        } finally {
          c.destroy();
        }
      });
    }
  });
}

const bytes = (n: number, seed = 0): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
};
/** Text of exactly `n` bytes of UTF-8 with 2-, 3- and 4-byte sequences throughout (ASCII only to pad the end). */
const textOf = (n: number): string => {
  const unit = 'ä€𝄞*'; // 2 + 3 + 4 + 1 bytes
  const s = unit.repeat(Math.floor(n / 10));
  const t = s + '*'.repeat(n - Buffer.byteLength(s));
  assert.equal(Buffer.byteLength(t), n);
  return t;
};

async function echoes(c: RawClient, opcode: 1 | 2, payload: Buffer, wire?: Buffer, pieces?: number): Promise<void> {
  const w = wire ?? frame({ opcode, payload });
  if (pieces) await c.sendInPieces(w, pieces);
  else c.send(w);
  const m = await c.nextMessage();
  assert.equal(m.opcode, opcode);
  assert.ok(m.payload.equals(payload), `echo of ${payload.length} bytes differs`);
}

/** The server's close code, after asserting it sent no frame (echo, pong) before its close frame. */
async function closeCode(c: RawClient): Promise<number> {
  const { code, before } = await c.expectClose();
  assert.deepEqual(
    before.map((f) => [f.opcode, f.payload.subarray(0, 20).toString()]),
    [],
    'nothing before the close frame',
  );
  return code;
}

async function cleanClose(c: RawClient, code = 1000): Promise<void> {
  c.send(closeFrame(code));
  assert.equal(await closeCode(c), code);
}

async function failsWith(c: RawClient, code: number): Promise<void> {
  assert.equal(await closeCode(c), code);
}

// ---- group 1: framing
const sizes = [0, 125, 126, 127, 128, 65535, 65536];
group('1 framing', [
  ...sizes.map((n): [string, Case] => [
    `text of ${n} bytes`,
    async (c) => {
      await echoes(c, 1, Buffer.from(textOf(n)));
      await cleanClose(c);
    },
  ]),
  ...sizes.map((n): [string, Case] => [
    `binary of ${n} bytes`,
    async (c) => {
      await echoes(c, 2, bytes(n));
      await cleanClose(c);
    },
  ]),
  [
    'text of 65536 bytes sent in pieces of 997 bytes',
    async (c) => echoes(c, 1, Buffer.from(textOf(65536)), undefined, 997),
  ],
  ['binary of 65536 bytes sent in pieces of 997 bytes', async (c) => echoes(c, 2, bytes(65536), undefined, 997)],
  ['a message arriving one byte at a time', async (c) => echoes(c, 1, Buffer.from('Hello, world!'), undefined, 1)],
]);

// ---- group 2: ping/pong
group('2 ping/pong', [
  [
    'ping without payload → pong',
    async (c) => {
      c.send(ping());
      const f = await c.next();
      assert.deepEqual([f.opcode, f.payload.length], [10, 0]);
      await cleanClose(c);
    },
  ],
  [
    'ping with text payload → pong echoes it',
    async (c) => {
      c.send(ping('Hello, world!'));
      assert.equal((await c.next()).payload.toString(), 'Hello, world!');
    },
  ],
  [
    'ping with binary payload → pong echoes it',
    async (c) => {
      c.send(ping(Buffer.from([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff])));
      assert.deepEqual([...(await c.next()).payload], [0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff]);
    },
  ],
  [
    'ping with 125 bytes → pong',
    async (c) => {
      c.send(ping(bytes(125)));
      assert.ok((await c.next()).payload.equals(bytes(125)));
    },
  ],
  [
    'ping with 126 bytes → close 1002',
    async (c) => {
      c.send(ping(bytes(126)));
      await failsWith(c, 1002);
    },
  ],
  [
    'ping with 125 bytes sent byte by byte → pong',
    async (c) => {
      await c.sendInPieces(ping(bytes(125)), 1);
      assert.ok((await c.next()).payload.equals(bytes(125)));
    },
  ],
  [
    'unsolicited pong is ignored',
    async (c) => {
      c.send(pong('x'));
      await echoes(c, 1, Buffer.from('after pong'));
    },
  ],
  [
    'unsolicited pong, then ping → only the pong answer',
    async (c) => {
      c.send(Buffer.concat([pong('x'), ping('y')]));
      const f = await c.next();
      assert.deepEqual([f.opcode, f.payload.toString()], [10, 'y']);
    },
  ],
  [
    '10 pings → 10 pongs in order',
    async (c) => {
      c.send(Buffer.concat(Array.from({ length: 10 }, (_, i) => ping(`p${i}`))));
      for (let i = 0; i < 10; i++) assert.equal((await c.next()).payload.toString(), `p${i}`);
    },
  ],
  [
    '10 pings sent byte by byte → 10 pongs',
    async (c) => {
      await c.sendInPieces(Buffer.concat(Array.from({ length: 10 }, (_, i) => ping(`p${i}`))), 1);
      for (let i = 0; i < 10; i++) assert.equal((await c.next()).payload.toString(), `p${i}`);
    },
  ],
]);

// ---- group 3: reserved bits
group(
  '3 reserved bits',
  [1, 2, 3, 4, 5, 6, 7].map((rsv): [string, Case] => [
    `RSV=${rsv} → close 1002`,
    async (c) => {
      c.send(
        Buffer.concat([
          text('ok'),
          frame({ opcode: rsv % 2 ? 1 : rsv === 4 ? 9 : 2, payload: 'x', rsv }),
          ping('never'),
        ]),
      );
      const first = await c.nextMessage();
      assert.equal(first.payload.toString(), 'ok', 'the message before is echoed');
      await failsWith(c, 1002);
    },
  ]),
);

// ---- group 4: opcodes
group(
  '4 opcodes',
  [3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op): [string, Case] => [
    `opcode ${op} → close 1002`,
    async (c) => {
      c.send(Buffer.concat([text('ok'), frame({ opcode: op, payload: op > 8 ? 'x' : '' }), ping('never')]));
      assert.equal((await c.nextMessage()).payload.toString(), 'ok');
      await failsWith(c, 1002);
    },
  ]),
);

// ---- group 5: fragmentation
group('5 fragmentation', [
  [
    'fragmented ping → 1002',
    async (c) => {
      c.send(Buffer.concat([ping('a', { fin: false }), cont('b')]));
      await failsWith(c, 1002);
    },
  ],
  [
    'fragmented pong → 1002',
    async (c) => {
      c.send(Buffer.concat([pong('a', { fin: false }), cont('b')]));
      await failsWith(c, 1002);
    },
  ],
  [
    'text in 2 fragments → echoed',
    async (c) =>
      echoes(
        c,
        1,
        Buffer.from('fragment1fragment2'),
        Buffer.concat([text('fragment1', { fin: false }), cont('fragment2')]),
      ),
  ],
  [
    'binary in 3 fragments → echoed',
    async (c) =>
      echoes(
        c,
        2,
        bytes(30),
        Buffer.concat([
          binary(bytes(30).subarray(0, 10), { fin: false }),
          cont(bytes(30).subarray(10, 20), { fin: false }),
          cont(bytes(30).subarray(20)),
        ]),
      ),
  ],
  [
    'ping between fragments → pong, then the message',
    async (c) => {
      c.send(Buffer.concat([text('a', { fin: false }), ping('p'), cont('b')]));
      const f = await c.next();
      assert.deepEqual([f.opcode, f.payload.toString()], [10, 'p']);
      assert.equal((await c.nextMessage()).payload.toString(), 'ab');
    },
  ],
  [
    'ping between fragments, byte by byte',
    async (c) => {
      await c.sendInPieces(Buffer.concat([text('frag1', { fin: false }), ping('p'), cont('frag2')]), 1);
      assert.equal((await c.next()).opcode, 10);
      assert.equal((await c.nextMessage()).payload.toString(), 'frag1frag2');
    },
  ],
  [
    'continuation without a message → 1002',
    async (c) => {
      c.send(cont('x'));
      await failsWith(c, 1002);
    },
  ],
  [
    'final continuation without a message → 1002',
    async (c) => {
      c.send(cont('x', { fin: true }));
      await failsWith(c, 1002);
    },
  ],
  [
    'non-final continuation without a message → 1002',
    async (c) => {
      c.send(cont('x', { fin: false }));
      await failsWith(c, 1002);
    },
  ],
  [
    'text fragment, then a new text message → 1002',
    async (c) => {
      c.send(Buffer.concat([text('a', { fin: false }), text('b')]));
      await failsWith(c, 1002);
    },
  ],
  [
    'text fragment, then a binary message → 1002',
    async (c) => {
      c.send(Buffer.concat([text('a', { fin: false }), binary(Buffer.from('b'))]));
      await failsWith(c, 1002);
    },
  ],
  [
    'many empty fragments → echoed',
    async (c) => {
      const frames = [text('', { fin: false })];
      for (let i = 0; i < 100; i++) frames.push(cont('', { fin: false }));
      frames.push(cont('end'));
      await echoes(c, 1, Buffer.from('end'), Buffer.concat(frames));
    },
  ],
]);

// ---- group 6: UTF-8
const validTexts = [
  '',
  'Hello-µ@ßöäüàá-UTF-8!!',
  'κόσμε',
  '\u0080',
  '\u07FF',
  '\u0800',
  '\uFFFF',
  '\u{10000}',
  '\u{10FFFF}',
  '\uD7FF',
  '\uE000',
  '\uFFFD',
];
const invalidSequences: [string, number[]][] = [
  ['lone continuation 0x80', [0x80]],
  ['0xC0 0xAF (overlong /)', [0xc0, 0xaf]],
  ['0xE0 0x80 0xAF', [0xe0, 0x80, 0xaf]],
  ['0xF0 0x80 0x80 0xAF', [0xf0, 0x80, 0x80, 0xaf]],
  ['UTF-16 surrogate 0xED 0xA0 0x80', [0xed, 0xa0, 0x80]],
  ['0xF4 0x90 0x80 0x80 (> U+10FFFF)', [0xf4, 0x90, 0x80, 0x80]],
  ['0xFE', [0xfe]],
  ['0xFF', [0xff]],
  ['truncated 3-byte at end', [0x61, 0xe2, 0x82]],
  [
    'κόσμε with a surrogate',
    [
      0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65,
      0x64,
    ],
  ],
];
group('6 UTF-8', [
  ...validTexts.map((s): [string, Case] => [
    `valid ${JSON.stringify(s).slice(0, 30)} → echoed, also split per byte in fragments`,
    async (c) => {
      const b = Buffer.from(s, 'utf8');
      await echoes(c, 1, b);
      const frames =
        b.length === 0
          ? [text('')]
          : [...b].map((x, i) =>
              frame({ opcode: i === 0 ? 1 : 0, payload: Buffer.from([x]), fin: i === b.length - 1 }),
            );
      await echoes(c, 1, b, Buffer.concat(frames));
    },
  ]),
  ...invalidSequences.map(([name, seq]): [string, Case] => [
    `invalid: ${name} → 1007`,
    async (c) => {
      c.send(text(Buffer.from(seq)));
      await failsWith(c, 1007);
    },
  ]),
  ...invalidSequences.map(([name, seq]): [string, Case] => [
    `invalid split per byte in fragments: ${name} → 1007`,
    async (c) => {
      c.send(
        Buffer.concat(
          seq.map((x, i) => frame({ opcode: i === 0 ? 1 : 0, payload: Buffer.from([x]), fin: i === seq.length - 1 })),
        ),
      );
      await failsWith(c, 1007);
    },
  ]),
  [
    'fail fast: an invalid fragment fails the connection before the message ends',
    async (c) => {
      c.send(
        Buffer.concat([
          text('κόσμε', { fin: false }),
          cont(Buffer.from([0xed, 0xa0, 0x80]), { fin: false }),
          cont('edited', { fin: false }),
        ]),
      );
      await failsWith(c, 1007); // the message was never finished
    },
  ],
  [
    'fail fast: invalid bytes in the middle of one frame whose rest never comes',
    async (c) => {
      const f = text(
        Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.alloc(100, 0x61)]),
      );
      c.send(f.subarray(0, 8 + 10 + 4)); // header, the valid text, the invalid sequence; the rest is held back
      await failsWith(c, 1007);
    },
  ],
]);

// ---- group 7: close
group('7 close', [
  ['close 1000 → echoed, server closes TCP', async (c) => cleanClose(c)],
  [
    'close without payload → close without payload',
    async (c) => {
      c.send(closeFrame());
      assert.equal(await closeCode(c), 1005);
    },
  ],
  [
    'close with reason → code echoed',
    async (c) => {
      c.send(closeFrame(1000, 'Hello World!'));
      assert.equal(await closeCode(c), 1000);
    },
  ],
  [
    'close with a 123-byte reason → echoed',
    async (c) => {
      c.send(closeFrame(1000, 'x'.repeat(123)));
      assert.equal(await closeCode(c), 1000);
    },
  ],
  [
    'close with a 124-byte reason (payload 126) → 1002',
    async (c) => {
      c.send(closeFrame(1000, 'x'.repeat(124)));
      await failsWith(c, 1002);
    },
  ],
  [
    'close payload of 1 byte → 1002',
    async (c) => {
      c.send(frame({ opcode: 8, payload: Buffer.from([0x03]) }));
      await failsWith(c, 1002);
    },
  ],
  [
    'close reason with invalid UTF-8 → 1007',
    async (c) => {
      c.send(
        closeFrame(
          1000,
          Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80]),
        ),
      );
      await failsWith(c, 1007);
    },
  ],
  [
    'a message, then close in the same write → the echo, then the close',
    async (c) => {
      c.send(Buffer.concat([text('last words'), closeFrame(1000)]));
      assert.equal((await c.nextMessage()).payload.toString(), 'last words');
      assert.equal(await closeCode(c), 1000);
    },
  ],
  [
    'a message after close is not echoed',
    async (c) => {
      c.send(Buffer.concat([closeFrame(1000), text('after')]));
      assert.equal(await closeCode(c), 1000);
    },
  ],
  [
    'a ping after close is not answered',
    async (c) => {
      c.send(Buffer.concat([closeFrame(1000), ping('after')]));
      assert.equal(await closeCode(c), 1000);
    },
  ],
  [
    'a fragmented message, then close',
    async (c) => {
      c.send(Buffer.concat([text('a', { fin: false }), closeFrame(1000)]));
      assert.equal(await closeCode(c), 1000);
    },
  ],
  ...[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].map((code): [string, Case] => [
    `valid code ${code} → echoed`,
    async (c) => {
      c.send(closeFrame(code));
      assert.equal(await closeCode(c), code);
    },
  ]),
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((code): [string, Case] => [
    `invalid code ${code} → 1002`,
    async (c) => {
      c.send(closeFrame(code));
      await failsWith(c, 1002);
    },
  ]),
]);

// ---- group 9: limits and performance-sized messages
group('9 large messages', [
  ...[65536, 262144, 1 << 20, 4 << 20, 16 << 20].map((n): [string, Case] => [
    `binary of ${n} bytes in one frame`,
    async (c) => echoes(c, 2, bytes(n, n & 0xff)),
  ]),
  [`text of 4 MiB in one frame`, async (c) => echoes(c, 1, Buffer.from(textOf(4 << 20)))],
  ...[64, 256, 1024, 4096, 65536, 1 << 20].map((size): [string, Case] => [
    `binary of 4 MiB in fragments of ${size}`,
    async (c) => {
      const payload = bytes(4 << 20, 3);
      const frames: Buffer[] = [];
      for (let off = 0; off < payload.length; off += size) {
        frames.push(
          frame({
            opcode: off === 0 ? 2 : 0,
            payload: payload.subarray(off, off + size),
            fin: off + size >= payload.length,
          }),
        );
      }
      await echoes(c, 2, payload, Buffer.concat(frames));
    },
  ]),
  [
    '200,000 empty fragments → 1008 (maxFragments)',
    async (c) => {
      const frames = [binary(Buffer.alloc(0), { fin: false })];
      for (let i = 0; i < 200000; i++) frames.push(cont(Buffer.alloc(0), { fin: false }));
      c.send(Buffer.concat(frames));
      await failsWith(c, 1008);
    },
  ],
  [
    'a message over 16 MiB → 1009',
    async (c) => {
      // The header of a binary frame of 16 MiB + 1 bytes (64-bit length, masked); no payload follows.
      c.send(Buffer.from([0x82, 0xff, 0, 0, 0, 0, 1, 0, 0, 1, 1, 2, 3, 4]));
      await failsWith(c, 1009);
    },
  ],
]);

// ---- group 10: many messages, auto-fragmentation boundaries
group('10 streams of messages', [
  [
    '1000 small messages sent at once are echoed in order',
    async (c) => {
      c.send(Buffer.concat(Array.from({ length: 1000 }, (_, i) => text(`m${i}`))));
      for (let i = 0; i < 1000; i++) assert.equal((await c.nextMessage()).payload.toString(), `m${i}`);
    },
  ],
  ['a 64 KiB text message in one frame is echoed whole', async (c) => echoes(c, 1, Buffer.from(textOf(65536)))],
]);

// ---- groups 12 and 13: permessage-deflate (RFC 7692), against `ws-stream serve --deflate`, with
// the ws npm client making each offer (an independent compressor and decompressor)
describe('12/13 compression', () => {
  let dserver: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    dserver = await startServer(['--deflate']);
  });
  after(async () => {
    await dserver.stop();
  });
  const offers: [string, object][] = [
    ['default offer', {}],
    ['client_no_context_takeover', { clientNoContextTakeover: true }],
    ['server_no_context_takeover', { serverNoContextTakeover: true }],
    ['both no_context_takeover', { clientNoContextTakeover: true, serverNoContextTakeover: true }],
    ['max window bits 9', { serverMaxWindowBits: 9, clientMaxWindowBits: 9 }],
    ['max window bits 12', { serverMaxWindowBits: 12, clientMaxWindowBits: 12 }],
    ['max window bits 15', { serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
    [
      'window bits 9 and no context takeover',
      { serverMaxWindowBits: 9, clientMaxWindowBits: 9, clientNoContextTakeover: true, serverNoContextTakeover: true },
    ],
  ];
  const sizes = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];
  /**
   * `serve --deflate` compresses a message from this size on: every message (`threshold: 0`), as
   * libwebsockets' client mishandles an uncompressed one once permessage-deflate is agreed.
   */
  const threshold = 0;
  for (const [name, offer] of offers) {
    it(`${name}: text and binary messages of 16 B to 128 KiB echo, 10 of each size, compressed (RSV1) from ${threshold} B`, async () => {
      const r = summary.get('12/13 compression') ?? { pass: 0, fail: 0 };
      summary.set('12/13 compression', r);
      const { default: WebSocket } = await import('ws');
      // Every byte the server sends, as the ws client's socket receives it.
      let fromServer = Buffer.alloc(0);
      const c = new WebSocket(`ws://127.0.0.1:${dserver.port}/`, {
        perMessageDeflate: { threshold: 0, ...offer },
        createConnection: (o: net.NetConnectOpts) => {
          const sock = net.connect(o);
          sock.on('data', (d: Buffer) => {
            fromServer = Buffer.concat([fromServer, d]);
          });
          return sock;
        },
      } as ClientOptions);
      try {
        await new Promise((res, rej) => {
          c.once('open', res);
          c.once('error', rej);
        });
        assert.match(c.extensions, /^permessage-deflate/);
        const sent: { data: Buffer; binary: boolean }[] = [];
        for (const size of sizes) {
          for (let i = 0; i < 10; i++) {
            const binary = i % 2 === 1;
            const data = binary
              ? bytes(size, i)
              : Buffer.from('Hello, permessage-deflate! ✓ '.repeat(Math.ceil(size / 27)).slice(0, size));
            sent.push({ data, binary });
          }
        }
        const received: { data: Buffer; binary: boolean }[] = [];
        const all = new Promise<void>((res) =>
          c.on('message', (data, binary) => {
            received.push({ data: data as Buffer, binary });
            if (received.length === sent.length) res();
          }),
        );
        for (const m of sent) c.send(m.data, { binary: m.binary });
        await all;
        for (let i = 0; i < sent.length; i++) {
          assert.equal(received[i]!.binary, sent[i]!.binary);
          assert.ok(received[i]!.data.equals(sent[i]!.data), `message ${i}`);
        }
        // On the wire: each echo's first frame has RSV1 exactly when it was compressed.
        const wire = fromServer.subarray(fromServer.indexOf('\r\n\r\n') + 4);
        const firsts: WireFrame[] = [];
        let inMessage = false;
        for (const f of parseFrames(wire).frames) {
          assert.ok(f.opcode < 8, `no control frame expected, got opcode ${f.opcode}`);
          if (!inMessage) firsts.push(f);
          else assert.equal(f.rsv, 0, 'a continuation frame has no RSV1');
          inMessage = !f.fin;
        }
        assert.equal(firsts.length, sent.length);
        for (let i = 0; i < sent.length; i++) {
          const compressed = sent[i]!.data.length >= threshold;
          assert.equal(firsts[i]!.rsv, compressed ? 4 : 0, `message ${i} (${sent[i]!.data.length} B): RSV1`);
          assert.equal(firsts[i]!.opcode, sent[i]!.binary ? 2 : 1);
        }
        const closed = new Promise<number>((res) => c.once('close', (code) => res(code)));
        c.close(1000);
        assert.equal(await closed, 1000);
        r.pass++;
      } catch (err) {
        r.fail++;
        throw err;
      } finally {
        c.terminate();
      }
    });
  }
  // RFC 7692 §7.2.3.4: a sender may end a message with a DEFLATE block whose BFINAL bit is set (the
  // RFC's own example, "Hello"), and then start a new DEFLATE stream for the next. Every later
  // message must still inflate, with and without client_no_context_takeover.
  for (const extra of ['', '; client_no_context_takeover']) {
    it(`a message ending with a BFINAL block, then messages of a new DEFLATE stream, echo${extra ? ` (${extra.slice(2)})` : ''}`, async () => {
      const r = summary.get('12/13 compression') ?? { pass: 0, fail: 0 };
      summary.set('12/13 compression', r);
      const c = await RawClient.connect(dserver.port, {
        'Sec-WebSocket-Extensions': `permessage-deflate; server_no_context_takeover${extra}`,
      });
      try {
        const fresh = (s: string): Buffer =>
          zlib.deflateRawSync(Buffer.from(s), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
        c.send(text(Buffer.from('f348cdc9c90700', 'hex'), { rsv: 4 }));
        c.send(text(fresh('second message'), { rsv: 4 }));
        c.send(text(fresh('third message'), { rsv: 4 }));
        const echoes: string[] = [];
        for (let i = 0; i < 3; i++) {
          const m = await c.nextMessage();
          assert.equal(m.opcode, 1, `echo ${i}: a text message, not a close`);
          // server_no_context_takeover: each echo inflates on its own.
          echoes.push(
            zlib
              .inflateRawSync(Buffer.concat([m.payload, Buffer.from([0, 0, 0xff, 0xff])]), {
                finishFlush: zlib.constants.Z_SYNC_FLUSH,
              })
              .toString(),
          );
        }
        assert.deepEqual(echoes, ['Hello', 'second message', 'third message']);
        r.pass++;
      } catch (err) {
        r.fail++;
        throw err;
      } finally {
        c.destroy();
      }
    });
  }
});

// ---- handshake refusals (RFC 6455 §4.2.1–4.2.2, RFC 8441 §4–5): every way a request is refused,
// over real TCP from the raw client. Two servers of our own: one whose accept() reads the request
// itself, and the Beast pattern (readRequest, then rejectUpgrade with the error's status, or
// accept). Each records the error its operation failed with, so that the status on the wire and
// the code reported to the application are both checked.
describe('handshake refusals', () => {
  type Mode = 'accept' | 'readRequest';
  const servers = new Map<Mode, { port: number; waiting: ((code: string) => void)[]; server: net.Server }>();
  /** The error code the next failed handshake of that server reports (each test makes one). */
  const nextError = (mode: Mode): Promise<string> => new Promise((resolve) => servers.get(mode)!.waiting.push(resolve));
  before(async () => {
    for (const mode of ['accept', 'readRequest'] as const) {
      const waiting: ((code: string) => void)[] = [];
      const selectProtocol = (offered: string[]) => (offered.includes('refuse-me') ? 'not-offered' : undefined);
      const server = net.createServer((socket) => {
        const ws = new WebSocketStream(socket);
        const accepted =
          mode === 'accept'
            ? ws.accept({ selectProtocol })
            : readRequest(socket).then(
                ({ request, head }) => ws.accept(request, { head, selectProtocol }),
                async (e: WebSocketError & { status?: number }) => {
                  if (e.status) await rejectUpgrade(socket, e.status);
                  else socket.destroy();
                  throw e;
                },
              );
        accepted.then(
          () => echo(ws),
          (e: WebSocketError) => {
            const w = waiting.shift();
            assert.ok(w, `a handshake failed unexpectedly: ${e.code}`);
            w(e.code);
          },
        );
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.set(mode, { port: (server.address() as net.AddressInfo).port, waiting, server });
    }
  });
  after(() => {
    for (const { server } of servers.values()) server.close();
  });
  const echo = (ws: WebSocketStream): void => {
    ws.read().then(
      (m) => ws.write(m.data, { binary: m.binary }).then(() => echo(ws)),
      () => {},
    );
  };

  const key15 = Buffer.alloc(15).toString('base64');
  const manyFields = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`X-Field-${i}`, 'v']));
  const head = (over: Record<string, string | null> = {}, line = 'GET / HTTP/1.1') => requestHead(over, line);
  // [name, request bytes, status, error code, which servers (the readRequest one only reads the head)]
  const cases: [string, string, number, string, Mode[]][] = [
    [
      'a malformed header line',
      'GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n',
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    [
      'an obs-fold header line',
      'GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  folded\r\n\r\n',
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    ['a malformed request line', 'GET /\r\nHost: h\r\n\r\n', 400, 'ERR_WS_BAD_REQUEST', ['accept', 'readRequest']],
    [
      'a head over 16 KiB (no end in sight)',
      `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(17 * 1024)}`,
      431,
      'ERR_WS_HEADER_LIMIT',
      ['accept', 'readRequest'],
    ],
    ['101 header fields', head(manyFields), 431, 'ERR_WS_HEADER_LIMIT', ['accept', 'readRequest']],
    // RFC 9110 §15.5.15: a target longer than the server reads is 414 URI Too Long, not 431.
    [
      'a request line over 16 KiB (no end in sight)',
      `GET /${'a'.repeat(17 * 1024)}`,
      414,
      'ERR_WS_HEADER_LIMIT',
      ['accept', 'readRequest'],
    ],
    [
      'a request line over 16 KiB, whole',
      head({}, `GET /${'a'.repeat(17 * 1024)} HTTP/1.1`),
      414,
      'ERR_WS_HEADER_LIMIT',
      ['accept', 'readRequest'],
    ],
    // RFC 9112 §3.2: no request target has a fragment; RFC 6455 §3: a WebSocket URI must not use one.
    [
      'a fragment in the request target',
      head({}, 'GET /chat#room HTTP/1.1'),
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    [
      'an empty fragment in the target',
      head({}, 'GET /# HTTP/1.1'),
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    ['HTTP/1.0', head({}, 'GET / HTTP/1.0'), 400, 'ERR_WS_BAD_HTTP_VERSION', ['accept', 'readRequest']],
    ['POST', head({}, 'POST / HTTP/1.1'), 400, 'ERR_WS_BAD_METHOD', ['accept', 'readRequest']],
    ['GET * (no resource)', head({}, 'GET * HTTP/1.1'), 400, 'ERR_WS_BAD_REQUEST', ['accept', 'readRequest']],
    [
      'GET host:port (no resource)',
      head({}, 'GET h:80 HTTP/1.1'),
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    // an absolute URI needs a scheme, which begins with a letter (RFC 3986 §3.1)
    [
      'GET ://h/chat (an empty scheme)',
      head({}, 'GET ://h/chat HTTP/1.1'),
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    [
      'GET 1ws://h/chat (a scheme not beginning with a letter)',
      head({}, 'GET 1ws://h/chat HTTP/1.1'),
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    ['no Host', head({ Host: null }), 400, 'ERR_WS_NO_HOST', ['accept', 'readRequest']],
    ['an empty Host', head({ Host: '' }), 400, 'ERR_WS_NO_HOST', ['accept', 'readRequest']],
    ['no Connection', head({ Connection: null }), 400, 'ERR_WS_NO_CONNECTION', ['accept', 'readRequest']],
    [
      'Connection: keep-alive',
      head({ Connection: 'keep-alive' }),
      400,
      'ERR_WS_NO_CONNECTION_UPGRADE',
      ['accept', 'readRequest'],
    ],
    ['no Upgrade', head({ Upgrade: null }), 400, 'ERR_WS_NO_UPGRADE', ['accept', 'readRequest']],
    ['Upgrade: h2c', head({ Upgrade: 'h2c' }), 400, 'ERR_WS_NO_UPGRADE_WEBSOCKET', ['accept', 'readRequest']],
    ['no Sec-WebSocket-Key', head({ 'Sec-WebSocket-Key': null }), 400, 'ERR_WS_NO_SEC_KEY', ['accept', 'readRequest']],
    ['a key of 15 bytes', head({ 'Sec-WebSocket-Key': key15 }), 400, 'ERR_WS_BAD_SEC_KEY', ['accept', 'readRequest']],
    // 24 characters, yet not 16 bytes: 17 bytes end in one '='
    [
      'a key of 17 bytes',
      head({ 'Sec-WebSocket-Key': Buffer.alloc(17, 7).toString('base64') }),
      400,
      'ERR_WS_BAD_SEC_KEY',
      ['accept', 'readRequest'],
    ],
    [
      'a key whose last character before == is not base64',
      head({ 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAA!==' }),
      400,
      'ERR_WS_BAD_SEC_KEY',
      ['accept', 'readRequest'],
    ],
    [
      'a key not base64',
      head({ 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' }),
      400,
      'ERR_WS_BAD_SEC_KEY',
      ['accept', 'readRequest'],
    ],
    [
      'no Sec-WebSocket-Version',
      head({ 'Sec-WebSocket-Version': null }),
      400,
      'ERR_WS_NO_SEC_VERSION',
      ['accept', 'readRequest'],
    ],
    [
      'Sec-WebSocket-Version: 8',
      head({ 'Sec-WebSocket-Version': '8' }),
      426,
      'ERR_WS_BAD_SEC_VERSION',
      ['accept', 'readRequest'],
    ],
    [
      'a malformed Sec-WebSocket-Protocol',
      head({ 'Sec-WebSocket-Protocol': 'a b' }),
      400,
      'ERR_WS_BAD_REQUEST',
      ['accept', 'readRequest'],
    ],
    [
      'a selector choosing a protocol not offered',
      head({ 'Sec-WebSocket-Protocol': 'refuse-me' }),
      500,
      'ERR_WS_INVALID_ARGUMENT',
      ['accept', 'readRequest'],
    ],
  ];
  for (const [name, request, status, code, modes] of cases) {
    for (const mode of modes) {
      it(`${name} → ${status} (${mode}), the operation fails with ${code}, the connection is closed`, async () => {
        const error = nextError(mode);
        const waiting = servers.get(mode)!.waiting;
        const waiter = waiting.at(-1)!;
        // A case that fails before the server refused (it answered 101) takes its waiter back: left
        // in the queue, it would take the next case's error, and that case would wait for ever.
        const res = await RawClient.refused(servers.get(mode)!.port, request).catch((e: unknown) => {
          waiting.splice(waiting.indexOf(waiter), 1);
          throw e;
        });
        assert.equal(res.status, status, res.head);
        if (status === 426) assert.match(res.head, /\r\nSec-WebSocket-Version: 13(\r\n|$)/i);
        const length = /\r\ncontent-length: (\d+)/i.exec(res.head);
        assert.ok(length, 'the response says its length');
        assert.equal(Buffer.byteLength(res.body), Number(length[1]), 'the whole body, then the end');
        assert.equal(await error, code);
      });
    }
  }

  for (const mode of ['accept', 'readRequest'] as const) {
    it(`a peer that ends before the head is complete (${mode}): ERR_WS_EOF, no response`, async () => {
      const error = nextError(mode);
      const c = await RawClient.open(servers.get(mode)!.port);
      c.sock.end('GET / HTTP/1.1\r\nHost: h\r\n');
      await c.until(() => c.ended, 'the end');
      assert.equal(await error, 'ERR_WS_EOF');
      c.destroy();
    });
    it(`after a refusal the server still accepts (${mode}): a valid request is answered 101 and echoes`, async () => {
      const c = await RawClient.connect(servers.get(mode)!.port);
      await echoes(c, 1, Buffer.from(textOf(300)));
      c.destroy();
    });
  }

  // Over HTTP/2, against `ws-stream serve --tls`: an error status on the stream, the session goes on.
  const h2cases: [string, Record<string, string | null>, number][] = [
    ['no sec-websocket-version', { 'sec-websocket-version': null }, 400],
    // 400, not HTTP/1.1's 426: HTTP/2 has no upgrade to ask for (RFC 9113 §8.6); the version is still named.
    ['sec-websocket-version: 8', { 'sec-websocket-version': '8' }, 400],
    // 0xA0 (obs-text; NBSP to String.prototype.trim()) is part of the value, not white space around it (RFC 9110 §5.5).
    ['sec-websocket-version: 13 then 0xA0', { 'sec-websocket-version': '13\xa0' }, 400],
    [':protocol other than websocket', { ':protocol': 'chat' }, 400],
    ['a malformed sec-websocket-protocol', { 'sec-websocket-protocol': 'a b' }, 400],
    // RFC 6455 §3, RFC 9113 §8.3.1: a :path is a request target, which has no fragment.
    ['a fragment in :path', { ':path': '/chat#room' }, 400],
  ];
  for (const [name, over, status] of h2cases) {
    it(`HTTP/2 extended CONNECT with ${name} → :status ${status}`, async () => {
      const res = await RawClient.refusedH2(h2server.port, over);
      assert.equal(res.status, status, res.head);
      if (name.startsWith('sec-websocket-version')) assert.match(res.head, /\r\nsec-websocket-version: 13(\r\n|$)/);
      assert.ok(res.body.length > 0, 'a reason in the body');
    });
  }
});
