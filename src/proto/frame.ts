/** The frame header of RFC 6455 §5.2: parse into a reused record, serialise into a buffer. */

export const enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** A parsed frame header. One record is reused for every frame of a connection. */
export interface FrameHeader {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** Payload length; `Infinity` for one of 2^53 or more (legal up to 2^63 − 1, and over every limit). */
  length: number;
  /** The masking key's 4 bytes, first byte highest (a number: no per-connection typed array), valid when `masked`. */
  mask: number;
}

export function newFrameHeader(): FrameHeader {
  return { fin: false, rsv1: false, rsv2: false, rsv3: false, opcode: 0, masked: false, length: 0, mask: 0 };
}

/** `parseFrameHeader` needs more bytes. */
export const NEED_MORE = 0;
/** The detail of ERR_WS_MESSAGE_TOO_BIG for a frame announcing 2^53 bytes or more (ws-stream/ws gives ws's error for it). */
export const HUGE_LENGTH = 'a frame length of 2^53 or more';
/** The length is not in its shortest form, or has the top bit set (RFC 6455 §5.2). */
export const BAD_SIZE = -1;

/**
 * Parses the header at `buf[off, end)` into `out`. Returns the header's size, NEED_MORE, or
 * BAD_SIZE.
 */
export function parseFrameHeader(buf: Uint8Array, off: number, end: number, out: FrameHeader): number {
  const avail = end - off;
  if (avail < 2) return NEED_MORE;
  const b0 = buf[off]!;
  const b1 = buf[off + 1]!;
  const masked = (b1 & 0x80) !== 0;
  let len = b1 & 0x7f;
  let size = 2;
  if (len === 126) {
    if (avail < 4) return NEED_MORE;
    len = (buf[off + 2]! << 8) | buf[off + 3]!;
    if (len < 126) return BAD_SIZE;
    size = 4;
  } else if (len === 127) {
    if (avail < 10) return NEED_MORE;
    const hi = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
    const lo = ((buf[off + 6]! << 24) | (buf[off + 7]! << 16) | (buf[off + 8]! << 8) | buf[off + 9]!) >>> 0;
    // The top bit must be 0 (a framing error). A length from 2^53 up is legal but cannot be held exactly and
    // no limit allows it: Infinity, so the control-size and readMessageMax checks refuse it (1002 or 1009).
    if (hi > 0x7fffffff) return BAD_SIZE;
    len = hi > 0x1fffff ? Number.POSITIVE_INFINITY : hi * 0x100000000 + lo;
    if (len < 65536) return BAD_SIZE;
    size = 10;
  }
  if (masked) {
    if (avail < size + 4) return NEED_MORE;
    out.mask =
      ((buf[off + size]! << 24) | (buf[off + size + 1]! << 16) | (buf[off + size + 2]! << 8) | buf[off + size + 3]!) >>>
      0;
    size += 4;
  }
  out.fin = (b0 & 0x80) !== 0;
  out.rsv1 = (b0 & 0x40) !== 0;
  out.rsv2 = (b0 & 0x20) !== 0;
  out.rsv3 = (b0 & 0x10) !== 0;
  out.opcode = b0 & 0x0f;
  out.masked = masked;
  out.length = len;
  return size;
}

/** Size of a header for a payload of `length` bytes. */
export function frameHeaderSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header at `buf[off]`; returns its size. With a `mask` key, the mask bit is set
 * and the key written after the length.
 */
export function writeFrameHeader(
  buf: Uint8Array,
  off: number,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  length: number,
  mask?: number,
): number {
  buf[off] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const m = mask !== undefined ? 0x80 : 0;
  let i = off + 2;
  if (length < 126) {
    buf[off + 1] = m | length;
  } else if (length < 65536) {
    buf[off + 1] = m | 126;
    buf[off + 2] = length >>> 8;
    buf[off + 3] = length & 0xff;
    i = off + 4;
  } else {
    buf[off + 1] = m | 127;
    const hi = Math.floor(length / 0x100000000);
    const lo = length >>> 0;
    buf[off + 2] = hi >>> 24;
    buf[off + 3] = (hi >>> 16) & 0xff;
    buf[off + 4] = (hi >>> 8) & 0xff;
    buf[off + 5] = hi & 0xff;
    buf[off + 6] = lo >>> 24;
    buf[off + 7] = (lo >>> 16) & 0xff;
    buf[off + 8] = (lo >>> 8) & 0xff;
    buf[off + 9] = lo & 0xff;
    i = off + 10;
  }
  if (mask !== undefined) {
    buf[i] = mask >>> 24;
    buf[i + 1] = (mask >>> 16) & 0xff;
    buf[i + 2] = (mask >>> 8) & 0xff;
    buf[i + 3] = mask & 0xff;
    i += 4;
  }
  return i - off;
}
