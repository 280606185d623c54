/**
 * What has been written and not yet handed to the next layer: frames in order with the
 * completions that wait on them. Taking a batch joins small buffers (one write call, one copy,
 * headers written in place) and passes large payloads as they are (no copy). A frame whose payload
 * the caller may change once the call returns is built at the call instead, its header and a copy of
 * its payload written straight into the batch being built (the one copy the join would have made):
 * the frames a queue builds one after the other are one run of bytes, written as it is. Prepared
 * frames (the same Buffers queued to many streams) that would wait in the next layer go as they are:
 * a stream that fell behind holds no copy of bytes every other stream shares.
 */
import { Buffer } from 'node:buffer';
import type { WebSocketError } from '../errors.js';
import { frameHeaderSize, writeFrameHeader } from '../proto/frame.js';
import { maskedFrame } from '../proto/sender.js';
import { type Callback, type Completion, callBack } from './completion.js';

/** Whoever waits for queued bytes to be handed on: a callback or an operation's completion. */
export type Waiter = Callback<void> | Completion<void>;

export function noopWaiter(): void {}

export function settle(w: Waiter, err: WebSocketError | null): void {
  if (typeof w === 'function') callBack(w, err);
  else if (err) w.fail(err);
  else w.succeed();
}

/** Batches at most this large are joined into one buffer before writing: one write call, one copy. */
const COALESCE_MAX = 64 * 1024;
/** In a larger batch, buffers under this size are joined with their neighbours; larger ones are passed as they are. */
const JOIN_BELOW = 8 * 1024;
/**
 * In a server batch that would wait in the next layer (`passOn`), raw buffers under this size are
 * joined with their neighbours: each buffer passed on costs the layer a write entry of about this
 * size (Node's Writable), more than its copy would.
 */
const PASS_FROM = 128;

const EMPTY = Buffer.alloc(0);

/** Shared stand-ins for a queue's empty arrays: an idle connection holds none of its own. Frozen, so a push onto one fails loudly. */
const NO_BUFS: Buffer[] = Object.freeze([]) as unknown as Buffer[];
const NO_HEADS: number[] = Object.freeze([]) as unknown as number[];
export const NO_WAITERS: Waiter[] = Object.freeze([]) as unknown as Waiter[];

/** In `heads`: the entry is an unmasked frame's payload whose header is written when the batch is taken. */
const HAS_HEADER = 0x100;
/** In `heads`: the entry is a run of frames built at the call (`frame(…, copy)`): raw bytes, but no other stream's. */
const BUILT = 0x200;
const FIN = 0x80;
const RSV1 = 0x40;

/**
 * The last batch made of raw entries only, and what was written for it. Raw entries are prepared
 * frames, frames queued again for the same data (`frameAgain`), handshake heads and masked frames:
 * Buffers nobody changes once queued, so a batch of the same Buffers in the same order is the same
 * bytes. The subscribers of a topic queue the same prepared frames in one turn: they share one
 * joined Buffer (one copy per turn, not per stream).
 * Forgotten once the current tick queue has drained (a microtask), so it holds nothing for long.
 */
let sharedSources: Buffer[] | null = null;
let sharedOut: Buffer[] = NO_BUFS;

function forgetShared(): void {
  sharedSources = null;
  sharedOut = NO_BUFS;
}

export class WriteQueue {
  /** What to send, in order: bytes as they are, or (per `heads`) an unmasked frame's payload. */
  private bufs: Buffer[] = NO_BUFS;
  /** For each entry of `bufs`: 0, BUILT, or HAS_HEADER | FIN | RSV1 | opcode for its header. */
  private heads: number[] = NO_HEADS;
  private waiters: Waiter[] = NO_WAITERS;
  /** Entries that are this queue's alone (payloads whose header is written when the batch is taken, frames built at the call); 0: the batch may be shared. */
  private own = 0;
  /** Bytes queued. */
  bytes = 0;
  /** Frames are masked (the client role). */
  mask = false;
  /**
   * The frames built at the call since the last other entry: bytes [runStart, runEnd) of `run` (the
   * build slab they were written into), not yet an entry; null when none.
   */
  private run: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  /** Entries queued (a run of frames built at the call counts as one). */
  get length(): number {
    return this.run === null ? this.bufs.length : this.bufs.length + 1;
  }

