/**
 * Bad input with permessage-deflate negotiated, and bad close frames, through the ws API: each
 * case runs on the real `ws` and on ws-stream/ws with the same expectations — the 'error' event's
 * code, class and message, the close code on the wire, then 'close' 1006 and nothing after.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { closeFrame, cont, frame, KEY, ping, text } from '../support/frames.js';
import { type BadCase, impls, listen, rawPeer } from './support.js';

function deflated(s: string | Buffer): Buffer {
  const out = zlib.deflateRawSync(s, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** `n` octets that deflate cannot shrink: SHA-256 digests of 0, 1, 2, … one after the other. */
function incompressible(n: number): Buffer {
  const digests = Array.from({ length: Math.ceil(n / 32) }, (_, i) => createHash('sha256').update(String(i)).digest());
  return Buffer.concat(digests).subarray(0, n);
}

function request(port: number): string {
  return (
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n'
  );
}

const cases: BadCase[] = [
  {
    name: 'a compressed message inflating past maxPayload',
    bytes: text(deflated('x'.repeat(100_000)), { rsv: 4 }),
    code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    wire: 1009,
    range: true,
    message: 'Max payload size exceeded',
    options: { maxPayload: 1000 },
  },
  {
    // ws counts a compressed message's octets on the wire against maxPayload too, and so does ws-stream/ws
    // (the core bounds only the inflated size: test/stream/deflate-inflated-limit).
    name: 'a compressed message of maxPayload octets that do not compress (over maxPayload on the wire)',
    bytes: frame({ opcode: 2, payload: deflated(incompressible(1000)), rsv: 4 }),
    code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    wire: 1009,
    range: true,
    message: 'Max payload size exceeded',
    options: { maxPayload: 1000 },
  },
  {
    name: 'compressed text that is not UTF-8',
    bytes: text(deflated(Buffer.from([0x68, 0xc3, 0x28])), { rsv: 4 }),
    code: 'WS_ERR_INVALID_UTF8',
    wire: 1007,
    range: false,
    message: 'Invalid WebSocket frame: invalid UTF-8 sequence',
  },
  {
    name: 'compressed data zlib cannot inflate',
    bytes: text(Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: 4 }),
    code: 'Z_DATA_ERROR',
    wire: 1007,
    range: false,
  },
  {
    name: 'RSV1 on a continuation frame',
    bytes: Buffer.concat([text(deflated('ab'), { rsv: 4, fin: false }), cont('c', { rsv: 4 })]),
    code: 'WS_ERR_UNEXPECTED_RSV_1',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: RSV1 must be clear',
  },
  {
    name: 'RSV1 on a ping',
    bytes: ping('p', { rsv: 4 }),
    code: 'WS_ERR_UNEXPECTED_RSV_1',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: RSV1 must be clear',
  },
  {
    name: 'a close frame of one byte',
    bytes: frame({ opcode: 8, payload: Buffer.from([3]) }),
    code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid payload length 1',
  },
  {
    name: 'close code 1005 on the wire',
    bytes: closeFrame(1005),
    code: 'WS_ERR_INVALID_CLOSE_CODE',
    wire: 1002,
    range: true,
    message: 'Invalid WebSocket frame: invalid status code 1005',
  },
  {
    name: 'a close reason that is not UTF-8',
    bytes: closeFrame(1000, Buffer.from([0xc3, 0x28])),
    code: 'WS_ERR_INVALID_UTF8',
    wire: 1007,
    range: false,
    message: 'Invalid WebSocket frame: invalid UTF-8 sequence',
  },
];

for (const impl of impls) {
  describe(`${impl.name}: bad compressed frames and close frames`, () => {
    for (const c of cases) {
      it(`${c.name} → 'error' ${c.code}, close ${c.wire}, then 'close' 1006 and nothing after`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: true, ...c.options });
        const events: string[] = [];
        let error: (Error & { code?: string }) | undefined;
        const closed = new Promise<void>((resolve) => {
          // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
          wss.on('connection', (sws: any) => {
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
        const peer = await rawPeer(t, port, request(port));
        const head = await peer.responseHead();
        assert.match(head.head, /permessage-deflate/);
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
}
