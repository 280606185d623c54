/** The permessage-deflate codec: round trips, context takeover, limits while inflating. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { DeflateCodec, MAX_DEFLATE_STREAMS_PER_MESSAGE } from '../../src/codec/deflate.js';
import { WebSocketError } from '../../src/errors.js';
import type { DeflateParams } from '../../src/proto/deflate-params.js';
import { DeflateSender } from '../support/deflate-sender.js';

const params = (o: Partial<DeflateParams> = {}): DeflateParams => ({
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  ...o,
});
const run = <T>(f: (cb: (err: unknown, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v as T))));

describe('DeflateCodec', () => {
  it('round-trips messages between a server and a client codec, with and without context takeover', async () => {
    for (const p of [
      params(),
      params({ serverNoContextTakeover: true, clientNoContextTakeover: true }),
      params({ serverMaxWindowBits: 9, clientMaxWindowBits: 10 }),
    ]) {
      const server = new DeflateCodec('server', p);
      const client = new DeflateCodec('client', p);
      for (const text of ['hello hello hello hello', '', 'x'.repeat(100000), 'hello hello hello hello']) {
        const z = await run<Buffer>((cb) => server.compress(Buffer.from(text), true, cb));
        assert.ok(!z.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])) || text === '', 'no trailer on the wire');
        // RFC 7692 §7.2.3.6: an empty message is the empty stored block without its trailer, one 0x00.
        if (text === '') assert.deepEqual([...z], [0x00]);
        const back = await run<Buffer>((cb) => client.decompress(z, true, 0, 1 << 20, cb));
        assert.equal(back.toString(), text);
      }
      server.close();
      client.close();
    }
  });

  it('context takeover makes a repeated message smaller; no context takeover does not', async () => {
    const msg = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(20));
    const sizes = async (p: DeflateParams) => {
      const c = new DeflateCodec('server', p);
      const a = await run<Buffer>((cb) => c.compress(msg, true, cb));
      const b = await run<Buffer>((cb) => c.compress(msg, true, cb));
      c.close();
      return [a.length, b.length];
    };
    const [a1, b1] = await sizes(params());
    assert.ok(b1 < a1 / 2, `${a1} then ${b1}`);
    const [a2, b2] = await sizes(params({ serverNoContextTakeover: true }));
    assert.equal(a2, b2);
  });

  it('a peer that agreed to no context takeover keeps no window here: its message referring to the one before fails (ERR_WS_BAD_FRAME_PAYLOAD)', async () => {
    const msg = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(20));
    const peer = new DeflateCodec('server', params()); // keeps its window, against what was agreed
    const first = await run<Buffer>((cb) => peer.compress(msg, true, cb));
    const second = await run<Buffer>((cb) => peer.compress(msg, true, cb));
    for (const [agreed, outcome] of [
      [params(), 'inflated'],
      [params({ serverNoContextTakeover: true }), 'ERR_WS_BAD_FRAME_PAYLOAD'],
    ] as const) {
      const c = new DeflateCodec('client', agreed);
      assert.ok((await run<Buffer>((cb) => c.decompress(first, true, 0, 1 << 20, cb))).equals(msg));
      const got = await run<Buffer>((cb) => c.decompress(second, true, 0, 1 << 20, cb)).then(
        (out) => (out.equals(msg) ? 'inflated' : 'other bytes'),
        (e: WebSocketError) => e.code,
      );
      assert.equal(got, outcome);
      c.close();
    }
    peer.close();
  });

  it('inflates what node:zlib made (an independent compressor), also in several pieces', async () => {
    const text = 'κόσμε '.repeat(1000);
    const z = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const c = new DeflateCodec('client', params());
    const a = await run<Buffer>((cb) => c.decompress(z.subarray(0, 10), false, 0, 1 << 20, cb));
    const b = await run<Buffer>((cb) => c.decompress(z.subarray(10), true, a.length, 1 << 20, cb));
    assert.equal(Buffer.concat([a, b]).toString(), text);
  });

  it('a message ended by a BFINAL block (RFC 7692 §7.2.3.4) is followed by messages of a new DEFLATE stream', async () => {
    const hello = Buffer.from('f348cdc9c90700', 'hex'); // the RFC's example: "Hello" in one final block
    const fresh = (s: string): Buffer =>
      zlib.deflateRawSync(Buffer.from(s), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    for (const p of [params(), params({ serverNoContextTakeover: true })]) {
      const c = new DeflateCodec('client', p);
      const got: string[] = [];
      for (const z of [hello, fresh('second'), hello, fresh('third')]) {
        got.push((await run<Buffer>((cb) => c.decompress(z, true, 0, 1 << 20, cb))).toString());
      }
      assert.deepEqual(got, ['Hello', 'second', 'Hello', 'third']);
      c.close();
    }
  });

  it('stops a decompression bomb at the limit: 1 MB of zeros per 1 KB frame, limit 64 KiB', async () => {
    const bomb = zlib
      .deflateRawSync(Buffer.alloc(50 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      .subarray(0, -4);
    assert.ok(bomb.length < 100 * 1024);
    const c = new DeflateCodec('server', params());
    const before = process.memoryUsage().arrayBuffers;
    await assert.rejects(
      run((cb) => c.decompress(bomb, true, 0, 64 * 1024, cb)),
      { code: 'ERR_WS_MESSAGE_TOO_BIG' },
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024, 'the whole was not allocated');
  });

  it('data that is not deflate fails with ERR_WS_BAD_FRAME_PAYLOAD', async () => {
    const c = new DeflateCodec('server', params());
    await assert.rejects(
      run((cb) => c.decompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x12]), true, 0, 1 << 20, cb)),
      { code: 'ERR_WS_BAD_FRAME_PAYLOAD' },
    );
  });
});

/**
 * Data after a final block in one message (RFC 7692 §7.2.1: "The next DEFLATE block follows the
 * padded data if any"): it begins a new DEFLATE stream, inflated and delivered with the rest.
 */
