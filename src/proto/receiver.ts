/**
 * The read side of the sans-I/O core: bytes in, message pieces and control frames out, through a
 * handler called synchronously. Every frame of a chunk is parsed in one pass; payloads are unmasked
 * in place and handed out as views of the chunk, never copied, except a frame that runs past its chunk
 * and that the handler asks to have gathered (`assembleFrame`: copied once, unmasked as it is copied,
 * instead of joined later). A peer's violation never throws: it
 * becomes one `onFail` with the error (whose `closeCode` the I/O layer sends), and the receiver
 * ignores all later input, as it does after a close frame (RFC 6455 §5.5.1).
 */
import { Buffer } from 'node:buffer';
import { WebSocketError, type ErrorCode } from '../errors.js';
import { viewOf } from './bytes.js';
import { parseClosePayload } from './close-payload.js';
import {
  BAD_SIZE,
  HUGE_LENGTH,
  NEED_MORE,
  Opcode,
  newFrameHeader,
  parseFrameHeader,
  type FrameHeader,
} from './frame.js';
import { maskInto, unmask } from './mask.js';
import { Utf8Validator } from './utf8.js';

export interface ReceiverHandler {
  /**
   * A piece of a data message's payload, in order. `fin` marks the message's last piece; a message
   * with no payload arrives as one empty piece with `fin`. `compressed`: the message had RSV1
   * (permessage-deflate); its pieces are compressed and its text is not validated here. `gathered`: the
   * piece is a view of a buffer the receiver gathered a frame into (`assembleFrame`), not of the chunk.
   */
  onMessageData(data: Buffer, fin: boolean, binary: boolean, compressed: boolean, gathered?: Buffer): void;
  /**
   * Optional: asked at the first piece of an unfragmented, uncompressed data frame whose payload runs past the
   * chunk: true to have its pieces gathered (unmasked as they are copied, one pass) into one buffer of `length`
   * bytes, handed out whole (with `gathered`) instead of piece by piece. Until `releaseFrame()`: what was
   * gathered goes out as a piece then, and the rest piece by piece.
   */
  assembleFrame?(length: number): boolean;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The peer's close frame; `code` 1005 when it carried none. No input is read after it. */
  onCloseFrame(code: number, reason: string, payload: Buffer): void;
  /** A protocol violation; no input is read after it. */
  onFail(error: WebSocketError): void;
}

export interface ReceiverOptions {
  /** 'server' expects masked frames, 'client' unmasked ones (RFC 6455 §5.1). */
  role: 'server' | 'client';
  readMessageMax: number;
  maxFragments: number;
  /** RSV1 is allowed on a message's first frame (permessage-deflate negotiated). */
  allowRsv1?: boolean;
  /** false: text and close reasons are not checked for UTF-8. Default true. */
  validateUtf8?: boolean;
  /**
   * true: `readMessageMax` bounds a compressed message's octets on the wire too, as ws's `maxPayload`
   * does (ws-stream/ws). Default false: its inflated size is bounded as it inflates, and its frames
   * may take what an encoder adds to a message at the limit (`compressedWireMax`).
   */
  limitCompressedOnWire?: boolean;
}

/**
 * The most octets the frames of a compressed message may take when `readMessageMax` is `max` and
 * the message has come in `frames` frames so far: what any DEFLATE encoder needs for `max` octets
 * that do not compress (RFC 1951: a stored block's 5-octet header per at most 65,535 octets, a
 * fixed-Huffman block's 9 bits per literal), a sync flush per frame, and some slack. The inflated
 * size is what `readMessageMax` limits; this bounds only the work a message that inflates to little may cost.
 */
export function compressedWireMax(max: number, frames: number): number {
  return max + Math.ceil(max / 8) + 8 * frames + 64;
}

const enum State {
  Header,
  Payload,
  Done,
}

const EMPTY = Buffer.alloc(0);

/**
 * The bytes of the frames being gathered (`assembleFrame`), all receivers together, and their bound: a gathered
 * frame's buffer is made at its first piece, so a peer that announces a frame and sends little of it makes us
 * reserve the rest. Past the bound, frames go piece by piece (as uncompressed readSome() pieces always do).
 */