  /** The position of what is queued next, for `withdraw` (what is built after it is an entry of its own). */
  mark(): number {
    this.endRun();
    return this.bufs.length;
  }

  /**
   * Queues a frame. An unmasked frame keeps its payload as it is and has its header written when
   * the batch is taken, straight into the joined buffer (no header buffer per frame), unless `copy`
   * (a payload of at most COPY_MAX bytes that the caller may change once the call returns): then it
   * is built now, into the build slab. A masked one is built now, as its payload is masked into a copy.
   */
  frame(opcode: number, payload: Buffer, fin: boolean, rsv1 = false, copy = false): void {
    if (this.mask) this.push(maskedFrame(opcode, payload, fin, rsv1), 0);
    else if (copy && payload.length > 0) this.build(opcode, payload, fin, rsv1);
    else this.push(payload, HAS_HEADER | (fin ? FIN : 0) | (rsv1 ? RSV1 : 0) | opcode);
  }

  raw(bytes: Buffer): void {
    this.push(bytes, 0);
  }

  /**
   * Queues a whole message (final, unmasked, not compressed) made from `source`, the caller's data
   * (`payload` is its bytes), and remembers it for `frameAgain` (see `BuiltMessage`): built now as
   * `frame(…, copy)` builds, or, larger than COPY_MAX (a string's bytes, made for this call and
   * nobody else's), its payload as it is.
   */
  frameOnce(source: unknown, opcode: number, payload: Buffer): void {
    if (payload.length > COPY_MAX) {
      this.frame(opcode, payload, true);
      remember({ source, opcode, slab: null, at: 0, payloadAt: 0, end: 0, payload, frame: null, used: builtClock++ });
      // A large payload is not kept past this turn's work.
      queueMicrotask(forgetBuilt);
      return;
    }
    const payloadAt = this.build(opcode, payload, true, false);
    const at = payloadAt - frameHeaderSize(payload.length, false);
    const end = buildUsed;
    remember({ source, opcode, slab: buildSlab, at, payloadAt, end, payload: null, frame: null, used: builtClock++ });
  }

  /**
   * Queues a message `frameOnce` built this turn again (`built`, from `builtMessageOf`): its frame's
   * very bytes (the same Buffer as every other stream's), or, when its payload is kept as it is,
   * that payload with a header of this queue's.
   */
  frameAgain(built: BuiltMessage): void {
    const slab = built.slab;
    if (slab === null) this.frame(built.opcode, built.payload!, true);
    else this.push((built.frame ??= slab.subarray(built.at, built.end)), 0);
  }

  /**
   * Writes the frame into the build slab: it extends this queue's run when it lands right after it, else starts one.
   * Returns where its payload starts in `buildSlab`.
   */
  private build(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean): number {
    const size = frameHeaderSize(payload.length, false) + payload.length;
    if (buildSlab === null || buildUsed + size > SLAB_SIZE) {
      buildSlab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      buildUsed = 0;
    }
    const at = buildUsed;
    const payloadAt = at + writeFrameHeader(buildSlab, at, opcode, fin, rsv1, payload.length);
    buildSlab.set(payload, payloadAt);
    buildUsed = at + size;
    this.bytes += size;
    if (this.run === buildSlab && this.runEnd === at) {
      this.runEnd = at + size;
      return payloadAt;
    }
    this.endRun();
    this.run = buildSlab;
    this.runStart = at;
    this.runEnd = at + size;
    return payloadAt;
  }

  /** The run of frames built at the call becomes an entry: what is queued after it goes after it. */
  private endRun(): void {
    const run = this.run;
    if (run === null) return;
    this.run = null;
    this.add(run.subarray(this.runStart, this.runEnd), BUILT);
  }

  private push(buf: Buffer, head: number): void {
    this.endRun();
    this.add(buf, head);
    this.bytes += entrySize(buf, head);
  }

  /** Appends an entry (its bytes counted by the caller). */
  private add(buf: Buffer, head: number): void {
    if (this.bufs === NO_BUFS) {
      // Made holding the first entry: most flushes write one frame, and a literal of one is made
      // in place (an empty array grows on its first push, a runtime call).
      this.bufs = [buf];
      this.heads = [head];
    } else {
      this.bufs.push(buf);
      this.heads.push(head);
    }
    if (head !== 0) this.own++;
  }

