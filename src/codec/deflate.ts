/**
 * The permessage-deflate codec (RFC 7692 §7.2) over node:zlib. Node's zlib is asynchronous, so
 * this is an explicit state: one operation at a time per direction and connection, completions in
 * order. Inflating is bounded as it goes: output past `maxSize` stops it (a 1 MB frame that would
 * inflate to 1 GB is stopped at the limit without allocating the whole). Work is bounded across
 * connections by a shared limiter (at most `ZLIB_CONCURRENCY` operations run in zlib at once).
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { WebSocketError } from '../errors.js';
import type { DeflateParams } from '../proto/deflate-params.js';

/** At most this many zlib operations run at once, across all connections (as ws does). */
const ZLIB_CONCURRENCY = 10;
let running = 0;
const waiting: (() => void)[] = [];

function limited(job: (done: () => void) => void): void {
  const run = (): void => {
    running++;
    job(() => {
      running--;
      const next = waiting.shift();
      if (next) next();
    });
  };
  if (running < ZLIB_CONCURRENCY) run();
  else waiting.push(run);
}

/**
 * A zlib stream whose errors are reported through the operation that meets them (or, after
 * close(), not at all): never as an unhandled 'error' event that would end the process.
 */
function quiet<T extends zlib.DeflateRaw | zlib.InflateRaw>(z: T): T {
  z.on('error', () => {});
  return z;
}

/** The 4 bytes a sync flush ends with, removed from each message on the wire (RFC 7692 §7.2.1). */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * The DEFLATE streams one message may end (blocks with BFINAL set, RFC 7692 §7.2.1). Real peers
 * end one at most; each new stream costs a fresh inflater (~60 µs) for as little as 2 octets, so a
 * hostile peer's message of empty final blocks is refused (1008) instead of costing seconds.
 */
export const MAX_DEFLATE_STREAMS_PER_MESSAGE = 256;

export interface CodecOptions {
  /** zlib compression level, 0–9. Default 1 (fast). */
  level?: number;
  /** zlib memLevel, 1–9. Default 8. */
  memLevel?: number;
}

export type CodecCallback = (err: WebSocketError | null, data?: Buffer) => void;

/** One connection's compressor and decompressor. */
export class DeflateCodec {
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;
  /** Our compressor resets after each message (no context takeover on our side). */
  private readonly ourNoTakeover: boolean;
  private readonly peerNoTakeover: boolean;
  private readonly ourWindowBits: number;
  /** Each direction closes on its own: received messages may still inflate after sending ended. */
  private deflateClosed = false;
  private inflateClosed = false;
  /** The peer's DEFLATE streams ended within the message being inflated. */
  private streamsEnded = 0;

  constructor(
    role: 'server' | 'client',
    params: DeflateParams,
    private readonly options: CodecOptions = {},
  ) {
    const server = role === 'server';
    this.ourNoTakeover = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.peerNoTakeover = server ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    // zlib writes no raw deflate stream with an 8-bit window (Node turns 8 into 9, as ws relies on).
    this.ourWindowBits = Math.max(9, server ? params.serverMaxWindowBits : params.clientMaxWindowBits);
  }

