/**
 * A permessage-deflate sender for tests of messages ended by a BFINAL block, built on node:zlib
 * directly (not the library's codec), so the payloads are what another peer puts on the wire.
 *
 * RFC 7692 §7.2.1: "An endpoint MAY use both DEFLATE blocks with the "BFINAL" bit set to 0 and
 * DEFLATE blocks with the "BFINAL" bit set to 1." A block with BFINAL set ends the sender's DEFLATE
 * stream: whatever it sends next begins a new stream, with an empty window (a compressor that
 * finished cannot refer back to what it sent before). The model:
 * - `sync`: the running stream (a new one if none runs), sync-flushed, the trailer removed (§7.2.1);
 *   with context takeover the stream goes on to the next message, without it the stream is dropped.
 * - `finish`: the running stream ended with Z_FINISH, so the message ends with a BFINAL block and
 *   may refer to the window of the earlier messages of that stream.
 * - `standalone`: a whole DEFLATE stream of its own (`zlib.deflateRawSync`, which ends with a BFINAL
 *   block); it ends the running stream as far as the receiver is concerned, so the sender drops it.
 */
import assert from 'node:assert/strict';
import zlib from 'node:zlib';

/** The 4 octets a sync flush ends with, removed on the wire and appended again to inflate (§7.2.1–7.2.2). */
export const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * RFC 7692 §7.2.3.4's example: "Hello" in a fixed-Huffman block with BFINAL set (7 octets), then
 * one octet with the header bits of an empty stored block, so the payload inflates like a
 * sync-flushed one once the trailer is appended.
 */
export const RFC_BFINAL_HELLO = Buffer.from('f348cdc9c9070000', 'hex');

/** How a message was compressed. */
export type Ending = 'sync' | 'finish' | 'standalone';

/** Only the last 32 KiB of a stream's plaintext can be referred to (RFC 1951 §2). */
const WINDOW = 32 * 1024;

export class DeflateSender {
  private deflater: zlib.DeflateRaw | null = null;
  /** The plaintext the running stream has carried (its last 32 KiB): what its messages may refer to. */
  private history = Buffer.alloc(0);

  /** @param takeover whether the stream goes on from one sync-flushed message to the next. */
  constructor(private readonly takeover: boolean) {}

  async message(ending: Ending, data: Buffer): Promise<Buffer> {
    if (ending === 'standalone') {
      this.drop();
      const out = zlib.deflateRawSync(data);
      assert.ok(endsStream(out, Buffer.alloc(0)), 'deflateRawSync ends its stream with a BFINAL block');
      return out;
    }
    const d = (this.deflater ??= zlib.createDeflateRaw());
    const history = this.history;
    const parts: Buffer[] = [];
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
    };
    d.on('data', onData);
    if (ending === 'finish') {
      await new Promise<void>((resolve, reject) => {
        d.once('end', resolve);
        d.once('error', reject);
        d.end(data);
      });
      this.deflater = null;
      this.history = Buffer.alloc(0);
      const out = Buffer.concat(parts);
      assert.ok(endsStream(out, history), 'Z_FINISH ends the stream with a BFINAL block');
      return out;
    }
    await new Promise<void>((resolve) => {
      d.write(data);
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
    d.off('data', onData);
    const out = Buffer.concat(parts);
    assert.ok(out.subarray(-4).equals(TRAILER), 'a sync flush ends with 00 00 ff ff');
    if (this.takeover) this.history = Buffer.concat([history, data]).subarray(-WINDOW);
    else this.drop();
    return out.subarray(0, -4);
  }

  /** Ends the running stream (its memory too). */
  drop(): void {
    this.deflater?.close();
    this.deflater = null;
    this.history = Buffer.alloc(0);
  }
}

/**
 * Whether `payload` is the rest of a DEFLATE stream up to and including its final block, given the
 * plaintext the stream carried before it: zlib's Z_FINISH inflate fails on a stream without one.
 */
function endsStream(payload: Buffer, history: Buffer): boolean {
  try {
    zlib.inflateRawSync(payload, history.length > 0 ? { dictionary: history } : {});
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a sync-flushed or BFINAL-ended payload inflates to `text` on a fresh stream, with no
 * window of earlier messages: false when it refers back to them.
 */
export function inflatesAlone(payload: Buffer, text: Buffer): boolean {
  try {
    return zlib
      .inflateRawSync(Buffer.concat([payload, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      .equals(text);
  } catch {
    return false;
  }
}

/**
 * Text for a message, from the seeded `rand`: words of a small vocabulary (ASCII and multi-byte
 * UTF-8), so that messages of one stream refer back to each other.
 */
export function randomText(rand: () => number, minWords: number, maxWords: number): Buffer {
  const words = ['hello', 'world', 'κόσμε', 'deflate', 'BFINAL', '块', 'frame', 'window', '🦊', 'stream'];
  const n = minWords + Math.floor(rand() * (maxWords - minWords + 1));
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(words[Math.floor(rand() * words.length)]!);
  return Buffer.from(out.join(' '));
}

/**
 * Inflates one message's payload as RFC 7692 §7.2.2 says: the trailer appended. Output in 64-octet pieces, so that
 * every back reference is read from zlib's window of `windowBits` (a whole-output inflate would serve a far one from
 * the output buffer without complaint).
 */
export const inflateMessage = (payload: Buffer, windowBits = 15): Buffer =>
  zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), {
    windowBits,
    chunkSize: 64,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