  /**
   * Adds a waiter for what was queued before it; returns its slot. `noopWaiter` is not kept (slot
   * -1): a frame nobody waits for (a prepared frame sent to many streams, say) costs no entry.
   */
  wait(w: Waiter): number {
    if (w === noopWaiter) return -1;
    if (this.waiters === NO_WAITERS) this.waiters = [];
    return this.waiters.push(w) - 1;
  }

  /** Withdraws entries [first, last) and the waiter in `slot`: they will not be written. */
  withdraw(first: number, last: number, slot: number): void {
    for (let i = first; i < last; i++) {
      const head = this.heads[i]!;
      this.bytes -= entrySize(this.bufs[i]!, head);
      if (head !== 0) this.own--;
      this.bufs[i] = EMPTY;
      this.heads[i] = 0;
    }
    if (slot >= 0) this.waiters[slot] = noopWaiter;
  }

  /** Takes everything queued: the buffers to write as one batch, and their waiters. */
  take(): { bufs: Buffer[]; waiters: Waiter[] } {
    const waiters = this.waiters;
    const bufs = this.batch();
    this.drop();
    return { bufs, waiters };
  }

  /** Whoever waits for what is queued (for a caller that takes `batch()` and then lets the queue go). */
  get waiting(): Waiter[] {
    return this.waiters;
  }

  /**
   * Everything queued as the buffers to write in one batch; what is queued stays as it is.
   * `backedUp`: the next layer still holds bytes written before, so these would wait in its buffer.
   */
  batch(backedUp = false): Buffer[] {
    this.endRun();
    const { bufs, heads, bytes, own } = this;
    if (bytes === 0) return [];
    // One buffer as it is (a prepared frame, a handshake's head, a frame built at the call).
    if (bufs.length === 1 && (heads[0]! & HAS_HEADER) === 0) return bufs;
    // Server role: raw entries are prepared frames that other streams hold too. Joined, they would
    // wait in the layer as this stream's own copy when it is backed up, or when the batch is more
    // than the OS takes at once (a subscriber that fell behind has a batch of its own, shared with
    // none): they go as they are. (A client's are its own masked copies.)
    if (!this.mask && (backedUp || bytes > COALESCE_MAX))
      return (own === 0 && sharedJoinOf(bufs)) || passOn(bufs, heads);
    if (own === 0) return joinShared(bufs, heads, bytes);
    if (bytes <= COALESCE_MAX) return [join(bufs, heads, bytes)];
    return joinSmall(withHeaders(bufs, heads));
  }

  /** Drops everything queued; returns the waiters, for the caller to fail. */
  drop(): Waiter[] {
    const waiters = this.waiters;
    this.bufs = NO_BUFS;
    this.heads = NO_HEADS;
    this.waiters = NO_WAITERS;
    this.own = 0;
    this.bytes = 0;
    this.run = null;
    return waiters;
  }
}

/** Bytes an entry puts on the wire: its header (if it still needs one) and its buffer. */
function entrySize(buf: Buffer, head: number): number {
  return (head & HAS_HEADER) !== 0 ? frameHeaderSize(buf.length, false) + buf.length : buf.length;
}

/** Writes the unmasked header that `head` describes, for a payload of `length` bytes; returns its size. */
function writeHeader(out: Buffer, pos: number, head: number, length: number): number {
  return writeFrameHeader(out, pos, head & 0x0f, (head & FIN) !== 0, (head & RSV1) !== 0, length);
}

/** Joins are carved out of slabs of this size, one after the other (as Buffer's own pool does for small buffers). */
const SLAB_SIZE = 256 * 1024;
let slab: ArrayBufferLike | null = null;
let slabUsed = 0;

/**
 * Room for a join of `bytes` (at most COALESCE_MAX): a view into the current slab, so that a flush
 * makes no ArrayBuffer of its own (each one is a native allocation and external memory that wakes
 * the garbage collector). A slab is freed once no view into it is left.
 */
function joinBuffer(bytes: number): Buffer {
  if (slab === null || slabUsed + bytes > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE).buffer; // not zero-filled (new ArrayBuffer is: 256 KiB of memset)
    slabUsed = 0;
  }
  const out = Buffer.from(slab, slabUsed, bytes);
  slabUsed = (slabUsed + bytes + 7) & ~7; // 8-byte aligned, as the pool keeps its views
  return out;
}

