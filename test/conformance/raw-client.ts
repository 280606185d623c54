/** A raw WebSocket client over TCP for the conformance suite: sends exact bytes, reads frames back. */
import net from 'node:net';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseFrames, requestHead, type WireFrame } from '../support/frames.js';

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private frames: WireFrame[] = [];
  private headDone = false;
  ended = false;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly sock: Duplex,
    private readonly session?: http2.ClientHttp2Session,
  ) {
    if (sock instanceof net.Socket) sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.wake();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  /** Over HTTP/2 (RFC 8441): an extended CONNECT stream on a TLS connection of its own; no HTTP/1.1 head. */
  static async connectH2(port: number): Promise<RawClient> {
    const session = http2.connect(`https://localhost:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const req = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/',
      ':authority': `localhost:${port}`,
      'sec-websocket-version': '13',
    });
    const res = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    if (Number(res[':status']) !== 200) throw new Error(`extended CONNECT refused: ${String(res[':status'])}`);
    const c = new RawClient(req, session);
    c.headDone = true;
    return c;
  }

  static async connect(port: number, headers: Record<string, string | null> = {}): Promise<RawClient> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawClient(sock);
    sock.write(requestHead(headers, 'GET / HTTP/1.1'));
    await c.until(() => c.headDone, 'the 101 response');
    return c;
  }

  private wake(): void {
    if (this.chunks.length) {
      this.buf = Buffer.concat([this.buf, ...this.chunks]);
      this.chunks = [];
    }
    if (!this.headDone) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i >= 0) {
        if (!this.buf.subarray(0, 12).toString().startsWith('HTTP/1.1 101'))
          throw new Error(`handshake refused: ${this.buf.subarray(0, i).toString()}`);
        this.headDone = true;
        this.buf = this.buf.subarray(i + 4);
      }
    }
    if (this.headDone) {
      const { frames, rest } = parseFrames(this.buf);
      this.frames.push(...frames);
      this.buf = rest;
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(bytes: Uint8Array): void {
    this.sock.write(bytes);
  }

  /** Sends bytes in pieces of `size`, each its own TCP segment (Nagle off, a turn of the loop between). */
  async sendInPieces(bytes: Uint8Array, size: number): Promise<void> {
    for (let i = 0; i < bytes.length; i += size) {
      this.sock.write(bytes.subarray(i, i + size));
      if (i % (size * 64) === 0) await new Promise((r) => setImmediate(r));
    }
  }

  until<T>(cond: () => T | false | undefined, what: string, ms = 10000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const check = (): void => {
        const v = cond();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** The next frame received (in order). */
  async next(what = 'a frame'): Promise<WireFrame> {
    await this.until(() => this.frames.length > 0 || this.ended, what);
    const f = this.frames.shift();
    if (!f) throw new Error(`connection ended while waiting for ${what}`);
    return f;
  }

  /** The next data message, joined from its frames (control frames before it are returned as they come). */
  async nextMessage(): Promise<{ opcode: number; payload: Buffer }> {
    const first = await this.next('a message');
    if (first.opcode >= 8 || first.fin) return { opcode: first.opcode, payload: first.payload };
    const parts = [first.payload];
    for (;;) {
      const f = await this.next('a continuation');
      if (f.opcode >= 8) continue;
      parts.push(f.payload);
      if (f.fin) return { opcode: first.opcode, payload: Buffer.concat(parts) };
    }
  }

  /** Waits for the server's close frame and the end of the connection; returns the close code (1005 for none). */
  async expectClose(): Promise<number> {
    for (;;) {
      const f = await this.next('a close frame');
      if (f.opcode === 8) {
        await this.until(() => this.ended, 'the server to close the TCP connection');
        return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
      }
    }
  }

  destroy(): void {
    this.sock.destroy();
    this.session?.close();
  }
}

/** Starts `ws-stream serve` as a child process on a free port. */
export async function startServer(
  args: string[] = [],
): Promise<{ port: number; proc: ChildProcess; stop(): Promise<void> }> {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const proc = spawn(process.execPath, [main, 'serve', '--port', '0', '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /wss?:\/\/[^:]+:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`ws-stream serve exited with ${code}: ${out}`)));
  });
  return {
    port,
    proc,
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGINT');
      }),
  };
}
