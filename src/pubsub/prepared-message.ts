/**
 * A published message as this process sends it: framed once (header and payload in one Buffer,
 * unmasked, server role) and deflated once per compressor window for the subscribers that
 * negotiated permessage-deflate with server_no_context_takeover. Every subscriber is handed one of
 * these same Buffers.
 */
import zlib from 'node:zlib';
import { parseExtensions } from '../proto/extensions.js';
import { frameHeaderSize, writeFrameHeader } from '../proto/frame.js';
import type { WebSocketStream } from '../stream/websocket-stream.js';
import type { BrokerMessage } from './broker.js';

const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One message as this process sends it: the payload, framed once, and deflated once per window size. */
export class Prepared {
  private plain: Buffer | null = null;
  /** Compressed frames by the subscriber's server window bits (null: not worth it). */
  private deflated: Map<number, Buffer | null> | null = null;
  /**
   * Read back after a broker outage (or held while that read ran): replayed to a subscriber as its
   * socket drains, never counted in its backlog nor skipped for it (pubsub.ts, `catchUp`).
   */
  caughtUp = false;

  constructor(
    readonly message: BrokerMessage,
    readonly payload: Buffer,
    readonly opcode: number,
    /** Whether compressing is allowed and worth trying (size over the threshold, not refused). */
    private readonly compressible: boolean,
    private readonly level: number,
  ) {}

  /** The frame for a subscriber whose server compressor window is `bits` (0: no shared compression). */
  frameFor(bits: number): Buffer {
    if (bits !== 0 && this.compressible) {
      this.deflated ??= new Map();
      let f = this.deflated.get(bits);
      if (f === undefined) {
        f = this.deflate(bits);
        this.deflated.set(bits, f);
      }
      if (f !== null) return f;
    }
    return (this.plain ??= frame(this.opcode, this.payload, false));
  }

  /** The message deflated alone (RFC 7692 §7.2.1: sync flush, the 4-byte tail removed), or null when no smaller. */
  private deflate(bits: number): Buffer | null {
    let out = zlib.deflateRawSync(this.payload, {
      level: this.level,
      // zlib makes no raw stream with an 8-bit window; as the stream's own codec does, 9 is used.
      windowBits: Math.max(9, bits),
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    if (out.length >= 4 && out.subarray(out.length - 4).equals(DEFLATE_TAIL)) out = out.subarray(0, out.length - 4);
    return out.length < this.payload.length ? frame(this.opcode, out, true) : null;
  }
}

/** One unmasked final frame (server role) in one Buffer: the header written by proto/frame.ts, then the payload. */
function frame(opcode: number, payload: Buffer, rsv1: boolean): Buffer {
  const size = frameHeaderSize(payload.length, false);
  const buf = Buffer.allocUnsafe(size + payload.length);
  writeFrameHeader(buf, 0, opcode, true, rsv1, payload.length);
  buf.set(payload, size);
  return buf;
}

/** Window bits of our compressor when the stream negotiated permessage-deflate with server_no_context_takeover; else 0. */
export function sharedDeflateBits(ws: WebSocketStream): number {
  if (!ws.extensions) return 0;
  const offer = parseExtensions(ws.extensions)?.find((e) => e.name === 'permessage-deflate');
  if (!offer?.params.some(([k]) => k === 'server_no_context_takeover')) return 0;
  const bits = offer.params.find(([k]) => k === 'server_max_window_bits')?.[1];
  return typeof bits === 'string' ? Number(bits) : 15;
}
