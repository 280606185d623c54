/** A raw peer over a TestLayer or a socket: collects every byte it receives, waits for conditions. */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { parseFrames, type WireFrame } from './frames.js';

export class RawPeer {
  ended = false;
  closed = false;
  private waiters: (() => void)[] = [];
  /** What `received` holds, and the chunks come since it was last read (joined then, not once per chunk). */
  #joined = Buffer.alloc(0);
  #pending: Buffer[] = [];
  /**
   * The frames after the response head parsed so far, and the chunks not parsed yet (`#unparsedBytes` long): each
   * byte is parsed once, however many waits look at the frames (a peer flooded with megabytes in 64 KiB chunks
   * re-parsed and copied everything it had on every chunk).
   */
  #frames: WireFrame[] | undefined;
  #unparsed: Buffer[] = [];
  #unparsedBytes = 0;

  constructor(readonly io: Duplex) {
    io.on('data', (d: Buffer) => {
      this.#pending.push(d);
      if (this.#frames) {
        this.#unparsed.push(d);
        this.#unparsedBytes += d.length;
      }
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

  /** Every byte received so far. */
  get received(): Buffer {
    if (this.#pending.length > 0) {
      this.#joined = Buffer.concat([this.#joined, ...this.#pending]);
      this.#pending = [];
    }
    return this.#joined;
  }

  /** Frames received after the response head (or from the start when there is none). */
  frames(): WireFrame[] {
    if (!this.#frames) {
      const received = this.received;
      const i = received.indexOf('\r\n\r\n');
      const http = received.subarray(0, 5).toString('latin1') === 'HTTP/';
      const start = http && i >= 0 ? i + 4 : 0;
      // Until the first five bytes say whether a head comes, and a head is whole, where frames start may still move.
      if (received.length < 5 || (http && i < 0)) return parseFrames(received.subarray(start)).frames;
      this.#frames = [];
      this.#unparsed = [received.subarray(start)];
      this.#unparsedBytes = received.length - start;
    }
    if (this.#unparsedBytes > 0 && this.#unparsedBytes >= this.#nextFrameBytes()) {
      const bytes = Buffer.concat(this.#unparsed);
      const { frames, rest } = parseFrames(bytes);
      this.#frames.push(...frames);
      this.#unparsed = rest.length > 0 ? [rest] : [];
      this.#unparsedBytes = rest.length;
    }
    return [...this.#frames];
  }

  /** How many unparsed bytes the next frame needs (header and payload), as far as its first bytes tell. */
  #nextFrameBytes(): number {
    const first = this.#unparsed[0]!.length >= 14 ? this.#unparsed[0]! : Buffer.concat(this.#unparsed).subarray(0, 14);
    if (first.length < 2) return 2;
    const len = first[1]! & 0x7f;
    const mask = first[1]! & 0x80 ? 4 : 0;
    if (len < 126) return 2 + mask + len;
    if (len === 126) return first.length < 4 ? 4 : 4 + mask + first.readUInt16BE(2);
    return first.length < 10 ? 10 : 10 + mask + Number(first.readBigUInt64BE(2));
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
