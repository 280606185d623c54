/**
 * A message sent in fragments (`fin: false`) with permessage-deflate where our side has no context
 * takeover: as in ws, its first fragment decides — under `threshold` (1024 by default) the message
 * goes uncompressed (RSV1 clear), at or over it compressed. Found by the differential tester
 * (differential.test.ts; a 1000-byte fragment compressed to more than a ws client's maxPayload of
 * 1000 failed it with 1009); run on the real `ws` and on ws-stream/ws with the same expectations.
 * `threshold` is read as ws reads it: a message is compressed when its length is at least the threshold
 * (a fraction, or a negative one, against an empty message); ws applies it without context takeover only.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { KEY } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: serverNoContextTakeover, a fragmented message's first fragment against threshold`, () => {
    for (const [size, rsv1] of [
      [1000, 0],
      [2000, 4],
    ] as const) {
      it(`a first fragment of ${size} bytes: RSV1 ${rsv1 ? 'set' : 'clear'}, the continuation's clear`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: { serverNoContextTakeover: true } });
        const peer = await rawPeer(
          t,
          port,
          `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
        );
        const [server] = await once(wss, 'connection');
        assert.equal(server.extensions, 'permessage-deflate');
        server.send(Buffer.alloc(size, 'a'), { binary: true, fin: false });
        server.send('', { fin: true });
        const frames = await peer.waitFrames(2);
        assert.deepEqual(
          frames.slice(0, 2).map((f) => [f.opcode, f.fin, f.rsv]),
          [
            [2, false, rsv1],
            [0, true, 0],
          ],
        );
      });
    }
  });
}

for (const impl of impls) {
  describe(`${impl.name}: serverNoContextTakeover, a message is compressed when its length >= threshold`, () => {
    for (const [threshold, size, rsv1] of [
      [1, 0, 0],
      [1, 1, 4],
      [0.5, 0, 0],
      [0.5, 1, 4],
      [-1, 0, 4],
    ] as const) {
      it(`threshold ${threshold}, ${size} bytes: RSV1 ${rsv1 ? 'set' : 'clear'}`, async (t) => {
        const { wss, port } = await listen(t, impl, {
          perMessageDeflate: { threshold, serverNoContextTakeover: true },
        });
        const peer = await rawPeer(
          t,
          port,
          `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
        );
        const [server] = await once(wss, 'connection');
        server.send(Buffer.alloc(size, 'a'));
        const [sent] = await peer.waitFrames(1);
        assert.deepEqual([sent!.opcode, sent!.fin, sent!.rsv], [2, true, rsv1]);
      });
    }
  });
}
