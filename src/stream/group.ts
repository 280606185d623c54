/**
 * Graceful shutdown for servers built on ws-stream: a group of streams (open, or still in their
 * handshake) that can be closed together — stop accepting, send close 1001 to every stream (to one
 * still handshaking once it opens), wait up to a deadline, tear down the rest.
 */
import { WebSocketError } from '../errors.js';
import { checkInt, checkOptionsObject, hasMethods } from '../options.js';
import { CLOSE_NO_STATUS, encodeClosePayload } from '../proto/close-payload.js';
import { addClosedListener, type ClosedListener, WebSocketStream, whenHandshakeDone } from './websocket-stream.js';

export interface ShutdownOptions {
  /** Close code sent to every stream. Default 1001 (going away). */
  code?: number;
  /** Close reason. Default 'server shutting down'. */
  reason?: string;
  /** How long to wait for the close handshakes, in ms, before destroying what is left. Default 5000. */
  deadline?: number;
  /** A server to stop accepting connections first (anything with `close()`). */
  server?: { close(): unknown };
}

export interface ShutdownResult {
  /** Streams whose close handshake completed. */
  closed: number;
  /** The others: destroyed at the deadline, or lost without a close handshake (the peer reset or ended the connection). */
  destroyed: number;
}

export class StreamGroup {
  private readonly streams = new Set<WebSocketStream>();
  /** What a stream tells when it closes: an object of its own, so the class shows no internal member. */
  readonly #listener: ClosedListener = { streamClosed: (ws) => this.streams.delete(ws) };
  /**
   * How each shutdown still running closes a stream, which also closes one added meanwhile (a handshake
   * that completes during the shutdown must not open a stream that nobody closes). One per shutdown: the
   * first of two to end must not leave the other's added streams open.
   */
  readonly #closing = new Set<(ws: WebSocketStream) => void>();

  /**
   * Adds a stream; it leaves the group by itself once closed. One whose handshake is still running (added right
   * after `accept()` returned) or not begun yet is closed by a shutdown once that handshake completes.
   */
  add(ws: WebSocketStream): WebSocketStream {
    if (!(ws instanceof WebSocketStream)) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'a StreamGroup holds WebSocketStreams');
    }
    if (ws.closeInfo !== undefined || this.streams.has(ws)) return ws; // closed, or already held: nothing to do
    this.streams.add(ws);
    // Told directly, without a Promise per stream; a stream in a second group goes by whenClosed().
    if (!addClosedListener(ws, this.#listener)) void ws.whenClosed().then(() => this.streams.delete(ws));
    for (const close of this.#closing) close(ws);
    return ws;
  }

  get size(): number {
    return this.streams.size;
  }

  async shutdown(options: ShutdownOptions = {}): Promise<ShutdownResult> {
    checkOptionsObject(options);
    // Each option read once (a getter may answer differently each time): what is checked is what is used.
    const { server, code = 1001, reason = 'server shutting down', deadline = 5000 } = options;
    if (server !== undefined && !hasMethods(server, ['close'])) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'server must have a close() method');
    }
    // Checked before anything stops: a bad code or reason would fail every close() after the server stopped accepting.
    encodeClosePayload(code === CLOSE_NO_STATUS ? undefined : code, reason);
    checkInt('deadline', deadline, 0, 2 ** 31 - 1);
    server?.close();
    const all: WebSocketStream[] = [];
    const results: Promise<unknown>[] = [];
    // close() succeeds only when the close handshake completed: a stream lost meanwhile (a reset, a FIN) has a
    // closeInfo too, but not a completed handshake.
    const handshakeDone = new Set<WebSocketStream>();
    const closeNow = (ws: WebSocketStream): Promise<unknown> =>
      ws.close({ code, reason }).then(
        () => handshakeDone.add(ws),
        () => {},
      );
    const close = (ws: WebSocketStream): void => {
      all.push(ws);
      results.push(
        new Promise((settled) => {
          // A stream whose WebSocket handshake still runs cannot take a close (nor be disturbed): it is closed
          // once that handshake completes; one that fails ends it, and the deadline destroys one still running.
          let opened = false;
          const waiting = whenHandshakeDone(ws, () => {
            opened = true;
            settled(closeNow(ws));
          });
          if (!waiting) settled(closeNow(ws));
          else
            void ws.whenClosed().then(() => {
              if (!opened) settled(undefined);
            });
        }),
      );
    };
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadline);
    });
    for (const ws of this.streams) close(ws);
    this.#closing.add(close);
    // Until every close completed, those of streams added meanwhile too, or the deadline.
    let waited = 0;
    while (waited < results.length) {
      const batch = results.length;
      if ((await Promise.race([Promise.all(results.slice(waited)).then(() => true), expired])) !== true) break;
      waited = batch;
    }
    this.#closing.delete(close);
    clearTimeout(timer);
    for (const ws of all) if (!ws.closeInfo) ws.nextLayer.destroy();
    return { closed: handshakeDone.size, destroyed: all.length - handshakeDone.size };
  }
}