/** Payloads of at most this many bytes are copied into a frame built at the call (`frame(…, copy)`): no larger than a join. */
export const COPY_MAX = COALESCE_MAX - 4;

/**
 * Where frames are built at the call, one after the other (a queue's run is a view of it, made when
 * the batch is taken: no Buffer per frame). A slab is freed once no view into it is left.
 */
let buildSlab: Buffer | null = null;
let buildUsed = 0;

/**
 * A message a server stream queued with `frameOnce`: the caller's data it was made from, and where
 * its frame lies in a build slab (null: its payload is kept as it is, `payload`). The same data
 * written next to another stream in the same turn (a broadcast loop, `for (const c of clients)
 * c.send(msg)`, or engine.io's text packet and binary attachment per socket) is queued as these same
 * bytes: one copy and one frame for every stream, not one each. Built bytes never change (a slab is
 * only appended to), and a caller's Buffer is compared with them, so a Buffer changed since its last
 * send is built anew.
 */
export interface BuiltMessage {
  /** The caller's data; null once its bytes were found changed (never found again). */
  source: unknown;
  readonly opcode: number;
  readonly slab: Buffer | null;
  /** Where its frame starts, its payload starts, and both end in `slab`. */
  readonly at: number;
  readonly payloadAt: number;
  readonly end: number;
  /** Its payload: as it is when `slab` is null, else a view of the slab made on the first `builtMessageOf`. */
  payload: Buffer | null;
  /** A view of the frame, made on the first `frameAgain`. */
  frame: Buffer | null;
  /** When it was built or last found (`builtClock`): the least recent goes first. */
  used: number;
}

/** At most this many messages are remembered in a turn: engine.io sends a text packet and one per binary attachment. */
const BUILT_KEPT = 4;

/**
 * The messages built in this turn, at most BUILT_KEPT; null when none. Made anew each turn (and after
 * each chunk a stream answers at its end), so that it stays a young object: storing the caller's data
 * into it is a plain store, where into a long-lived object it takes V8's slow write barrier, about 200
 * instructions a message. Forgotten when the turn's streams flush, or the answering stream's at its
 * chunk's end (with a payload kept as it is, once the turn's microtasks have run): it holds nothing for long.
 */
let builtThisTurn: BuiltMessage[] | null = null;
/** Counts `BuiltMessage.used` within a turn. */
let builtClock = 0;

/** Remembers `message`, in place of the least recently used when BUILT_KEPT are. */
function remember(message: BuiltMessage): void {
  const built = builtThisTurn;
  if (built === null) {
    builtThisTurn = [message];
    return;
  }
  if (built.length < BUILT_KEPT) {
    built.push(message);
    return;
  }
  let oldest = 0;
  for (let i = 1; i < built.length; i++) if (built[i]!.used < built[oldest]!.used) oldest = i;
  built[oldest] = message;
}

/** Forgets the messages built this turn (see `builtThisTurn`). */
export function forgetBuilt(): void {
  builtThisTurn = null;
  builtClock = 0;
}

/**
 * The message `frameOnce` queued this turn from `data` as an `opcode` message, when `bytes` (the
 * caller's bytes now; null for a string, which cannot change) are still its payload's; else null.
 * For `frameAgain`; its `payload` is set.
 */
export function builtMessageOf(data: unknown, bytes: Buffer | null, opcode: number): BuiltMessage | null {
  const built = builtThisTurn;
  if (built === null || data === null) return null;
  for (let i = built.length - 1; i >= 0; i--) {
    const m = built[i]!;
    if (m.source !== data || m.opcode !== opcode) continue;
    const slab = m.slab;
    if (slab !== null) {
      if (bytes !== null && (bytes.length !== m.end - m.payloadAt || bytes.compare(slab, m.payloadAt, m.end) !== 0)) {
        m.source = null; // changed since: built anew, in its place
        m.used = -1;
        return null;
      }
      m.payload ??= slab.subarray(m.payloadAt, m.end);
    }
    m.used = builtClock++;
    return m;
  }
  return null;
}

