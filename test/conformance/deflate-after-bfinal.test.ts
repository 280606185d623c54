/**
 * Data after the final block in the same message (RFC 7692 §7.2.1): "An endpoint MAY use both
 * DEFLATE blocks with the "BFINAL" bit set to 0 and DEFLATE blocks with the "BFINAL" bit set to 1.
 * When any DEFLATE block with the "BFINAL" bit set to 1 doesn't end at a byte boundary, an endpoint
 * MUST add minimal padding bits of 0 to make it end at a byte boundary. The next DEFLATE block
 * follows the padded data if any." So the bytes after a final block belong to the message: they
 * begin a new DEFLATE stream, to be inflated and delivered; bytes there that are no DEFLATE block
 * make the message one that cannot be decompressed (1007, as for any data that does not inflate).
 * §7.2.3.4's own example is this case: its 8th octet, after the final block, is the header of an
 * empty stored block (tested in deflate-bfinal.test.ts).
 *
 * Against `ws-stream serve --deflate` over TCP, with the raw client; server_no_context_takeover so
 * each echo inflates on its own.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { RawClient, startServer } from './raw-client.js';
import { cont, text } from '../support/frames.js';
import { DeflateSender, TRAILER } from '../support/deflate-sender.js';

let server: Awaited<ReturnType<typeof startServer>>;
before(async () => {
  server = await startServer(['--deflate']);
});
after(() => server.stop());

/** "Hello" in one fixed-Huffman block with BFINAL set, ending on a byte boundary (RFC 7692 §7.2.3.4). */
const HELLO_FINAL = Buffer.from('f348cdc9c90700', 'hex');

async function connect(): Promise<RawClient> {
  return RawClient.connect(server.port, {
    'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover',
  });
}

/** The next frame: an unfragmented compressed text echo (`serve --deflate` compresses every message), inflated. */
async function nextEcho(c: RawClient, what: string): Promise<string> {
  const f = await c.next(what);
  const closed = f.opcode === 8 && f.payload.length >= 2 ? ` (close ${f.payload.readUInt16BE(0)})` : '';
  assert.deepEqual([f.opcode, f.rsv, f.fin], [1, 4, true], `${what}: a compressed text message${closed}`);
  return zlib
    .inflateRawSync(Buffer.concat([f.payload, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
    .toString();
}

describe('data after the final DEFLATE block of a message (RFC 7692 §7.2.1)', () => {
  // The sender ended its stream with "Hello" and began a new one in the same message; its next
  // message goes on with that new stream (context takeover), referring back to "World".
  for (const split of [false, true]) {
    it(`a new DEFLATE stream after the final block${split ? ', in the next frame of the message' : ', in the same frame'} is inflated and delivered`, async () => {
      const sender = new DeflateSender(true);
      const world = await sender.message('sync', Buffer.from(' World'));
      const again = await sender.message('sync', Buffer.from(' World, World'));
      sender.drop();
      const c = await connect();
      try {
        c.send(
          split
            ? Buffer.concat([text(HELLO_FINAL, { rsv: 4, fin: false }), cont(world)])
            : text(Buffer.concat([HELLO_FINAL, world]), { rsv: 4 }),
        );
        assert.equal(await nextEcho(c, 'echo 1'), 'Hello World', 'the blocks after the final one are not dropped');
        c.send(text(again, { rsv: 4 }));
        assert.equal(await nextEcho(c, 'echo 2'), ' World, World', 'the new stream goes on in the next message');
      } finally {
        c.destroy();
      }
    });
  }

  it('bytes after the final block that are no DEFLATE block (BTYPE 11) fail the connection with 1007', async () => {
    const c = await connect();
    try {
      // 0xff: BFINAL 1, BTYPE 11, a reserved block type (RFC 1951 §3.2.3).
      c.send(text(Buffer.concat([HELLO_FINAL, Buffer.from([0xff, 0xff, 0xff, 0xff])]), { rsv: 4 }));
      const f = await c.next('the close frame');
      assert.equal(f.opcode, 8, `a close frame, not a message (got opcode ${f.opcode}: ${f.payload.length} B)`);
      assert.equal(f.payload.readUInt16BE(0), 1007);
      await c.until(() => c.ended, 'the end of the connection');
    } finally {
      c.destroy();
    }
  });
});
