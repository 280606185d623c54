/**
 * The close handshake of one stream (RFC 6455 §7): who closed first, what each side's close frame
 * said, the close timer, the operations waiting for the end, how the connection ended
 * (`CloseInfo`), and the one way to fail the connection. The stream makes it when a close starts
 * (or someone waits for the end), so an idle connection holds none of this.
 */
import { Buffer } from 'node:buffer';
import { WebSocketError } from '../errors.js';
import { CLOSE_ABNORMAL, encodeClosePayload } from '../proto/close-payload.js';
import type { Completion } from './completion.js';

/** How the connection ended. */
export interface CloseInfo {
  /** Who sent the first close frame, or 'abnormal' when the connection ended without one. */
  initiatedBy: 'local' | 'remote' | 'abnormal';
  /** The close code of the close handshake (1005 when the close frame had none), 1006 when abnormal. */
  code: number;
  reason: string;
  /** Whether both close frames were exchanged. */
  wasClean: boolean;
  /** The error that caused the end, if one did (a protocol violation, a next-layer failure, a timeout). */
  error?: WebSocketError;
}

/** What the close handshake needs of its stream. */
export interface CloseHost {
  /**
   * Queues our close frame: behind every message written before it, those still being compressed
   * too (`behindMessages`: the application's close and the answer to the peer's, so that no
   * accepted message is lost), then calls `queued`; or at once and handed on now (a failure).
   */
  queueClose(payload: Buffer, behindMessages: boolean, queued: () => void): void;
  /** Both close frames are exchanged: hand on what is queued; a server ends the connection first (§7.1.1). */
  closeExchanged(): void;
  /** Ends our sending side after what is queued. */
  endLayer(): void;
  destroyLayer(): void;
  /** Nothing more will be read: later reads fail with `err`. */
  endRead(err: WebSocketError): void;
}