let gatheredBytes = 0;
const GATHER_BUDGET = 64 * 1024 * 1024;

// Bits of `Receiver.flags`: one field for what would be six booleans (8 bytes each, per connection).
/** The server role: frames must be masked. */
const SERVER = 1;
/** RSV1 is allowed on a message's first frame. */
const ALLOW_RSV1 = 2;
/** A fragmented data message is in progress. */
const IN_MESSAGE = 4;
const MESSAGE_BINARY = 8;
/** The message in progress is compressed (RSV1 on its first frame). */
const MESSAGE_COMPRESSED = 16;
/** The message's text is validated here (text, not compressed). */
const CHECK_UTF8 = 32;
/** Text is not validated at all (`validateUtf8: false`). */
const NO_UTF8 = 64;
/** `readMessageMax` bounds a compressed message's octets on the wire too (`limitCompressedOnWire`). */
const WIRE_LIMIT = 128;
/** The flags a connection keeps from message to message. */
const CONNECTION_FLAGS = SERVER | ALLOW_RSV1 | NO_UTF8 | WIRE_LIMIT;

export class Receiver {
  private state = State.Header;
  /** The current frame's header: made with the first frame (an idle connection holds none). */
  private hdr: FrameHeader | null = null;
  /** Header bytes cut at a chunk boundary (at most 13). */
  private partial: Buffer | null = null;
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  /** Mask key phase within the current frame. */
  private phase = 0;
  /** SERVER | ALLOW_RSV1 | IN_MESSAGE | MESSAGE_BINARY | MESSAGE_COMPRESSED | CHECK_UTF8 | NO_UTF8 | WIRE_LIMIT. */
  private flags: number;
  private messageBytes = 0;
  private fragments = 0;
  /** Made with the first text message: an idle or binary-only connection does without. */
  private utf8: Utf8Validator | null = null;
  /** Pieces of a control frame's payload cut at chunk boundaries (rare: made when needed). */
  private control: Buffer[] | null = null;
  /** The current frame's payload, gathered as it arrives (`assembleFrame`); null: handed out piece by piece. */
  private assembly: Buffer | null = null;

  // The options, copied: the object they came in is not kept (memory per connection).
  private readonly readMessageMax: number;
  private readonly maxFragments: number;

  constructor(
    opts: ReceiverOptions,
    private readonly handler: ReceiverHandler,
  ) {
    this.flags =
      (opts.role === 'server' ? SERVER : 0) |
      (opts.allowRsv1 ? ALLOW_RSV1 : 0) |
      (opts.validateUtf8 === false ? NO_UTF8 : 0) |
      (opts.limitCompressedOnWire === true ? WIRE_LIMIT : 0);
    this.readMessageMax = opts.readMessageMax;
    this.maxFragments = opts.maxFragments;
  }

  /** Stops reading input for good (the stream failed the connection for a reason of its own). */
  stop(): void {
    this.state = State.Done;
    this.endAssembly();
  }

  /**
   * What was gathered of the frame in progress (`assembleFrame`) goes out now as a piece, and the rest of the
   * frame piece by piece as it comes: the reader that wanted the message whole has gone.
   */
  releaseFrame(): void {
    const out = this.endAssembly();
    if (out !== null) this.handOutGathered(out, this.hdr!.length - this.remaining);
  }

  /** The first `got` bytes gathered of the frame in progress, as a piece of its message. */
  private handOutGathered(out: Buffer, got: number): void {
    this.handler.onMessageData(out.subarray(0, got), false, (this.flags & MESSAGE_BINARY) !== 0, false, out);
  }

  /** Whether the receiver still reads input (no close frame and no violation yet). */
  get active(): boolean {
    return this.state !== State.Done;
  }

  /** Whether a fragmented message is in progress (for the I/O layer's end-of-input report). */
  get midMessage(): boolean {
    return (this.flags & IN_MESSAGE) !== 0 || this.state === State.Payload || this.partial !== null;
  }