/** One buffer of `bytes` bytes: every entry, with the headers it needs written in place. */
function join(bufs: Buffer[], heads: number[], bytes: number): Buffer {
  const out = bytes < 4096 ? Buffer.allocUnsafe(bytes) : joinBuffer(bytes);
  let pos = 0;
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i]!;
    const h = heads[i]!;
    if ((h & HAS_HEADER) !== 0) pos += writeHeader(out, pos, h, b.length);
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/**
 * A batch of raw entries only (no header to write): what the last such batch made when it held the
 * same Buffers in the same order, else made now (and kept for the streams that follow in this turn).
 */
function joinShared(bufs: Buffer[], heads: number[], bytes: number): Buffer[] {
  const made = sharedJoinOf(bufs);
  if (made !== null) return made;
  const last = sharedSources;
  const out = bytes <= COALESCE_MAX ? [join(bufs, heads, bytes)] : joinSmall(bufs);
  if (last === null) queueMicrotask(forgetShared);
  sharedSources = bufs;
  sharedOut = out;
  return sharedOut.length === 1 ? [out[0]!] : out.slice();
}

/**
 * The entries for a next layer where they would wait a while (server role: it is backed up, or the
 * batch is more than the OS takes at once): raw entries of PASS_FROM bytes or more (prepared frames
 * that other streams hold too) as they are, payloads of JOIN_BELOW bytes or more as they are, the
 * rest joined in runs of at most about COALESCE_MAX bytes, headers written in place.
 */
function passOn(bufs: Buffer[], heads: number[]): Buffer[] {
  const out: Buffer[] = [];
  let runBufs: Buffer[] = [];
  let runHeads: number[] = [];
  let runBytes = 0;
  const endRun = (): void => {
    if (runBytes === 0) return;
    out.push(runBufs.length === 1 && runHeads[0] === 0 ? runBufs[0]! : join(runBufs, runHeads, runBytes));
    runBufs = [];
    runHeads = [];
    runBytes = 0;
  };
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i]!;
    const h = heads[i]!;
    if (b.length < (h === 0 ? PASS_FROM : JOIN_BELOW)) {
      const size = entrySize(b, h);
      if (size === 0) continue; // withdrawn
      runBufs.push(b);
      runHeads.push(h);
      runBytes += size;
      if (runBytes >= COALESCE_MAX) endRun();
      continue;
    }
    if ((h & HAS_HEADER) !== 0) {
      // The header ends the run; the payload goes as it is.
      const header = Buffer.allocUnsafe(frameHeaderSize(b.length, false));
      writeHeader(header, 0, h, b.length);
      runBufs.push(header);
      runHeads.push(0);
      runBytes += header.length;
    }
    endRun();
    out.push(b);
  }
  endRun();
  return out;
}

/** What the last batch of raw entries made, when it held the same Buffers in the same order as `bufs`; else null. */
function sharedJoinOf(bufs: Buffer[]): Buffer[] | null {
  const last = sharedSources;
  if (last === null || last.length !== bufs.length) return null;
  let i = 0;
  while (i < bufs.length && last[i] === bufs[i]) i++;
  if (i < bufs.length) return null;
  return sharedOut.length === 1 ? [sharedOut[0]!] : sharedOut.slice();
}

/** The entries as buffers, each header made as its own small buffer (for a batch too large to join whole). */
function withHeaders(bufs: Buffer[], heads: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i]!;
    const h = heads[i]!;
    if ((h & HAS_HEADER) !== 0) {
      const header = Buffer.allocUnsafe(frameHeaderSize(b.length, false));
      writeHeader(header, 0, h, b.length);
      out.push(header);
    }
    if (b.length > 0) out.push(b);
  }
  return out;
}

/** Joins runs of small buffers, so that a writev gets few entries and large payloads are not copied. */
function joinSmall(bufs: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let run: Buffer[] = [];
  let runBytes = 0;
  const endRun = (): void => {
    if (run.length === 1) out.push(run[0]!);
    else if (run.length > 1) out.push(Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const b of bufs) {
    if (b.length === 0) continue;
    if (b.length >= JOIN_BELOW) {
      endRun();
      out.push(b);
    } else {
      run.push(b);
      runBytes += b.length;
      if (runBytes >= COALESCE_MAX) endRun();
    }
  }
  endRun();
  return out;
}