export class CloseHandshake {
  /** Our close frame was decided (it may still wait behind messages being compressed). */
  sent = false;
  /** Our close frame is in the write queue, behind every message written before it. */
  private queued = false;
  /** closeExchanged() was called. */
  private exchanged = false;
  /** The peer's close frame arrived. */
  received = false;
  private firstCloser: 'local' | 'remote' | undefined;
  private sentCode = 0;
  private sentReason = '';
  /** What the peer's close frame said. */
  peer: { code: number; reason: string } | undefined;
  /** The peer's close payload as it came (a copy), which our answer echoes. */
  private peerPayload: Buffer | undefined;
  /** The first cause of an unclean end; later causes do not replace it. */
  failure: WebSocketError | undefined;
  /** How the connection ended, once the next layer is closed (or the handshake gave up). */
  info: CloseInfo | undefined;
  /** The end was reported (notify()): received messages still inflating at the end come before it. */
  reported = false;
  /** A close frame or a violation ended the input and our answer is not sent yet. */
  pendingEnd: 'close' | 'fail' | null = null;
  /** Bounds how long the answer to the peer's close waits for unread messages (cleared when the layer closes). */
  answerTimer: NodeJS.Timeout | null = null;
  private waiters: Completion<void>[] | null = null;
  private endWaiters: ((info: CloseInfo) => void)[] | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: CloseHost,
    private readonly timeoutMs: number,
  ) {}

  /** Our close frame was decided but the next layer failed before it was written: it never went. */
  lost = false;

  /** Both close frames were exchanged. */
  get complete(): boolean {
    return this.sent && this.received && !this.lost;
  }

  /** The application's close(): `c` completes when the layer is closed; our frame goes unless it went. */
  start(code: number, payload: Buffer, c: Completion<void>): void {
    (this.waiters ??= []).push(c);
    if (!this.sent) {
      this.record(code, payload.subarray(2).toString('utf8'));
      this.armTimer();
      this.queue(payload, true);
    } else {
      this.finishIfComplete();
    }
  }

  /** Our close frame is decided but still waits behind messages being compressed. */
  get waiting(): boolean {
    return this.sent && !this.queued;
  }

  /**
   * The peer's close frame (`payload` as received, code and reason). A peer whose frame came first
   * stays the first closer, whatever we send after.
   */
  peerClosed(code: number, reason: string, payload: Buffer): void {
    this.received = true;
    this.peer = { code, reason };
    // A copy: the frame is a view of a chunk the next layer may reuse.
    this.peerPayload = Buffer.from(payload);
    this.firstCloser ??= 'remote';
  }

  /**
   * The peer's close frame came behind a message that then failed to inflate (zlib is asynchronous,
   * so it was read first): the failure, found on the earlier frame, wins (RFC 6455 §5.4, frames take
   * effect in wire order), and the close frame is as if never read, as for an uncompressed message
   * that fails: the peer is no closer and the handshake is not complete.
   */
  overrulePeerClose(): void {
    if (!this.received) return;
    this.received = false;
    this.peer = undefined;
    this.peerPayload = undefined;
    this.firstCloser = this.sent ? 'local' : undefined;
  }

  /**
   * Answers the peer's close frame, echoing its payload byte for byte (RFC 6455 §5.5.1; ws does the
   * same), unless ours went already; a close without a code is answered without one. The bytes are
   * echoed, not re-encoded from the decoded reason: with UTF-8 validation off, an invalid reason
   * decodes to U+FFFD (3 bytes each) and would no longer fit in a close frame. The receiver checked
   * the code and size, so nothing here can throw. The answer goes behind the messages written
   * before it (as ws's does), then the handshake finishes.
   */
  answer(): void {
    if (this.sent) return this.finishIfComplete();
    // A close without a code (1005) came with no payload, so with no reason either.
    const { code, reason } = this.peer!;
    this.record(code, reason);
    this.queue(this.peerPayload!, true);
  }

  /** Both frames exchanged and ours queued: the host ends what it must, and the timer bounds the peer's part. */
  finishIfComplete(): void {
    if (!this.complete || !this.queued || this.exchanged) return;
    this.exchanged = true;
    this.host.closeExchanged();
    this.armTimer();
  }

  /**
   * Fails the WebSocket connection (RFC 6455 §7.1.7), the one path for every cause: `err` becomes
   * the failure (unless one is recorded), our close frame with `code` goes (unless one went, or
   * `mayClose` is false: no handshake done), reads end, and the layer is destroyed or ended.
   */
  fail(err: WebSocketError, code: number, reason: string, teardown: 'destroy' | 'end', mayClose = true): void {
    this.failure ??= err;
    if (!this.sent && mayClose) this.send(code, reason);
    this.host.endRead(this.failure);
    if (teardown === 'destroy') {
      this.host.destroyLayer();
    } else {
      this.host.endLayer();
      this.armTimer();
    }
  }

  /** The handshake failed: the connection ends abnormally with `err`. Call `notify()` after. */
  abandon(err: WebSocketError): void {
    this.failure = err;
    this.info = { initiatedBy: 'abnormal', code: CLOSE_ABNORMAL, reason: '', wasClean: false, error: err };
  }

  /** Bounds the rest of the handshake by the close timeout: then the layer is destroyed (0: no limit, as for the other timeouts). */
  armTimer(): void {
    if (this.timer !== null || this.info !== undefined || this.timeoutMs === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      // After a complete close handshake, a peer slow to close the connection is no failure.
      if (!this.complete) {
        this.failure ??= new WebSocketError('ERR_WS_TIMEOUT', 'the close handshake did not complete');
        for (const c of this.waiters ?? []) c.fail(this.failure);
      }
      this.host.destroyLayer();
    }, this.timeoutMs);
  }

  /** The next layer is closed: how the connection ended. Call `notify()` after. */
  layerClosed(): CloseInfo {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.answerTimer !== null) clearTimeout(this.answerTimer);
    this.answerTimer = null;
    const clean = this.complete;
    if (!this.failure && !clean) this.failure = new WebSocketError('ERR_WS_EOF');
    const local = this.firstCloser === 'local';
    if (clean) {
      this.info = {
        initiatedBy: this.firstCloser!,
        code: local ? this.sentCode : this.peer!.code,
        reason: local ? this.sentReason : this.peer!.reason,
        wasClean: true,
        ...(this.failure ? { error: this.failure } : {}),
      };
    } else if (local && this.failure!.closeCode !== 0) {
      this.info = {
        initiatedBy: 'local',
        code: this.sentCode,
        reason: this.sentReason,
        wasClean: false,
        error: this.failure,
      };
    } else if (this.received) {
      // The peer's close frame came, ours never went (the layer closed while it waited behind
      // messages still inflating): the peer closed, with its code (RFC 6455 §7.1.5), not clean.
      this.info = {
        initiatedBy: 'remote',
        code: this.peer!.code,
        reason: this.peer!.reason,
        wasClean: false,
        error: this.failure,
      };
    } else {
      this.info = { initiatedBy: 'abnormal', code: CLOSE_ABNORMAL, reason: '', wasClean: false, error: this.failure };
    }
    return this.info;
  }

  /** The error of an unclean end, or null. */
  get endError(): WebSocketError | null {
    return this.failure && !this.complete ? this.failure : null;
  }

  /** Completes whoever waits for the end: whenClosed() first, then close(). */
  notify(): void {
    this.reported = true;
    const info = this.info!;
    const ends = this.endWaiters;
    this.endWaiters = null;
    if (ends !== null) for (const resolve of ends) resolve(info);
    const closers = this.waiters;
    this.waiters = null;
    if (closers === null) return;
    for (const c of closers) {
      if (info.wasClean) c.succeed();
      else c.fail(this.failure ?? new WebSocketError('ERR_WS_EOF'));
    }
  }

  /** Resolves with the CloseInfo once the layer is closed. */
  whenEnded(): Promise<CloseInfo> {
    return new Promise((resolve) => (this.endWaiters ??= []).push(resolve));
  }

  /** A failure's close frame: at once, ahead of messages still being compressed. */
  private send(code: number, reason: string): void {
    this.record(code, reason);
    this.queue(encodeClosePayload(code, reason), false);
  }

  private queue(payload: Buffer, behindMessages: boolean): void {
    this.host.queueClose(payload, behindMessages, () => {
      this.queued = true;
      this.finishIfComplete();
    });
  }

  private record(code: number, reason: string): void {
    this.sent = true;
    this.sentCode = code;
    this.sentReason = reason;
    this.firstCloser ??= 'local';
  }
}