  /** Consumes a chunk. Payload pieces handed out are views of `chunk`, unmasked in place. */
  receive(chunk: Buffer): void {
    let off = 0;
    const end = chunk.length;
    while (off < end && this.state !== State.Done) {
      if (this.state === State.Header) {
        let used = 0;
        if (this.partial === null) {
          used = this.wholeMessage(chunk, off, end);
          if (used === 0) used = this.readHeader(chunk, off, end);
        } else {
          used = this.readSplitHeader(chunk, off);
        }
        if (used === 0) return;
        off += used;
      } else {
        const n = Math.min(this.remaining, end - off);
        this.payload(chunk, off, off + n);
        off += n;
      }
    }
  }

  /**
   * The common case, in one step: a whole unfragmented data message of under 64 KiB, header and
   * payload in this chunk, that breaks no rule. Returns the bytes it took, or 0 for anything else
   * (another frame type, a fragment, a frame cut by the chunk's end, a reserved bit, a wrong mask
   * bit, a message over the limit), which the general path then parses and judges. No header record
   * is written and no state changes: the receiver stays between frames.
   */
  private wholeMessage(chunk: Buffer, off: number, end: number): number {
    const flags = this.flags;
    if ((flags & IN_MESSAGE) !== 0 || end - off < 2) return 0;
    const b0 = chunk[off]!;
    const b1 = chunk[off + 1]!;
    // FIN, no reserved bit, opcode 1 or 2; the mask bit as the role requires
    const op = b0 & 0x0f;
    if ((b0 & 0xf0) !== 0x80 || (op !== Opcode.Text && op !== Opcode.Binary) || b1 >>> 7 !== (flags & SERVER)) return 0;
    let len = b1 & 0x7f;
    let start = off + 2;
    if (len === 126) {
      if (end - off < 4) return 0;
      len = (chunk[off + 2]! << 8) | chunk[off + 3]!;
      if (len < 126) return 0; // not the shortest form: the general path fails it
      start = off + 4;
    } else if (len === 127) {
      return 0;
    }
    const server = (flags & SERVER) !== 0;
    const stop = start + (server ? 4 : 0) + len;
    if (stop > end || len > this.readMessageMax) return 0;
    const binary = op === Opcode.Binary;
    let data: Buffer = EMPTY;
    if (server) {
      const mask =
        ((chunk[start]! << 24) | (chunk[start + 1]! << 16) | (chunk[start + 2]! << 8) | chunk[start + 3]!) >>> 0;
      start += 4;
      if (len > 0) {
        data = viewOf(chunk, start, stop);
        unmask(data, 0, len, mask, 0);
      }
    } else if (len > 0) {
      data = viewOf(chunk, start, stop);
    }
    if (!binary && (flags & NO_UTF8) === 0) {
      const utf8 = (this.utf8 ??= new Utf8Validator());
      if (!utf8.write(data)) {
        this.fail('ERR_WS_BAD_FRAME_PAYLOAD', 'text is not UTF-8');
        return stop - off;
      }
      if (!utf8.end()) {
        this.fail('ERR_WS_BAD_FRAME_PAYLOAD', 'text ends inside a character');
        return stop - off;
      }
    }
    this.handler.onMessageData(data, true, binary, false);
    return stop - off;
  }

  /** Parses a header that starts in this chunk; saves the bytes if it is cut off. */
  private readHeader(chunk: Buffer, off: number, end: number): number {
    const size = parseFrameHeader(chunk, off, end, (this.hdr ??= newFrameHeader()));
    if (size === NEED_MORE) {
      this.partial = Buffer.from(chunk.subarray(off, end));
      return end - off;
    }
    if (size === BAD_SIZE) {
      this.fail('ERR_WS_BAD_SIZE');
      return end - off;
    }
    this.startFrame();
    return size;
  }

  /** Completes a header cut at the previous chunk's end with the first bytes of this one. */
  private readSplitHeader(chunk: Buffer, off: number): number {
    const have = this.partial!.length;
    const take = Math.min(14 - have, chunk.length - off);
    const joined = Buffer.concat([this.partial!, chunk.subarray(off, off + take)]);
    const size = parseFrameHeader(joined, 0, joined.length, (this.hdr ??= newFrameHeader()));
    if (size === NEED_MORE) {
      this.partial = joined;
      return take;
    }
    this.partial = null;
    if (size === BAD_SIZE) {
      this.fail('ERR_WS_BAD_SIZE');
      return take;
    }
    this.startFrame();
    return size - have;
  }

