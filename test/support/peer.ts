/** A raw peer over a TestLayer or a socket: collects every byte it receives, waits for conditions. */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { parseFrames, type WireFrame } from './frames.js';

export class RawPeer {
  received = Buffer.alloc(0);
  ended = false;
  closed = false;
  private waiters: (() => void)[] = [];

  constructor(readonly io: Duplex) {
    io.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      this.wake();
    });
    io.on('end', () => {
      this.ended = true;
      io.end();
      this.wake();
    }); // as a TCP peer answers a FIN
    io.on('close', () => {
      this.closed = true;
      this.wake();
    });
    io.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(bytes: Uint8Array | string): void {
    this.io.write(bytes);
  }

  /**
   * Waits until `cond` holds, re-checked on every event. No timer: a wait that never ends is ended
   * by the test runner's timeout (a fixed limit fails a correct test on a loaded machine).
   */
  until<T>(cond: () => T | undefined | false): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const v = cond();
        if (v) resolve(v);
        else this.waiters.push(check);
      };
      check();
    });
  }

  /** The HTTP response head received, once complete. */
  responseHead(): Promise<{ status: number; head: string; rest: Buffer }> {
    return this.until(() => {
      const i = this.received.indexOf('\r\n\r\n');
      if (i < 0) return undefined;
      const head = this.received.subarray(0, i).toString('latin1');
      return { status: Number(head.split(' ')[1]), head, rest: this.received.subarray(i + 4) };
    });
  }

  /** Frames received after the response head (or from the start when there is none). */
  frames(): WireFrame[] {
    const i = this.received.indexOf('\r\n\r\n');
    const start = this.received.subarray(0, 5).toString('latin1') === 'HTTP/' && i >= 0 ? i + 4 : 0;
    return parseFrames(this.received.subarray(start)).frames;
  }

  /** Waits for `n` frames. */
  waitFrames(n: number): Promise<WireFrame[]> {
    return this.until(() => {
      const f = this.frames();
      return f.length >= n ? f : undefined;
    });
  }

  waitClosed(): Promise<true> {
    return this.until(() => (this.closed || this.ended ? true : undefined));
  }
}

/**
 * Resolves once `bytes` more bytes have come out of `layer` as 'data' events: after the stream
 * reading that layer (whose listener came first) has seen them. For "let it all arrive" without a sleep.
 */
export function delivered(layer: Duplex, bytes: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onData = (d: Buffer): void => {
      seen += d.length;
      if (seen >= bytes) {
        layer.off('data', onData);
        resolve();
      }
    };
    layer.on('data', onData);
  });
}

/**
 * Everything `socket` receives after `request` (latin1), until the other side closes the connection.
 * A reset is such a close too: a server that drops a connection while bytes of ours are still on
 * their way makes its kernel answer them with one (ECONNRESET here, then 'close').
 */
export function exchange(socket: Duplex, request?: string | Buffer): Promise<string> {
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  const closed = closedEvenIfReset(socket);
  if (request !== undefined) socket.write(request);
  return closed.then(() => got);
}

/**
 * Resolves on `connection`'s 'close' (a socket, or an HTTP/2 session), whether or not an 'error'
 * came first: for a connection the server drops, where a reset from its kernel (our bytes still on
 * their way) is part of a correct drop. `once(connection, 'close')` rejects on that 'error'.
 */
export function closedEvenIfReset(connection: EventEmitter): Promise<void> {
  connection.on('error', () => {});
  return new Promise((resolve) => connection.once('close', () => resolve()));
}
