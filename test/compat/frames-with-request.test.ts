/**
 * Frames a client pipelines behind its upgrade request (read by the core with the request, before 'connection'):
 * ws reads them after 'connection', in wire order, so a ping before a close is answered before the close, and a
 * ping behind a message is answered after what the 'message' listener sent. ws-stream/ws answered such a ping
 * not at all when a close came right behind it (the core answered the close first), and before the echo of a
 * message ahead of it.
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
];

for (const impl of impls) {
  describe(`${impl.name}: frames sent with the upgrade request`, () => {
    for (const [name, frames, expected] of cases) {
      it(`${name}: answered in wire order, each reply before the close`, async (t) => {
        const { wss, port } = await listen(t, impl);
        wss.on('connection', (ws: Ws) =>
          ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary })),
        );
        const peer = await rawPeer(t, port, Buffer.concat([Buffer.from(request(port)), ...frames]));
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