  /** Validates a parsed header (RFC 6455 §5.2–5.5) and sets up its payload. */
  private startFrame(): void {
    const h = this.hdr!;
    const flags = this.flags;
    if (
      h.rsv2 ||
      h.rsv3 ||
      (h.rsv1 && !((flags & ALLOW_RSV1) !== 0 && h.opcode !== Opcode.Continuation && h.opcode < 8))
    ) {
      return this.fail('ERR_WS_BAD_RESERVED_BITS', h.rsv2 || h.rsv3 ? 'RSV2 or RSV3' : 'RSV1');
    }
    const op = h.opcode;
    if (op >= 8) {
      if (op > Opcode.Pong) return this.fail('ERR_WS_BAD_OPCODE', `opcode ${op}`);
      if (!h.fin) return this.fail('ERR_WS_BAD_CONTROL_FRAGMENT');
      if (h.length > 125)
        return this.fail('ERR_WS_BAD_CONTROL_SIZE', h.length === Infinity ? HUGE_LENGTH : `length ${h.length}`);
    } else if (op === Opcode.Continuation) {
      if ((flags & IN_MESSAGE) === 0) return this.fail('ERR_WS_BAD_CONTINUATION');
    } else if (op === Opcode.Text || op === Opcode.Binary) {
      if ((flags & IN_MESSAGE) !== 0) return this.fail('ERR_WS_BAD_DATA_FRAME', `opcode ${op}`);
      const binary = op === Opcode.Binary;
      const checkUtf8 = !binary && !h.rsv1 && (flags & NO_UTF8) === 0;
      this.flags =
        (flags & CONNECTION_FLAGS) |
        IN_MESSAGE |
        (binary ? MESSAGE_BINARY : 0) |
        (h.rsv1 ? MESSAGE_COMPRESSED : 0) |
        (checkUtf8 ? CHECK_UTF8 : 0);
      if (checkUtf8) this.utf8 ??= new Utf8Validator();
      this.messageBytes = 0;
      this.fragments = 0;
    } else {
      return this.fail('ERR_WS_BAD_OPCODE', `opcode ${op}`);
    }
    // After the opcode checks, as ws and most peers do: a frame wrong in both ways reports its opcode.
    if (h.masked !== ((flags & SERVER) !== 0)) {
      return this.fail(h.masked ? 'ERR_WS_BAD_MASKED_FRAME' : 'ERR_WS_BAD_UNMASKED_FRAME');
    }
    if (op < 8) {
      if (++this.fragments > this.maxFragments) return this.fail('ERR_WS_TOO_MANY_FRAGMENTS');
      this.messageBytes += h.length;
      // A compressed message is bounded by its inflated size as it inflates (stream/deflate-lines.ts);
      // its frames may take what an encoder adds to a message at the limit.
      const max =
        (this.flags & (MESSAGE_COMPRESSED | WIRE_LIMIT)) === MESSAGE_COMPRESSED
          ? compressedWireMax(this.readMessageMax, this.fragments)
          : this.readMessageMax;
      if (this.messageBytes > max)
        return this.fail('ERR_WS_MESSAGE_TOO_BIG', h.length === Infinity ? HUGE_LENGTH : 'over readMessageMax');
    }
    this.remaining = h.length;
    this.phase = 0;
    if (h.length === 0) this.endFrame(EMPTY);
    else this.state = State.Payload;
  }

  /** A slice of the current frame's payload: `chunk[start, end)`. */
  private payload(chunk: Buffer, start: number, end: number): void {
    const h = this.hdr!;
    if (this.assembly !== null || (this.remaining === h.length && end - start < h.length && this.assembles(h)))
      return this.assemble(chunk, start, end);
    const piece = chunk.subarray(start, end);
    // Unmasked through the view handed out (the native routine then needs no view of its own).
    if (h.masked) this.phase = unmask(piece, 0, piece.length, h.mask, this.phase);
    this.remaining -= end - start;
    if (h.opcode >= 8) {
      if (this.remaining > 0) {
        (this.control ??= []).push(Buffer.from(piece));
        return;
      }
      let payload = piece;
      if (this.control !== null) {
        this.control.push(piece);
        payload = Buffer.concat(this.control);
        this.control = null;
      }
      return this.endFrame(payload);
    }
    const flags = this.flags;
    if ((flags & CHECK_UTF8) !== 0 && !this.utf8!.write(piece))
      return this.fail('ERR_WS_BAD_FRAME_PAYLOAD', 'text is not UTF-8');
    if (this.remaining > 0) {
      this.handler.onMessageData(piece, false, (flags & MESSAGE_BINARY) !== 0, (flags & MESSAGE_COMPRESSED) !== 0);
      return;
    }
    this.endFrame(piece);
  }

