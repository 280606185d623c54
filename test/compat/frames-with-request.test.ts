/**
 * Frames a client pipelines behind its upgrade request (read by the core with the request, before 'connection'):
 * ws reads them after 'connection', in wire order, so a ping before a close is answered before the close, and a
 * ping behind a message is answered after what the 'message' listener sent. ws-stream/ws answered such a ping
 * not at all when a close came right behind it (the core answered the close first), and before the echo of a
 * message ahead of it. With allowSynchronousEvents: false (each event in a turn of its own), ws reads the close
 * only once the events before it were emitted, with the request or after the 101: ws-stream/ws answered the
 * close first, so the pongs and echoes of the messages and pings in the same chunk (all but the first's) were
 * lost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeFrame, KEY, ping, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

const request = (port: number): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

const cases: [string, Buffer[], string[]][] = [
  ['a ping, then a close', [ping('pp'), closeFrame(1000)], ['10:pp', '8:03e8']],
  ['a message, a ping, then a close', [text('m'), ping('pp'), closeFrame(1000)], ['1:m', '10:pp', '8:03e8']],
  ['a ping, a message, then a close', [ping('pp'), text('m'), closeFrame(1000)], ['10:pp', '1:m', '8:03e8']],
  ['two pings, then a close', [ping('p1'), ping('p2'), closeFrame(1000)], ['10:p1', '10:p2', '8:03e8']],
  ['two messages, then a close', [text('m'), text('n'), closeFrame(1000)], ['1:m', '1:n', '8:03e8']],
  [
    'a message, a ping, a message, then a close',
    [text('m'), ping('pp'), text('n'), closeFrame(1000)],
    ['1:m', '10:pp', '1:n', '8:03e8'],
  ],
];

for (const impl of impls) {
  for (const [when, sync] of [
    ['with the upgrade request', true],
    ['with the upgrade request, allowSynchronousEvents: false', false],
    ['in one chunk after the 101, allowSynchronousEvents: false', false],
  ] as const) {
    describe(`${impl.name}: frames sent ${when}`, () => {
      for (const [name, frames, expected] of cases) {
        it(`${name}: answered in wire order, each reply before the close`, async (t) => {
          const { wss, port } = await listen(t, impl, { allowSynchronousEvents: sync });
          wss.on('connection', (ws: Ws) =>
            ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary })),
          );
          const withRequest = when.startsWith('with');
          const peer = await rawPeer(
            t,
            port,
            Buffer.concat([Buffer.from(request(port)), ...(withRequest ? frames : [])]),
          );
          if (!withRequest) {
            await peer.until(() => peer.received.includes('\r\n\r\n') || undefined);
            peer.send(Buffer.concat(frames));
          }
          const got = await peer.until(() => {
            const f = peer.frames();
            return f.some((x) => x.opcode === 8) ? f : undefined;
          });
          assert.deepEqual(
            got.map((f) => `${f.opcode}:${f.opcode === 8 ? f.payload.toString('hex') : String(f.payload)}`),
            expected,
          );
        });
      }
    });
  }
}
