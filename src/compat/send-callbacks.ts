/**
 * The callbacks of `send`, `ping` and `pong`, answered as ws answers them. ws writes each frame to
 * the socket at once, or queues it behind a message being compressed, so its callbacks come in the
 * order of the calls: `null` once the socket took the frame, the socket's own error for a write it
 * refused, and, when the socket goes while a message is being compressed, "The socket was closed
 * while data was being compressed" for that message and every call queued behind it. Each answer
 * waits for those of the calls before it.
 */
import type { WebSocketError } from '../errors.js';
import { compressingClosedError, streamDestroyedError } from './errors.js';

type SendCallback = (err?: Error | null) => void;

type Settle = (err: WebSocketError | null) => void;

/** A call whose frame is not written yet. */
interface PendingSend {
  cb: SendCallback | undefined;
  /** What the callback gets, once known; undefined while the frame waits. */
  result: Error | null | undefined;
  /** Where its frame starts among the bytes queued for the next write (-1: not known). */
  start: number;
  /** The turn it was made in (frames queued in one turn go out in one write at its end). */
  turn: number;
  /** A message ws would compress. */
  compressed: boolean;
  /**
   * With permessage-deflate, ws would queue it behind a message being compressed (it is one, or one
   * was still being compressed when it was made): the socket's going fails it with "… being
   * compressed"; ws writes any other frame at once (the socket's own answer).
   */
  behind: boolean;
}

/**
 * Calls a send, ping or pong callback. What it throws is thrown again on the next tick, an uncaught
 * exception as in ws (whose callbacks each come from a write callback of the socket's): thrown from
 * here, it would cut short the answers of the calls behind it and the stream's own bookkeeping of the
 * write (a connection then never emitted 'close').
 */
export function answer(cb: SendCallback, result: Error | null): void {
  try {
    cb(result);
  } catch (err) {
    process.nextTick(rethrow, err);
  }
}

function rethrow(err: unknown): never {
  throw err;
}

/** The turn of the event loop, counted (a tick ends it): tells which calls share the queued write. */
let turn = 0;
let turnEnds = false;

function endTurn(): void {
  turn++;
  turnEnds = false;
}

function thisTurn(): number {
  if (!turnEnds) {
    turnEnds = true;
    process.nextTick(endTurn);
  }
  return turn;
}

export class SendCallbacks {
  /** The calls not answered yet, oldest first from `head`; null when none. */
  private pending: PendingSend[] | null = null;
  private head = 0;
  /** Calls not answered yet whose message ws would compress. */
  compressing = 0;

  /** `deflate`: permessage-deflate was agreed. */
  constructor(private readonly deflate: boolean) {}

  /**
   * The callback to give the stream for a call whose answer is `cb` (none: it only keeps the
   * order). `start`: where its frame will start among the bytes queued for the next write.
   */
  track(cb: SendCallback | undefined, start = -1, compressed = false): Settle {
    const behind = compressed || this.compressing > 0;
    if (compressed) this.compressing++;
    const p: PendingSend = { cb, result: undefined, start, turn: start < 0 ? -1 : thisTurn(), compressed, behind };
    (this.pending ??= []).push(p);
    return (err) => this.settle(p, err);
  }

  private settle(p: PendingSend, err: WebSocketError | null): void {
    if (p.result !== undefined) return; // answered already, when the connection closed
    if (p.compressed) this.compressing--;
    p.result = err === null ? null : this.writeError(err, p);
    // Answers the calls at the head whose frames are done (a callback may make new calls).
    let q = this.pending;
    while (q !== null && q[this.head]!.result !== undefined) {
      const first = q[this.head++]!;
      if (this.head === q.length) {
        this.pending = null;
        this.head = 0;
      }
      if (first.cb !== undefined) answer(first.cb, first.result as Error | null);
      q = this.pending;
    }
  }

  /** What ws's callback gets for a frame the stream could not write. */
  private writeError(err: WebSocketError, p: PendingSend): Error {
    // The socket's own error (ERR_STREAM_DESTROYED for a write queued behind one in flight, EPIPE, …).
    const cause = err.cause as (Error & { code?: unknown }) | undefined;
    if (err.code === 'ERR_WS_NEXT_LAYER' && cause instanceof Error && typeof cause.code === 'string') return cause;
    return this.deflate && p.behind ? compressingClosedError() : streamDestroyedError();
  }

  /**
   * terminate() handed this turn's `queued` bytes to the socket in one write, and the socket took
   * only the first `accepted` of them before it is destroyed. ws writes each frame on its own: the
   * first frame the socket did not take whole stays in flight (null, as Node answers a write cut
   * by destroy()), and those behind it never reach the socket (ERR_STREAM_DESTROYED): so here.
   */
  refuseUnwritten(accepted: number, queued: number): void {
    const q = this.pending;
    if (q === null) return;
    for (let i = this.head; i < q.length; i++) {
      const p = q[i]!;
      if (p.result === undefined && p.turn === turn && p.start > accepted && p.start < queued)
        p.result = streamDestroyedError();
    }
  }

  /**
   * The frames queued in this turn were handed to the socket before its end (a message too large to
   * copy goes at once, and what was queued before it with it): none of them is among the bytes
   * terminate() hands over, so none is refused there.
   */
  handedOver(): void {
    const q = this.pending;
    if (q === null) return;
    for (let i = this.head; i < q.length; i++) if (q[i]!.turn === turn) q[i]!.start = -1;
  }

  /**
   * The connection closed: every call still waiting is answered now. What waits then waits behind
   * a message being compressed (the others were written, or refused by the socket, before it
   * closed): with permessage-deflate ws answers it and every call after it with one error.
   */
  failAll(): void {
    const q = this.pending;
    if (q === null) return;
    const from = this.head;
    this.pending = null;
    this.head = 0;
    this.compressing = 0;
    const shared = this.deflate ? compressingClosedError() : null;
    for (let i = from; i < q.length; i++) {
      const p = q[i]!;
      p.result = (p.behind ? shared : null) ?? p.result ?? streamDestroyedError();
      if (p.cb !== undefined) answer(p.cb, p.result);
    }
  }
}