describe('DeflateCodec: DEFLATE streams after a final block in one message', () => {
  /** "Hello" in one fixed-Huffman block with BFINAL set (RFC 7692 §7.2.3.4). */
  const HELLO_FINAL = Buffer.from('f348cdc9c90700', 'hex');
  /** A message's pieces, inflated in turn by `c`: what they gave, together. */
  const inflateAll = async (c: DeflateCodec, pieces: Buffer[], maxSize = 1 << 20): Promise<Buffer> => {
    const out: Buffer[] = [];
    let size = 0;
    for (const [i, piece] of pieces.entries()) {
      const part = await run<Buffer>((cb) => c.decompress(piece, i === pieces.length - 1, size, maxSize, cb));
      out.push(part);
      size += part.length;
    }
    return Buffer.concat(out);
  };

  it('several streams in one message, cut into two fragments at every octet, the last stream going on into the next message', async () => {
    // Streams of which two end with zlib's 16 KiB output piece exactly full, and one gives several.
    const texts = [
      Buffer.from('Hello'),
      Buffer.alloc(16 * 1024, 'ab'),
      Buffer.alloc(40000, 'xyz'),
      Buffer.alloc(32 * 1024, 'q'),
      Buffer.from('the last stream of the message, sync-flushed'),
    ];
    const again = Buffer.from('the last stream of the message, sync-flushed, again');
    for (const takeover of [true, false]) {
      const sender = new DeflateSender(takeover);
      const streams: Buffer[] = [];
      for (const t of texts.slice(0, -1)) streams.push(await sender.message('standalone', t));
      streams.push(await sender.message('sync', texts.at(-1)!));
      const message = Buffer.concat(streams);
      const next = await sender.message('sync', again);
      sender.drop();
      const p = params({ serverNoContextTakeover: !takeover });
      let cuts = 0;
      for (let cut = 0; cut <= message.length; cut++) {
        const c = new DeflateCodec('client', p);
        const got = await inflateAll(c, [message.subarray(0, cut), message.subarray(cut)]);
        assert.ok(got.equals(Buffer.concat(texts)), `cut at ${cut} of ${message.length}: ${got.length} B inflated`);
        assert.equal((await inflateAll(c, [next])).toString(), again.toString(), `cut at ${cut}: the next message`);
        c.close();
        cuts++;
      }
      assert.equal(cuts, message.length + 1);
    }
  });

  it('many final blocks in one piece (200 empty streams between texts), and a message ended by Z_FINISH', async () => {
    const sender = new DeflateSender(true);
    const first = await sender.message('finish', Buffer.from('first '));
    const empty = Buffer.from([0x03, 0x00]); // BFINAL 1, fixed Huffman, end of block: an empty stream
    const message = Buffer.concat([first, ...Array<Buffer>(200).fill(empty), HELLO_FINAL, empty]);
    const fresh = await sender.message('sync', Buffer.from('a fresh stream'));
    const c = new DeflateCodec('client', params());
    assert.equal((await inflateAll(c, [message])).toString(), 'first Hello');
    assert.equal((await inflateAll(c, [fresh])).toString(), 'a fresh stream', 'the message ended its last stream');
    c.close();
  });

  it(`a message may end ${MAX_DEFLATE_STREAMS_PER_MESSAGE} DEFLATE streams, counted over its pieces and afresh for each message; one more fails ERR_WS_TOO_MANY_FRAGMENTS (1008)`, async () => {
    const empty = Buffer.from([0x03, 0x00]); // BFINAL 1, fixed Huffman, end of block: an empty stream
    const streams = (n: number): Buffer => Buffer.concat(Array<Buffer>(n).fill(empty));
    const c = new DeflateCodec('client', params());
    const half = MAX_DEFLATE_STREAMS_PER_MESSAGE / 2;
    for (let message = 0; message < 3; message++) {
      const got = await inflateAll(c, [streams(half), Buffer.concat([streams(half - 1), HELLO_FINAL])]);
      assert.equal(got.toString(), 'Hello', `message ${message}: ${MAX_DEFLATE_STREAMS_PER_MESSAGE} streams`);
    }
    await assert.rejects(
      inflateAll(c, [streams(half), Buffer.concat([streams(half), HELLO_FINAL])]),
      (err: unknown) => {
        assert.ok(err instanceof WebSocketError);
        assert.equal(err.code, 'ERR_WS_TOO_MANY_FRAGMENTS');
        assert.equal(err.closeCode, 1008);
        return true;
      },
    );
  });

  it("the RFC's 8-octet example: its last octet starts a new stream that the next message goes on with", async () => {
    const sender = new DeflateSender(true);
    await sender.message('sync', Buffer.alloc(0)); // the sender's new stream, begun after the final block
    const next = await sender.message('sync', Buffer.from('World'));
    const c = new DeflateCodec('client', params());
    assert.equal((await inflateAll(c, [Buffer.from('f348cdc9c9070000', 'hex')])).toString(), 'Hello');
    assert.equal((await inflateAll(c, [next])).toString(), 'World');
    c.close();
  });

  it('a final block completed by the appended trailer leaves only trailer octets: no new stream, no error', async () => {
    // "Hello" without its last octet: the end-of-block code lies in the trailer's first octet.
    const c = new DeflateCodec('client', params());
    assert.equal((await inflateAll(c, [HELLO_FINAL.subarray(0, -1)])).toString(), 'Hello');
    assert.equal((await inflateAll(c, [HELLO_FINAL])).toString(), 'Hello', 'the next message starts a fresh stream');
    c.close();
  });

  it('octets after a final block that are no DEFLATE block fail with ERR_WS_BAD_FRAME_PAYLOAD, in the same piece or the next', async () => {
    const reserved = Buffer.from([0xff, 0xff, 0xff, 0xff]); // BFINAL 1, BTYPE 11 (RFC 1951 §3.2.3)
    for (const pieces of [[Buffer.concat([HELLO_FINAL, reserved])], [HELLO_FINAL, reserved]]) {
      const c = new DeflateCodec('client', params());
      await assert.rejects(inflateAll(c, pieces), { code: 'ERR_WS_BAD_FRAME_PAYLOAD' }, `${pieces.length} piece(s)`);
      await assert.rejects(inflateAll(c, [HELLO_FINAL]), { code: 'ERR_WS_CLOSED' }, 'the codec failed');
    }
  });

  it('the size limit counts the whole message: a bomb after a final block, and streams each under the limit', async () => {
    const bomb = zlib
      .deflateRawSync(Buffer.alloc(50 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      .subarray(0, -4);
    const before = process.memoryUsage().arrayBuffers;
    await assert.rejects(
      inflateAll(new DeflateCodec('server', params()), [Buffer.concat([HELLO_FINAL, bomb])], 64 * 1024),
      {
        code: 'ERR_WS_MESSAGE_TOO_BIG',
      },
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024, 'the whole was not allocated');
    // Three streams of 30,000 octets: 90,000 in all.
    const stream = zlib.deflateRawSync(Buffer.alloc(30000, 'w'));
    const three = Buffer.concat([stream, stream, stream]);
    for (const [pieces, what] of [
      [[three], 'one piece'],
      [[three.subarray(0, stream.length + 3), three.subarray(stream.length + 3)], 'two pieces'],
    ] as const) {
      await assert.rejects(inflateAll(new DeflateCodec('server', params()), [...pieces], 89999), {
        code: 'ERR_WS_MESSAGE_TOO_BIG',
      });
      const whole = await inflateAll(new DeflateCodec('server', params()), [...pieces], 90000);
      assert.equal(whole.length, 90000, what);
    }
  });

  it('each new stream takes a turn of the shared limiter: a piece of many streams does not hold it', async () => {
    // 10 codecs (the limiter's width) each inflate a piece of as many empty streams as a message may
    // hold; an 11th codec's ordinary message queues behind them and must be done before any of those is.
    const many = Buffer.concat(Array<Buffer>(MAX_DEFLATE_STREAMS_PER_MESSAGE).fill(Buffer.from([0x03, 0x00])));
    const order: string[] = [];
    const codecs = Array.from({ length: 11 }, () => new DeflateCodec('server', params()));
    const long = codecs
      .slice(0, 10)
      .map((c, i) => run<Buffer>((cb) => c.decompress(many, true, 0, 1 << 20, cb)).then(() => order.push(`long ${i}`)));
    const short = run<Buffer>((cb) => codecs[10]!.decompress(HELLO_FINAL, true, 0, 1 << 20, cb)).then((out) => {
      order.push('short');
      return out.toString();
    });
    assert.equal(await short, 'Hello');
    await Promise.all(long);
    assert.equal(order.length, 11);
    assert.equal(order[0], 'short', order.join(', '));
    for (const c of codecs) c.close();
  });
});
