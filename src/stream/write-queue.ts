/**
 * What has been written and not yet handed to the next layer: frames in order with the
 * completions that wait on them. Taking a batch joins small buffers (one write call, one copy)
 * and passes large payloads as they are (no copy).
 */
import type { WebSocketError } from '../errors.js';
import { pushFrame } from '../proto/sender.js';
import type { Callback, Completion } from './completion.js';

/** Whoever waits for queued bytes to be handed on: a callback or an operation's completion. */
export type Waiter = Callback<void> | Completion<void>;

export function noopWaiter(): void {}

export function settle(w: Waiter, err: WebSocketError | null): void {
  if (typeof w === 'function') w(err);
  else if (err) w.fail(err);
  else w.succeed();
}

/** Batches at most this large are joined into one buffer before writing: one write call, one copy. */
const COALESCE_MAX = 64 * 1024;
/** In a larger batch, buffers under this size are joined with their neighbours; larger ones are passed as they are. */
const JOIN_BELOW = 8 * 1024;

const EMPTY = Buffer.alloc(0);

/** Shared stand-ins for a queue's empty arrays: an idle connection holds none of its own. Frozen, so a push onto one fails loudly. */
const NO_BUFS: Buffer[] = Object.freeze([]) as unknown as Buffer[];
const NO_WAITERS: Waiter[] = Object.freeze([]) as unknown as Waiter[];

export class WriteQueue {
  private bufs: Buffer[] = NO_BUFS;
  private waiters: Waiter[] = NO_WAITERS;
  /** Bytes queued. */
  bytes = 0;
  /** Frames are masked (the client role). */
  mask = false;

  /** Buffers queued (positions for `withdraw`). */
  get length(): number {
    return this.bufs.length;
  }

  frame(opcode: number, payload: Buffer, fin: boolean, rsv1 = false): void {
    if (this.bufs === NO_BUFS) this.bufs = [];
    this.bytes += pushFrame(this.bufs, opcode, payload, fin, rsv1, this.mask);
  }

  raw(bytes: Buffer): void {
    if (this.bufs === NO_BUFS) this.bufs = [];
    this.bufs.push(bytes);
    this.bytes += bytes.length;
  }

  /** Adds a waiter for what was queued before it; returns its slot. */
  wait(w: Waiter): number {
    if (this.waiters === NO_WAITERS) this.waiters = [];
    return this.waiters.push(w) - 1;
  }

  /** Withdraws buffers [first, last) and the waiter in `slot`: they will not be written. */
  withdraw(first: number, last: number, slot: number): void {
    for (let i = first; i < last; i++) {
      this.bytes -= this.bufs[i]!.length;
      this.bufs[i] = EMPTY;
    }
    this.waiters[slot] = noopWaiter;
  }

  /** Takes everything queued: the buffers to write as one batch, and their waiters. */
  take(): { bufs: Buffer[]; waiters: Waiter[] } {
    let bufs = this.bufs;
    const bytes = this.bytes;
    const waiters = this.waiters;
    this.bufs = NO_BUFS;
    this.waiters = NO_WAITERS;
    this.bytes = 0;
    if (bytes === 0) bufs = [];
    else if (bufs.length > 1) bufs = bytes <= COALESCE_MAX ? [Buffer.concat(bufs, bytes)] : joinSmall(bufs);
    return { bufs, waiters };
  }

  /** Drops everything queued; returns the waiters, for the caller to fail. */
  drop(): Waiter[] {
    const waiters = this.waiters;
    this.bufs = NO_BUFS;
    this.waiters = NO_WAITERS;
    this.bytes = 0;
    return waiters;
  }
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
