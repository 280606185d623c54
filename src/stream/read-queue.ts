/**
 * What has been received and not yet read: message pieces in order, with whole messages counted,
 * so that `read()` takes a message (concatenating its pieces once) and `readSome()` a piece.
 */

import { Buffer } from 'node:buffer';

/** A message, or with `readSome()` a piece of one. */
export class ReceivedData {
  constructor(
    /** The payload: a view of received bytes, copied only when the message arrived in pieces. */
    readonly data: Buffer,
    /** Whether the message is binary (opcode 2) or text (opcode 1, valid UTF-8). */
    readonly binary: boolean,
    /** Whether this ends the message (always true from `read()`). */
    readonly fin: boolean,
  ) {}

  /** The payload decoded as UTF-8. */
  text(): string {
    return this.data.toString('utf8');
  }
}

/** Pieces under this size are gathered into an accumulator, so memory follows the payload. */
const SMALL_PIECE = 1024;
const ACCUMULATOR_SIZE = 16 * 1024;
/**
 * What holding one queued piece costs beyond the memory it keeps (its ReceivedData and Buffer view:
 * ~50 to ~150 bytes of heap), counted in `bytes`: empty or 1-byte messages cost 2 to 7 octets on the
 * wire, so without it a peer could queue millions of them below `readHighWaterMark`.
 */
const PIECE_COST = 128;

/** The shared stand-in for an empty queue's array: an idle connection holds none of its own. Frozen, so a push onto it fails loudly. */
const NONE: ReceivedData[] = Object.freeze([]) as unknown as ReceivedData[];

export class ReadQueue {
  private q: ReceivedData[] = NONE;
  private head = 0;
  /**
   * The memory the queue keeps, which `readHighWaterMark` bounds: the whole of each buffer its pieces
   * are views of (a 1-byte message handed out as a view of a 64 KiB read keeps all 64 KiB), counted
   * once per run of pieces over the same buffer (the pieces of one read are queued one after the
   * other), plus `PIECE_COST` per piece.
   */
  bytes = 0;
  /** Whole messages queued (pieces with `fin`). */
  messages = 0;
  /** The last piece is a small-piece accumulator with room left. */
  private acc: Buffer | null = null;
  private accLen = 0;

  get isEmpty(): boolean {
    return this.head === this.q.length;
  }

  push(data: Buffer, fin: boolean, binary: boolean): void {
    if (this.q === NONE) this.q = [];
    const q = this.q;
    const n = data.length;
    const tail = q.length > this.head ? q[q.length - 1]! : undefined;
    if (n < SMALL_PIECE && tail !== undefined && !tail.fin) {
      // Small pieces of one message are gathered into one buffer, so that memory follows the
      // payload and not the number of pieces (a message trickled in 1-byte chunks or fragments).
      if (this.acc === null || this.acc.length - this.accLen < n) {
        this.acc = Buffer.allocUnsafe(ACCUMULATOR_SIZE);
        this.accLen = 0;
        q.push(tail); // a slot, replaced below
        this.bytes += this.acc.buffer.byteLength + PIECE_COST;
      }
      data.copy(this.acc, this.accLen);
      this.accLen += n;
      q[q.length - 1] = new ReceivedData(this.acc.subarray(0, this.accLen), binary, fin);
    } else {
      this.acc = null;
      const kept = data.buffer;
      if (tail === undefined || tail.data.buffer !== kept) this.bytes += kept.byteLength;
      q.push(new ReceivedData(data, binary, fin));
      this.bytes += PIECE_COST;
    }
    if (fin) {
      this.acc = null;
      this.messages++;
    }
  }

  /** The first piece; the queue must not be empty. */
  takePiece(): ReceivedData {
    const p = this.q[this.head]!;
    this.q[this.head++] = undefined as unknown as ReceivedData;
    const kept = p.data.buffer;
    // The last piece of its run: what it was a view of is kept no more.
    if (this.head === this.q.length || this.q[this.head]!.data.buffer !== kept) this.bytes -= kept.byteLength;
    if (this.head === this.q.length) {
      this.q = NONE;
      this.head = 0;
      this.acc = null;
    }
    this.bytes -= PIECE_COST;
    if (p.fin) this.messages--;
    return p;
  }

  /** The first whole message, its pieces joined; `messages` must be above 0. */
  takeMessage(): ReceivedData {
    const first = this.takePiece();
    if (first.fin) return first;
    const parts = [first.data];
    let total = first.data.length;
    for (;;) {
      const p = this.takePiece();
      parts.push(p.data);
      total += p.data.length;
      if (p.fin) return new ReceivedData(Buffer.concat(parts, total), first.binary, true);
    }
  }
}
