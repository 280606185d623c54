/**
 * The bytes of a published message deflated once for its subscribers (pubsub.ts `compression`,
 * prepared-message.ts): the frame's payload is exactly the message deflated alone at the configured
 * zlib level, in the window the subscriber agreed (`server_max_window_bits`, 15 when it named none;
 * 9 for 8, which zlib's raw deflate does not make), with the 4-byte sync-flush tail taken off
 * (RFC 7692 §7.2.1). Level 9, the strongest, is allowed.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

const server = await startTestServer({ perMessageDeflate: true });
after(() => server.close());

/** `text` deflated alone as RFC 7692 §7.2.1 has it: sync flush, then the 0x00 0x00 0xff 0xff tail removed. */
function deflatedAlone(text: string, level: number, windowBits: number): Buffer {
  const out = zlib.deflateRawSync(Buffer.from(text), { level, windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual([...out.subarray(out.length - 4)], [0x00, 0x00, 0xff, 0xff]);
  return out.subarray(0, out.length - 4);
}

/**
 * Text whose repeats lie 2,000 bytes apart: a 15-bit window finds them, a 10-bit one (1,024 bytes)
 * cannot, so the two windows deflate it to different bytes.
 */
function farRepeats(): string {
  let block = '';
  for (let i = 0; block.length < 2000; i++) block += `${(i * 7919) % 1000}:${(i * 104729) % 9973};`;
  return block.slice(0, 2000).repeat(4);
}

describe('PubSub compression on the wire', () => {
  it('a message is deflated alone at the configured level (9 allowed) in each subscriber window, its tail removed', async (t) => {
    assert.throws(() => new PubSub({ compression: { level: 10 } }), { code: 'ERR_WS_INVALID_ARGUMENT' });
    const ps = new PubSub({ compression: { level: 9 } });
    t.after(() => ps.close());
    const wide = await subscriberPair(server, {
      'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover',
    });
    const narrow = await subscriberPair(server, {
      'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10',
    });
    const least = await subscriberPair(server, {
      'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover; server_max_window_bits=8',
    });
    t.after(() => {
      for (const s of [wide, narrow, least]) s.client.destroy();
    });
    assert.match(narrow.ws.extensions, /server_max_window_bits=10/);
    assert.match(least.ws.extensions, /server_max_window_bits=8/);
    for (const s of [wide, narrow, least]) await ps.subscribe(s.ws, 'z');
    const text = farRepeats();
    const expectWide = deflatedAlone(text, 9, 15);
    const expectNarrow = deflatedAlone(text, 9, 10);
    assert.notDeepEqual(expectWide, expectNarrow, 'the two windows deflate it differently');
    assert.notDeepEqual(expectWide, deflatedAlone(text, 1, 15), 'level 9 differs from the default level 1');
    await ps.publish('z', text);
    const fw = await wide.client.next();
    const fn = await narrow.client.next();
    const fl = await least.client.next();
    for (const f of [fw, fn, fl]) assert.equal(f.rsv, 4, 'RSV1: compressed');
    assert.deepEqual(fw.payload, expectWide);
    assert.deepEqual(fn.payload, expectNarrow);
    assert.deepEqual(fl.payload, deflatedAlone(text, 9, 9));
  });
});
