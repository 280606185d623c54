/**
 * Incremental UTF-8 validation (RFC 3629) for text that arrives in pieces. The bulk of each piece
 * goes to Node's `buffer.isUtf8`; only a sequence cut at a piece boundary is checked byte by byte,
 * so that an invalid prefix fails as soon as it is seen (RFC 6455 §8.1, "fail fast").
 */
import { isUtf8 } from 'node:buffer';

export class Utf8Validator {
  /** Continuation bytes still expected by the sequence in progress. */
  private need = 0;
  /** Allowed range of the next continuation byte (narrower after E0, ED, F0, F4). */
  private lo = 0x80;
  private hi = 0xbf;

  /** Validates the next piece; false as soon as the text can no longer be valid. */
  write(buf: Uint8Array, start = 0, end = buf.length): boolean {
    let i = start;
    while (this.need > 0 && i < end) {
      if (!this.step(buf[i]!)) return false;
      i++;
    }
    if (i >= end) return true;
    // Find where an incomplete sequence at the end of the piece starts.
    let tail = end;
    for (let j = end - 1, back = 0; j >= i && back < 4; j--, back++) {
      const b = buf[j]!;
      if ((b & 0xc0) === 0x80) continue;
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (end - j < len) tail = j;
      break;
    }
    if (tail > i && !isUtf8(buf.subarray(i, tail))) return false;
    for (let j = tail; j < end; j++) if (!this.step(buf[j]!)) return false;
    return true;
  }

  /** Whether the text ends on a whole character; resets for the next message. */
  end(): boolean {
    const ok = this.need === 0;
    this.reset();
    return ok;
  }

  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
  }

  private step(b: number): boolean {
    if (this.need > 0) {
      if (b < this.lo || b > this.hi) return false;
      this.need--;
      this.lo = 0x80;
      this.hi = 0xbf;
      return true;
    }
    if (b < 0x80) return true;
    if (b >= 0xc2 && b <= 0xdf) {
      this.need = 1;
      return true;
    }
    if (b === 0xe0) {
      this.need = 2;
      this.lo = 0xa0;
      return true;
    }
    if (b === 0xed) {
      this.need = 2;
      this.hi = 0x9f;
      return true;
    }
    if (b >= 0xe1 && b <= 0xef) {
      this.need = 2;
      return true;
    }
    if (b === 0xf0) {
      this.need = 3;
      this.lo = 0x90;
      return true;
    }
    if (b >= 0xf1 && b <= 0xf3) {
      this.need = 3;
      return true;
    }
    if (b === 0xf4) {
      this.need = 3;
      this.hi = 0x8f;
      return true;
    }
    return false;
  }
}
