/** The permessage-deflate codec: round trips, context takeover, limits while inflating. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { DeflateCodec } from '../../src/codec/deflate.js';
import type { DeflateParams } from '../../src/proto/deflate-params.js';

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
