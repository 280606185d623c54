/**
 * A write() aborted while its message is being compressed (zlib works asynchronously: the message is
 * in the compressor when write() returns). Nothing of it is on the wire yet. With no context takeover
 * on our side the compressor keeps nothing of it, so it is withdrawn as a queued write is; with
 * context takeover the peer's inflater needs it for the messages after it, so it goes out whole. The
 * wire, read by a raw client over TCP, shows which, and that the next message inflates.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import zlib from 'node:zlib';
import { requestHead } from '../support/frames.js';
import { openServerOverTcp } from '../support/open.js';

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

for (const noTakeover of [true, false]) {
  const offer = noTakeover ? 'permessage-deflate; server_no_context_takeover' : 'permessage-deflate';
  const outcome = noTakeover
    ? 'withdrawn: only the next message is sent'
    : 'sent whole, and the next inflates after it';
  it(`write() aborted while compressing, ${offer}: ${outcome}`, async (t) => {
    const { ws, peer } = await openServerOverTcp(
      { perMessageDeflate: true },
      requestHead({ 'Sec-WebSocket-Extensions': offer }),
      t,
    );
    assert.equal(ws.extensions, noTakeover ? 'permessage-deflate; server_no_context_takeover' : 'permessage-deflate');
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    const controller = new AbortController();
    const aborted = ws.write(big, { binary: true, signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, { code: 'ERR_WS_ABORTED' });
    await ws.write('after');
    // A ping queued behind the messages: once it is on the wire, so is every message before it.
    await ws.ping('end', { afterMessages: true });
    const frames = await peer.until(() => {
      const all = peer.frames();
      return all.some((f) => f.opcode === 9) ? all : undefined;
    });
    // ('after' is under the threshold: with no context takeover it goes uncompressed.)
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.rsv]),
      noTakeover
        ? [
            [1, 0],
            [9, 0],
          ]
        : [
            [2, 4],
            [1, 4],
            [9, 0],
          ],
    );
    if (noTakeover) {
      assert.equal(frames[0]!.payload.toString(), 'after');
    } else {
      const inflated = zlib.inflateRawSync(Buffer.concat(frames.slice(0, 2).flatMap((f) => [f.payload, TRAILER])), {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
      assert.deepEqual(inflated, Buffer.concat([big, Buffer.from('after')]));
    }
  });
}