  /** Compresses one whole message (or one part of it with `fin` false). */
  compress(data: Buffer, fin: boolean, cb: CodecCallback): void {
    limited((done) => {
      if (this.deflateClosed) {
        done();
        return cb(new WebSocketError('ERR_WS_CLOSED'));
      }
      this.deflater ??= quiet(
        zlib.createDeflateRaw({
          level: this.options.level ?? 1,
          memLevel: this.options.memLevel ?? 8,
          windowBits: this.ourWindowBits,
        }),
      );
      const d = this.deflater;
      const parts: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        parts.push(chunk);
        size += chunk.length;
      };
      d.on('data', onData);
      d.write(data);
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        d.off('data', onData);
        if (this.deflateClosed) {
          // Closed while zlib worked (the connection went): zlib's state is gone, and so is the message.
          done();
          cb(new WebSocketError('ERR_WS_CLOSED'));
          return;
        }
        let out = Buffer.concat(parts, size);
        // The last part of a message loses the sync-flush trailer. A sync flush starts on an octet
        // boundary (the one before ended it there) and ends with an empty stored block: its header
        // takes an octet of its own before the trailer, so what is left is never empty (an empty
        // message is that one 0x00, RFC 7692 §7.2.3.6).
        if (fin) {
          if (out.subarray(-4).equals(TRAILER)) out = out.subarray(0, -4);
          if (this.ourNoTakeover) d.reset();
        }
        done();
        cb(null, out);
      });
    });
  }

  /**
   * Decompresses the next piece of a message; `fin` marks its last. Fails with
   * ERR_WS_MESSAGE_TOO_BIG as soon as the message inflates past `maxSize` (`sizeSoFar` counts what
   * earlier pieces of the message gave), and with ERR_WS_BAD_FRAME_PAYLOAD (1007) for data zlib
   * cannot inflate.
   */
  decompress(data: Buffer, fin: boolean, sizeSoFar: number, maxSize: number, cb: CodecCallback): void {
    this.inflate(data, fin, sizeSoFar, maxSize, [], cb);
  }

  /**
   * Inflates `input` on the peer's running DEFLATE stream (a new one if none runs), after `parts`,
   * what the piece's earlier streams gave (`sizeSoFar` counts them too). RFC 7692 §7.2.1: a block
   * with BFINAL set ends the stream, and "the next DEFLATE block follows the padded data if any":
   * input left after it begins a new stream. Each stream takes a turn of its own in the limiter, so
   * a piece of many tiny streams does not hold a shared slot for all of them.
   */
  private inflate(
    input: Buffer,
    fin: boolean,
    sizeSoFar: number,
    maxSize: number,
    parts: Buffer[],
    cb: CodecCallback,
  ): void {
    limited((done) => {
      if (this.inflateClosed) {
        done();
        return cb(new WebSocketError('ERR_WS_CLOSED'));
      }
      this.inflater ??= quiet(zlib.createInflateRaw({ windowBits: 15 }));
      const inf = this.inflater;
      const consumedBefore = inf.bytesWritten;
      let size = 0;
      let settled = false;
      const finish = (err: WebSocketError | null): void => {
        if (settled) return;
        settled = true;
        inf.off('data', onData);
        inf.off('error', onError);
        done();
        if (err) {
          this.close(); // the stream is failed; zlib's memory goes now
          cb(err);
          return;
        }
        if (this.inflateClosed) {
          cb(new WebSocketError('ERR_WS_CLOSED'));
          return;
        }
        // zlib takes all the input while the stream goes on, and none past its end; bytesWritten
        // counts what it took (also over the trailer's separate write). A stream that ended exactly
        // at the end of a piece is found ended by the next piece, of which it takes nothing.
        const consumed = inf.bytesWritten - consumedBefore;
        if (consumed < input.length + (fin ? TRAILER.length : 0)) {
          // The peer ended its DEFLATE stream (a block with BFINAL set, RFC 7692 §7.2.3.4): zlib
          // takes nothing more on this one, so what follows starts a fresh stream, as the peer's does.
          inf.destroy();
          if (this.inflater === inf) this.inflater = null;
          if (++this.streamsEnded > MAX_DEFLATE_STREAMS_PER_MESSAGE) {
            this.close();
            cb(
              new WebSocketError(
                'ERR_WS_TOO_MANY_FRAGMENTS',
                `more than ${MAX_DEFLATE_STREAMS_PER_MESSAGE} DEFLATE streams in one message`,
              ),
            );
            return;
          }
          // The piece's own octets left begin that stream now. Only (part of) our trailer left — the
          // stream ended at the end of the message, or within the trailer that completed its last
          // block — is no data of the peer's: nothing follows, and the next message starts afresh.
          if (consumed < input.length) {
            this.inflate(input.subarray(consumed), fin, sizeSoFar + size, maxSize, parts, cb);
            return;
          }
        } else if (fin && this.peerNoTakeover) inf.reset();
        if (fin) this.streamsEnded = 0;
        cb(null, Buffer.concat(parts));
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (sizeSoFar + size > maxSize)
          finish(new WebSocketError('ERR_WS_MESSAGE_TOO_BIG', 'inflates past readMessageMax'));
        else parts.push(chunk);
      };
      const onError = (err: Error): void => {
        finish(new WebSocketError('ERR_WS_BAD_FRAME_PAYLOAD', `cannot inflate: ${err.message}`, { cause: err }));
      };
      inf.on('data', onData);
      inf.on('error', onError);
      inf.write(input);
      if (fin) inf.write(TRAILER);
      inf.flush(zlib.constants.Z_SYNC_FLUSH, () => finish(null));
    });
  }

  /** Releases zlib's memory; later operations fail with ERR_WS_CLOSED. */
  close(): void {
    this.closeCompressor();
    this.inflateClosed = true;
    this.inflater?.destroy();
    this.inflater = null;
  }

  /** Releases the compressor only (nothing more can be sent); decompressing goes on. */
  closeCompressor(): void {
    this.deflateClosed = true;
    this.deflater?.destroy();
    this.deflater = null;
  }
}