  /** Whether to gather the frame that starts here (an unfragmented, uncompressed data message) into one buffer. */
  private assembles(h: FrameHeader): boolean {
    const op = h.opcode;
    if (!h.fin || h.rsv1 || (op !== Opcode.Text && op !== Opcode.Binary)) return false;
    if (gatheredBytes + h.length > GATHER_BUDGET || this.handler.assembleFrame?.(h.length) !== true) return false;
    this.assembly = Buffer.allocUnsafe(h.length);
    gatheredBytes += h.length;
    return true;
  }

  /** Ends the frame's gathering (its bytes leave the budget); returns what was gathered, if any. */
  private endAssembly(): Buffer | null {
    const out = this.assembly;
    if (out === null) return null;
    this.assembly = null;
    gatheredBytes -= out.length;
    return out;
  }

  /** A slice of the current frame's payload, `chunk[start, end)`, copied (and unmasked) into `assembly`. */
  private assemble(chunk: Buffer, start: number, end: number): void {
    const h = this.hdr!;
    const out = this.assembly!;
    const at = h.length - this.remaining;
    const piece = chunk.subarray(start, end);
    if (h.masked) this.phase = maskInto(piece, out, at, h.mask, this.phase);
    else out.set(piece, at);
    this.remaining -= end - start;
    if ((this.flags & CHECK_UTF8) !== 0 && !this.utf8!.write(out.subarray(at, at + piece.length))) {
      // What came before the bad piece goes out first, as it would have piece by piece.
      this.endAssembly();
      if (at > 0) this.handOutGathered(out, at);
      return this.fail('ERR_WS_BAD_FRAME_PAYLOAD', 'text is not UTF-8');
    }
    if (this.remaining > 0) return;
    this.endAssembly();
    this.endFrame(out, out);
  }

  /**
   * The current frame is complete; `last` is its final piece (its whole payload for a control frame); `gathered`
   * the buffer it was gathered into, if it was.
   */
  private endFrame(last: Buffer, gathered?: Buffer): void {
    const h = this.hdr!;
    this.state = State.Header;
    switch (h.opcode) {
      case Opcode.Ping:
        return this.handler.onPing(last);
      case Opcode.Pong:
        return this.handler.onPong(last);
      case Opcode.Close: {
        const close = parseClosePayload(last, (this.flags & NO_UTF8) === 0);
        if ('error' in close) {
          return this.fail(
            close.error,
            close.error === 'ERR_WS_BAD_CLOSE_CODE' ? `code ${last.readUInt16BE(0)}` : undefined,
          );
        }
        this.state = State.Done;
        return this.handler.onCloseFrame(close.code, close.reason, last);
      }
    }
    const flags = this.flags;
    const binary = (flags & MESSAGE_BINARY) !== 0;
    const compressed = (flags & MESSAGE_COMPRESSED) !== 0;
    if (!h.fin) {
      if (last.length > 0) this.handler.onMessageData(last, false, binary, compressed);
      return;
    }
    if ((flags & CHECK_UTF8) !== 0 && !this.utf8!.end())
      return this.fail('ERR_WS_BAD_FRAME_PAYLOAD', 'text ends inside a character');
    this.flags = flags & ~IN_MESSAGE;
    this.handler.onMessageData(last, true, binary, compressed, gathered);
  }

  // `partial`, `control` and `assembly` are null here already: a split header is joined before it is
  // judged, a control frame's pieces are joined before its payload is, and a gathered frame fails only
  // on its text (`assemble`).
  private fail(code: ErrorCode, detail?: string): void {
    this.state = State.Done;
    this.handler.onFail(new WebSocketError(code, detail));
  }
}
