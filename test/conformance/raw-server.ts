/**
 * A raw WebSocket server over TCP for the client-role conformance tests (the counterpart of
 * raw-client.ts): it reads the client's upgrade request, then writes exactly the bytes a test gives
 * it and records every byte the client sends back, the client's FIN and the end of the connection.
 * Half-open is allowed, so a test sees whether the client ended its side before the server did
 * (RFC 6455 §7.1.1: the server closes the TCP connection first).
 */
import { once } from 'node:events';
import net from 'node:net';
import { computeAccept } from '../../src/index.js';
import { closeFrame, frame, parseFrames, type RawFrame, type WireFrame } from '../support/frames.js';

type After = { after(fn: () => unknown): void };

/** One connection as the server sees it. */
export class RawPeer {
  /** The request head, up to and without its final CRLF CRLF. */
  request = '';
  /** Request fields by lower-case name; repeated fields joined with ', '. */
  readonly headers: Record<string, string> = {};
  /** Every byte the client sent after its request head. */
  after: Buffer = Buffer.alloc(0);
  /** The client ended its side (a FIN). */
  clientEnded = false;
  /** The connection is gone (both ends, or a reset). */
  closed = false;
  /** The order of what happened: 'fin' (the client's), 'end' (ours), 'close'. */
  readonly events: string[] = [];
  private headDone = false;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      if (this.headDone) this.after = Buffer.concat([this.after, d]);
      else {
        buf = Buffer.concat([buf, d]);
        const at = buf.indexOf('\r\n\r\n');
        if (at >= 0) {
          this.request = buf.subarray(0, at).toString('latin1');
          for (const line of this.request.split('\r\n').slice(1)) {
            const i = line.indexOf(':');
            const k = line.slice(0, i).toLowerCase();
            const v = line.slice(i + 1).trim();
            this.headers[k] = k in this.headers ? `${this.headers[k]}, ${v}` : v;
          }
          this.after = buf.subarray(at + 4);
          this.headDone = true;
        }
      }
      this.wake();
    });
    socket.on('end', () => {
      this.clientEnded = true;
      this.events.push('fin');
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.events.push('close');
      this.wake();
    });
  }

  /** The Sec-WebSocket-Accept value for the client's key. */
  get accept(): string {
    return computeAccept(this.headers['sec-websocket-key'] ?? '');
  }

  /** A valid 101 with `extra` header lines ("Name: value\r\n" each). */
  ok(extra = ''): string {
    return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${this.accept}\r\n${extra}\r\n`;
  }

  /** The whole frames the client sent after its request (unmasked), and whether each was masked. */
  get frames(): WireFrame[] {
    return parseFrames(this.after).frames;
  }

  write(...chunks: (string | Buffer)[]): void {
    this.socket.write(Buffer.concat(chunks.map((c) => Buffer.from(c))));
  }

  /** Writes the bytes one per write, a turn of the event loop between writes. */
  async trickle(...chunks: (string | Buffer)[]): Promise<void> {
    const bytes = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    for (let i = 0; i < bytes.length && !this.socket.destroyed; i++) {
      this.socket.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Ends our side (a FIN), recording it in `events`. */
  end(): void {
    this.events.push('end');
    this.socket.end();
  }

  /** Resolves once `cond()` holds, checked after each thing the connection reports. */
  async until(cond: () => boolean, what: string): Promise<void> {
    while (!cond()) {
      if (this.closed) {
        if (cond()) return;
        throw new Error(`the connection closed before ${what} (got ${this.after.length} bytes)`);
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Resolves with the first `n` frames once they arrived. */
  async frameCount(n: number): Promise<WireFrame[]> {
    await this.until(() => this.frames.length >= n, `${n} frame(s)`);
    return this.frames;
  }

  /** Resolves once the connection is gone. */
  async whenClosed(): Promise<void> {
    if (!this.closed) await once(this.socket, 'close');
  }

  /** Resolves once the client ended its side or the connection is gone (ours stays open: half-open). */
  async clientDone(): Promise<void> {
    await this.until(() => this.clientEnded || this.closed, "the client's end");
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export interface RawServer {
  port: number;
  /** ws://127.0.0.1:port plus `path`. */
  url(path?: string): string;
  /** The next connection, once its request head arrived. */
  next(): Promise<RawPeer>;
}

/** Listens on a free port of 127.0.0.1; every socket is destroyed and the server closed after the test. */
export async function rawServer(t: After): Promise<RawServer> {
  const peers: RawPeer[] = [];
  const waiting: ((p: RawPeer) => void)[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
    const peer = new RawPeer(socket);
    peer
      .until(() => peer.request !== '', 'the request head')
      .then(
        () => {
          const w = waiting.shift();
          if (w) w(peer);
          else peers.push(peer);
        },
        () => {},
      );
  });
  const sockets = new Set<net.Socket>();
  srv.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  const port = (srv.address() as net.AddressInfo).port;
  return {
    port,
    url: (path = '/') => `ws://127.0.0.1:${port}${path}`,
    next: () => {
      const p = peers.shift();
      return p ? Promise.resolve(p) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** A frame as a server sends it: unmasked unless `mask` says otherwise. */
export function sframe(f: RawFrame): Buffer {
  return frame({ mask: false, ...f });
}

/** A server's close frame: the code (none when undefined) and the reason bytes. */
export function sclose(code?: number, reason: string | Uint8Array = '', o: Partial<RawFrame> = {}): Buffer {
  return closeFrame(code, reason, { mask: false, ...o });
}

/** The close code of a close frame (1005 for none). */
export function codeOf(f: WireFrame): number {
  return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
}
