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
 * What holding one queued piece costs beyond the bytes it keeps (its ReceivedData and Buffer view:
 * ~50 to ~150 bytes of heap), counted in `bytes`: empty or 1-byte messages cost 2 to 7 octets on the
 * wire, so without it a peer could queue millions of them below `readHighWaterMark`.
 */
const PIECE_COST = 128;

/** The shared stand-ins for an empty queue's arrays: an idle connection holds none of its own. Frozen, so a push onto one fails loudly. */
const NONE: ReceivedData[] = Object.freeze([]) as unknown as ReceivedData[];
const NO_KEPT: Buffer[] = Object.freeze([]) as unknown as Buffer[];

export class ReadQueue {
  private q: ReceivedData[] = NONE;
  /** For each piece, the buffer it keeps: the read it is a view of, the accumulator it was gathered into, or its own. */
  private kept: Buffer[] = NO_KEPT;
  private head = 0;
  /**
   * The bytes the queue keeps, which `readHighWaterMark` bounds: the whole of each buffer its pieces
   * keep (a 1-byte message queued as a view of a 64 KiB read keeps all of it), once per run of
   * pieces that keep the same one (those of one read are queued one after the other), plus
   * `PIECE_COST` per piece.
   */
  bytes = 0;
  /** Whole messages queued (pieces with `fin`). */
  messages = 0;
  /** The accumulator of the message in progress, which its small pieces are gathered into (while it has room). */
  private acc: Buffer | null = null;
  private accLen = 0;
  /** The last piece is a view of `acc` from `accStart` to `accLen`: the next small piece extends it. */
  private accTail = false;
  private accStart = 0;

  get isEmpty(): boolean {
    return this.head === this.q.length;
  }

  /** Queues a piece; `from` is the read it is a view of (null: `data` is its own memory). */
  push(data: Buffer, fin: boolean, binary: boolean, from: Buffer | null = null): void {
    if (this.q === NONE) {
      this.q = [];
      this.kept = [];
    }
    const q = this.q;
    const n = data.length;
    const last = q.length - 1;
    const tail = last >= this.head ? q[last]! : undefined;
    if (n < SMALL_PIECE && tail !== undefined && !tail.fin) {
      // Small pieces of one message are gathered into one buffer, so that memory follows the
      // payload and not the number of pieces (a message trickled in 1-byte chunks or fragments),
      // also between its large pieces (a fresh buffer after each large one cost 16 KiB a byte).
      let extend = this.accTail;
      if (this.acc === null || this.acc.length - this.accLen < n) {
        this.acc = Buffer.allocUnsafe(ACCUMULATOR_SIZE);
        this.accLen = 0;
        extend = false;
      }
      if (!extend) this.accStart = this.accLen;
      data.copy(this.acc, this.accLen);
      this.accLen += n;
      const piece = new ReceivedData(this.acc.subarray(this.accStart, this.accLen), binary, fin);
      if (extend) {
        q[last] = piece;
      } else {
        if (this.kept[last] !== this.acc) this.bytes += ACCUMULATOR_SIZE;
        q.push(piece);
        this.kept.push(this.acc);
        this.bytes += PIECE_COST;
        this.accTail = true;
      }
    } else {
      this.accTail = false;
      const kept = from ?? data;
      if (tail === undefined || this.kept[last] !== kept) this.bytes += kept.length;
      q.push(new ReceivedData(data, binary, fin));
      this.kept.push(kept);
      this.bytes += PIECE_COST;
    }
    if (fin) {
      this.acc = null;
      this.accTail = false;
      this.messages++;
    }
  }

  /** The first piece; the queue must not be empty. */
  takePiece(): ReceivedData {
    const i = this.head++;
    const p = this.q[i]!;
    const kept = this.kept[i]!;
    this.q[i] = undefined as unknown as ReceivedData;
    this.kept[i] = undefined as unknown as Buffer;
    if (this.head === this.q.length) {
      this.q = NONE;
      this.kept = NO_KEPT;
      this.head = 0;
      this.acc = null;
      this.accTail = false;
      this.bytes -= kept.length;
    } else if (this.kept[this.head] !== kept) {
      this.bytes -= kept.length; // the last piece that kept it
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
