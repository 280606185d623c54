/**
 * Bad input and misuse through the ws API: each case runs on the real `ws` and on ws-stream/ws with
 * the same expectations — the 'error' event's code and class, the close code on the wire, the
 * 'close' event, no event after it, and the errors that send/close/terminate report.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { closeFrame, frame, ping, text } from '../support/frames.js';
import { type BadCase, impls, listen, rawPeer } from './support.js';

const cases: BadCase[] = [
  {
    name: 'a reserved opcode',
    bytes: frame({ opcode: 3, payload: 'x' }),
    code: 'WS_ERR_INVALID_OPCODE',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid opcode 3',
  },
  {
    name: 'text that is not UTF-8',
    bytes: text(Buffer.from([0x68, 0xc3, 0x28])),
    code: 'WS_ERR_INVALID_UTF8',
    wire: 1007,
    range: false,
    message: 'Invalid WebSocket frame: invalid UTF-8 sequence',
  },
  {
    name: 'an unmasked frame',
    bytes: text('hi', { mask: false }),
    code: 'WS_ERR_EXPECTED_MASK',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: MASK must be set',
  },
  {
    name: 'a message over maxPayload',
    bytes: text('x'.repeat(11)),
    code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    wire: 1009,
    range: true,
    message: 'Max payload size exceeded',
    options: { maxPayload: 10 },
  },
  {
    name: 'RSV1 without permessage-deflate',
    bytes: text('hi', { rsv: 4 }),
    code: 'WS_ERR_UNEXPECTED_RSV_1',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: RSV1 must be clear',
  },
  {
    name: 'a fragmented ping',
    bytes: ping('p', { fin: false }),
    code: 'WS_ERR_EXPECTED_FIN',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: FIN must be set',
  },
  {
    name: 'a ping of 126 bytes',
    bytes: ping('x'.repeat(126)),
    code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid payload length 126',
  },
  // ws names the length field, 126 or 127, whatever the length.
  ...(
    [
      ['a ping of 300 bytes', ping('x'.repeat(300)), 126],
      [
        'a ping announcing 70,000 bytes (64-bit length)',
        Buffer.from([0x89, 0xff, 0, 0, 0, 0, 0, 1, 0x11, 0x70, 1, 2, 3, 4]),
        127,
      ],
      [
        'a ping announcing 2^63 − 1 bytes',
        Buffer.from([0x89, 0xff, 0x7f, 255, 255, 255, 255, 255, 255, 255, 1, 2, 3, 4]),
        127,
      ],
    ] as const
  ).map(
    ([name, bytes, field]): BadCase => ({
      name,
      bytes,
      code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
      wire: 1002,
      range: true,
      message: `Invalid WebSocket frame: invalid payload length ${field}`,
    }),
  ),
  {
    name: 'close code 999',
    bytes: closeFrame(999),
    code: 'WS_ERR_INVALID_CLOSE_CODE',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid status code 999',
  },
  {
    name: 'RSV2',
    bytes: text('hi', { rsv: 2 }),
    code: 'WS_ERR_UNEXPECTED_RSV_2_3',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: RSV2 and RSV3 must be clear',
  },
  {
    name: 'a data frame inside a fragmented message',
    bytes: Buffer.concat([frame({ opcode: 1, payload: 'a', fin: false }), frame({ opcode: 2, payload: 'b' })]),
    code: 'WS_ERR_INVALID_OPCODE',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid opcode 2',
  },
  {
    name: 'a continuation without a message',
    bytes: frame({ opcode: 0, payload: 'x' }),
    code: 'WS_ERR_INVALID_OPCODE',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid opcode 0',
  },
  ...[
    ['2^63 − 1', [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['2^53, with maxPayload 0 (no limit)', [0x00, 0x20, 0, 0, 0, 0, 0, 0]],
  ].map(
    ([n, len]): BadCase => ({
      name: `a 64-bit length of ${n}`,
      bytes: Buffer.from([0x82, 0xff, ...(len as number[]), 1, 2, 3, 4]),
      code: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
      wire: 1009,
      range: true,
      message: 'Unsupported WebSocket frame: payload length > 2^53 - 1',
      options: String(n).includes('maxPayload') ? { maxPayload: 0 } : {},
    }),
  ),
  {
    name: 'too many fragments',
    bytes: Buffer.concat([
      frame({ opcode: 1, payload: 'a', fin: false }),
      frame({ opcode: 0, payload: 'b', fin: false }),
      frame({ opcode: 0, payload: 'c', fin: true }),
    ]),
    code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
    wire: 1008,
    range: true,
    message: 'Too many message fragments',
    options: { maxFragments: 2 },
  },
];

for (const impl of impls) {
  describe(`${impl.name}: a bad frame from the client`, () => {
    for (const c of cases) {
      it(`${c.name} → 'error' ${c.code}, close ${c.wire} on the wire, then 'close' 1006 and nothing after`, async (t) => {
        const { wss, port } = await listen(t, impl, c.options);
        const events: string[] = [];
        let error: (Error & { code?: string }) | undefined;
        const closed = new Promise<void>((resolve) => {
          wss.on('connection', (sws: import('node:events').EventEmitter & { readyState: number }) => {
            sws.on('message', (d: Buffer) => events.push(`message ${d}`));
            sws.on('error', (err: Error) => {
              error = err;
              events.push(`error ${sws.readyState}`);
            });
            sws.on('close', (code: number) => {
              events.push(`close ${code} ${sws.readyState}`);
              // Anything emitted after 'close' would show up in `events` by the next turns.
              setImmediate(() => setImmediate(resolve));
            });
          });
        });
        const peer = await rawPeer(t, port);
        await peer.responseHead();
        peer.send(c.bytes);
        const frames = await peer.waitFrames(1);
        assert.deepEqual([frames[0]!.opcode, frames[0]!.payload.readUInt16BE(0)], [8, c.wire]);
        await peer.waitClosed();
        await closed;
        assert.deepEqual(events, ['error 2', 'close 1006 3']);
        assert.equal(error?.code, c.code);
        assert.equal(error instanceof RangeError, c.range);
        if (c.message) assert.equal(error?.message, c.message);
      });
    }
  });

  describe(`${impl.name}: misuse and edge cases`, () => {
    it('send, ping and pong while CONNECTING throw; close() while CONNECTING aborts with error then close', async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const message = 'WebSocket is not open: readyState 0 (CONNECTING)';
      assert.throws(() => client.send('x'), { message });
      assert.throws(() => client.ping(), { message });
      assert.throws(() => client.pong(), { message });
      const events: string[] = [];
      client.on('open', () => events.push('open'));
      client.on('error', (e: Error) => events.push(`error ${e.message}`));
      client.on('close', (code: number) => events.push(`close ${code} ${client.readyState}`));
      const closed = new Promise((r) => client.on('close', r));
      client.close();
      assert.equal(client.readyState, 2);
      await closed;
      assert.deepEqual(events, ['error WebSocket was closed before the connection was established', 'close 1006 3']);
    });

    it('send after close() calls back with "not open: readyState 2 (CLOSING)", then 3 (CLOSED)', async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      client.close();
      const err = await new Promise<Error>((r) => client.send('late', r));
      assert.equal(err.message, 'WebSocket is not open: readyState 2 (CLOSING)');
      assert.equal(client.bufferedAmount, 4); // ws counts refused bytes
      await once(client, 'close');
      const err2 = await new Promise<Error>((r) => client.ping('x', undefined, r));
      assert.equal(err2.message, 'WebSocket is not open: readyState 3 (CLOSED)');
      client.terminate(); // a no-op once closed
      client.close();
      assert.equal(client.readyState, 3);
    });

    it('close() with a bad code or a long reason throws as ws does', async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      assert.throws(() => client.close(1005), {
        name: 'TypeError',
        message: 'First argument must be a valid error code number',
      });
      assert.throws(() => client.close(1000, 'x'.repeat(124)), {
        name: 'RangeError',
        message: 'The message must not be greater than 123 bytes',
      });
      assert.throws(() => client.ping('x'.repeat(126)), {
        name: 'RangeError',
        message: 'The data size must not be greater than 125 bytes',
      });
      assert.equal(client.readyState, 1);
      client.terminate();
      assert.equal(client.readyState, 2);
      const [code] = await once(client, 'close');
      assert.equal(code, 1006);
    });

    it('terminate() while a message is being compressed: close 1006, the pending send fails or completes, nothing after', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: { threshold: 0 } });
      const serverSide = new Promise<
        { terminate(): void; send(d: unknown, cb: (e?: Error) => void): void } & import('node:events').EventEmitter
      >((r) => wss.on('connection', r));
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const sws = await serverSide;
      const events: string[] = [];
      sws.on('error', () => events.push('error'));
      const sent = new Promise<void>((r) => sws.send(Buffer.alloc(256 * 1024, 7), () => r()));
      sws.terminate();
      const [code] = await once(sws, 'close');
      await sent;
      await new Promise((r) => setImmediate(r));
      assert.equal(code, 1006);
      assert.deepEqual(events, []);
    });

    for (const event of ['message', 'close']) {
      it(`an error thrown by a ${event} listener is an uncaught exception (not swallowed, not a rejection), as in ws`, async () => {
        const script = fileURLToPath(new URL('./throwing-listener.js', import.meta.url));
        const child = spawn(process.execPath, [script, impl.name, event], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d;
        });
        const [code] = await once(child, 'exit');
        assert.equal(code, 0, out);
        assert.match(out, new RegExp(`uncaught: boom from the ${event} listener`));
        assert.doesNotMatch(out, /unhandled rejection/);
      });
    }
  });
}
