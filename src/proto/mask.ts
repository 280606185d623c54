/**
 * Masking (RFC 6455 §5.3): XOR of the payload with a 4-byte key. The per-byte cost of a server, so
 * the middle of a payload is done a 32-bit word at a time over a 4-aligned view.
 */

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Payloads shorter than this are unmasked byte by byte: a typed-array view costs more than it saves. */
const WORD_LOOP_MIN = 32;

/** A native routine that unmasks a whole buffer from key byte 0 (the optional `bufferutil` package's). */
export type NativeUnmask = (buf: Uint8Array, key: Uint8Array) => void;
/**
 * A native routine that writes `source[0, length)` XORed with the key (from key byte 0) into `output` at `offset`
 * (`bufferutil`'s `mask`): a copy and an unmask in one pass over the bytes.
 */
export type NativeMask = (
  source: Uint8Array,
  key: Uint8Array,
  output: Uint8Array,
  offset: number,
  length: number,
) => void;
let nativeUnmask: NativeUnmask | null = null;
let nativeMask: NativeMask | null = null;
/** Payloads at least this long go to the native routine, when one is set; shorter ones are cheaper in JS. */
const NATIVE_MIN = 1024;
const rotated = new Uint8Array(4);

/** Sets (or clears, with null) the native unmasking routine, and the native copying one (`maskInto`'s). */
export function setNativeUnmask(fn: NativeUnmask | null, copying: NativeMask | null = null): void {
  nativeUnmask = fn;
  nativeMask = fn === null ? null : copying;
}

/** `rotated` set to the key's bytes from byte `phase` (0–3) on. */
function rotateKey(mask: number, phase: number): Uint8Array {
  for (let j = 0; j < 4; j++) rotated[j] = kAt(mask, phase + j);
  return rotated;
}

/**
 * XORs `buf[start, end)` in place with the 4-byte key `mask` (first byte highest), starting at key
 * byte `phase` (0–3), as when a frame's payload arrives in several pieces. Returns the phase after
 * the last byte.
 */
export function unmask(buf: Uint8Array, start: number, end: number, mask: number, phase: number): number {
  const k0 = mask >>> 24,
    k1 = (mask >>> 16) & 0xff,
    k2 = (mask >>> 8) & 0xff,
    k3 = mask & 0xff;
  let p = phase & 3;
  if (nativeUnmask !== null && end - start >= NATIVE_MIN) {
    if (p === 0) {
      rotated[0] = k0;
      rotated[1] = k1;
      rotated[2] = k2;
      rotated[3] = k3;
    } else {
      rotateKey(mask, p);
    }
    // A whole view goes as it is (the receiver passes its payload view): no view made per call.
    nativeUnmask(start === 0 && end === buf.length ? buf : buf.subarray(start, end), rotated);
    return (p + end - start) & 3;
  }
  let i = start;
  if (end - start >= WORD_LOOP_MIN) {
    // Bytes up to a 4-aligned address
    while (((buf.byteOffset + i) & 3) !== 0) {
      buf[i] = buf[i]! ^ kAt(mask, p);
      i++;
      p = (p + 1) & 3;
    }
    const words = (end - i) >>> 2;
    const b0 = kAt(mask, p),
      b1 = kAt(mask, p + 1),
      b2 = kAt(mask, p + 2),
      b3 = kAt(mask, p + 3);
    const word = littleEndian ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    // Unrolled by 8: about 2.5× the speed of the plain loop in V8 (bench/README.md).
    const words8 = words & ~7;
    let w = 0;
    for (; w < words8; w += 8) {
      view[w] ^= word;
      view[w + 1] ^= word;
      view[w + 2] ^= word;
      view[w + 3] ^= word;
      view[w + 4] ^= word;
      view[w + 5] ^= word;
      view[w + 6] ^= word;
      view[w + 7] ^= word;
    }
    for (; w < words; w++) view[w] ^= word;
    i += words << 2;
  }
  // The short payload, or the tail of a long one
  for (; i < end; i++) {
    buf[i] = buf[i]! ^ (p === 0 ? k0 : p === 1 ? k1 : p === 2 ? k2 : k3);
    p = (p + 1) & 3;
  }
  return p;
}

/** Key byte `i` (mod 4) of a packed mask. */
function kAt(mask: number, i: number): number {
  return (mask >>> (24 - 8 * (i & 3))) & 0xff;
}

/**
 * Writes `src` XORed with `mask` from key byte `phase` into `dst` at `offset`, leaving `src` untouched: a client's
 * payload masked into its frame, or a received piece unmasked into the message it is gathered into. Returns the
 * phase after the last byte. With the native helper, one pass over the bytes (a copy, then an unmask, is two).
 */
export function maskInto(src: Uint8Array, dst: Uint8Array, offset: number, mask: number, phase = 0): number {
  const len = src.length;
  if (nativeMask !== null && len >= NATIVE_MIN) {
    nativeMask(src, rotateKey(mask, phase & 3), dst, offset, len);
    return (phase + len) & 3;
  }
  dst.set(src, offset);
  return unmask(dst, offset, offset + len, mask, phase);
}
