/** A raw WebSocket client over TCP for the conformance suite: sends exact bytes, reads frames back. */
import net from 'node:net';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync } from 'node:fs';
import { closeFrame, parseFrames, requestHead, type WireFrame } from '../support/frames.js';
import { connectHeaders } from '../support/h2-server.js';

/** What the server answered to a request it refused. */
export interface Refusal {
  status: number;
  head: string;
  body: string;
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  /** The bytes in `chunks`. */
  private chunked = 0;
  private frames: WireFrame[] = [];
  private headDone = false;
  /** The response head, when the server answered other than 101. */
  private refusal: Refusal | null = null;
  ended = false;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly sock: Duplex,
    private readonly session?: http2.ClientHttp2Session,
  ) {
    if (sock instanceof net.Socket) sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.chunked += d.length;
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

  /** The extended CONNECT request of RFC 8441, with headers to override (null removes one). */
  private static h2Request(port: number, over: Record<string, string | null>) {
    const session = http2.connect(`https://localhost:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const headers: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries({ ...connectHeaders(port), ...over })) if (v !== null) headers[k] = v;
    const req = session.request(headers);
    const response = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
      // A stream reset without an error (NO_ERROR) and no response must not leave us waiting.
      req.once('close', () => reject(new Error(`the stream closed with no response (RST_STREAM ${req.rstCode})`)));
    });
    return { session, req, response };
  }

  /** Over HTTP/2 (RFC 8441): an extended CONNECT stream on a TLS connection of its own; no HTTP/1.1 head. */
  static async connectH2(port: number): Promise<RawClient> {
    const { session, req, response } = RawClient.h2Request(port, {});
    const res = await response;
    if (Number(res[':status']) !== 200) {
      session.close();
      throw new Error(`extended CONNECT refused: ${String(res[':status'])}`);
    }
    const c = new RawClient(req, session);
    c.headDone = true;
    return c;
  }

  /** An extended CONNECT the server must refuse: its status and body (the session is closed after). */
  static async refusedH2(port: number, over: Record<string, string | null>): Promise<Refusal> {
    const { session, req, response } = RawClient.h2Request(port, over);
    try {
      const res = await response;
      const head = Object.entries(res)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join('\r\n');
      const status = Number(res[':status']);
      // Not refused after all (a 2xx opened a WebSocket, whose stream stays open): told at once, not waited on.
      if (status < 300) return { status, head, body: '' };
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      // The server's side ends after the body (the stream closes only once ours ends too).
      await new Promise((r) => req.once('end', r));
      return { status, head, body: Buffer.concat(chunks).toString() };
    } finally {
      session.close();
    }
  }

  static async connect(port: number, headers: Record<string, string | null> = {}): Promise<RawClient> {
    const c = await RawClient.open(port);
    c.sock.write(requestHead(headers, 'GET / HTTP/1.1'));
    await c.until(() => c.headDone || c.refusal || c.ended, 'the 101 response');
    if (!c.headDone) {
      c.destroy();
      throw new Error(`handshake refused: ${c.refusal?.head ?? 'the connection ended'}`);
    }
    return c;
  }

  /** A TCP connection on which nothing was sent yet. */
  static async open(port: number): Promise<RawClient> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return new RawClient(sock);
  }

  /**
   * Sends `request` (bytes of an HTTP request) on a new connection, and waits for the server to
   * refuse it: the response (anything but 101) and the end of the connection.
   */
  static async refused(port: number, request: string | Uint8Array): Promise<Refusal> {
    const c = await RawClient.open(port);
    try {
      c.sock.write(request);
      await c.until(() => c.headDone || c.ended, 'the response and the end of the connection');
      if (c.headDone) throw new Error('the server answered 101');
      if (!c.refusal) throw new Error(`the connection ended with no response (${c.buf.length} bytes)`);
      // The body, as far as the connection carried it.
      return { ...c.refusal, body: c.buf.toString() };
    } finally {
      c.destroy();
    }
  }

  private wake(): void {
    // Joined once the next frame can be whole: a large frame comes in many chunks, and joining
    // (and parsing) at each one copied it over and over (seconds for 16 MiB over HTTP/2).
    if (this.chunks.length && !(this.headDone && this.buf.length + this.chunked < frameSize(this.buf))) {
      this.buf = Buffer.concat([this.buf, ...this.chunks]);
      this.chunks = [];
      this.chunked = 0;
    }
    if (!this.headDone && !this.refusal) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i >= 0) {
        const head = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + 4);
        if (head.startsWith('HTTP/1.1 101 ')) this.headDone = true;
        else this.refusal = { status: Number(head.split(' ')[1]), head, body: '' };
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

  /**
   * Waits until `cond` holds, re-checked on every event. No timer: a message may take long on a
   * loaded machine, and a wait that never ends is failed by the test runner's timeout.
   */
  until<T>(cond: () => T | false | undefined | null, _what: string): Promise<T> {
    return new Promise((resolve) => {
      const check = (): void => {
        const v = cond();
        if (v) resolve(v);
        else this.waiters.push(check);
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

  /**
   * The next data message, joined from its frames. A control frame before it is returned as it
   * comes (as the "message"); one between its fragments is an error, never skipped.
   */
  async nextMessage(): Promise<{ opcode: number; payload: Buffer }> {
    const first = await this.next('a message');
    if (first.opcode >= 8 || first.fin) return { opcode: first.opcode, payload: first.payload };
    const parts = [first.payload];
    for (;;) {
      const f = await this.next('a continuation');
      if (f.opcode >= 8) throw new Error(`a control frame (opcode ${f.opcode}) between the fragments of a message`);
      parts.push(f.payload);
      if (f.fin) return { opcode: first.opcode, payload: Buffer.concat(parts) };
    }
  }

  /**
   * Waits for the server's close frame and the end of the connection. Returns the close code (1005
   * for none) and every frame that came before the close frame, none skipped; a frame after the
   * close frame is an error. With `answer`, the close frame is answered (with its code), as a
   * client does, and the server ends the connection then; else it ends it at its close timeout.
   */
  async expectClose({ answer = false } = {}): Promise<{ code: number; before: WireFrame[] }> {
    const before: WireFrame[] = [];
    for (;;) {
      const f = await this.next('a close frame');
      if (f.opcode !== 8) {
        before.push(f);
        continue;
      }
      if (answer) this.send(closeFrame(f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined));
      await this.until(() => this.ended, 'the server to close the TCP connection');
      if (this.frames.length > 0) {
        throw new Error(`the server sent ${this.frames.length} frame(s) after its close frame`);
      }
      return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, before };
    }
  }

  destroy(): void {
    this.sock.destroy();
    this.session?.close();
  }
}

/** The size of the frame that `buf` begins with, header included; 0 while its header is incomplete. */
function frameSize(buf: Buffer): number {
  if (buf.length < 2) return 0;
  const len7 = buf[1]! & 0x7f;
  const mask = buf[1]! & 0x80 ? 4 : 0;
  if (len7 < 126) return 2 + mask + len7;
  if (len7 === 126) return buf.length < 4 ? 0 : 4 + mask + buf.readUInt16BE(2);
  return buf.length < 10 ? 0 : 10 + mask + Number(buf.readBigUInt64BE(2));
}

/**
 * Servers started and not yet stopped. Killed when this process exits, also when the test runner
 * ends it (SIGTERM, after a timeout), where no `after` hook runs: no server outlives its test file.
 */
const running = new Set<ChildProcess>();
const killRunning = (): void => {
  for (const p of running) p.kill('SIGKILL');
};
process.once('exit', killRunning);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killRunning();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}

/** A process of a server started here, still running: its pid, and a line that says what it is. */
export interface ProcessLeft {
  pid: number;
  line: string;
}

/** Tells the servers started here apart: each one's processes carry its tag in their environment. */
const SERVER_TAG = 'WS_STREAM_TEST_SERVER';
let serversStarted = 0;

/**
 * The processes (not yet reaped zombies left out) whose environment has `NAME=value`, each with its
 * state, its parent and its command line (from /proc: Linux).
 */
export function processesWithEnv(name: string, value: string): ProcessLeft[] {
  const want = `\0${name}=${value}\0`;
  const found: ProcessLeft[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = `\0${readFileSync(`/proc/${entry}/environ`, 'latin1')}`;
      if (!environ.includes(want)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After "pid (comm) ": the state, then the parent's pid.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const worker = /\0NODE_UNIQUE_ID=(\d+)\0/.exec(environ)?.[1];
      const what = worker === undefined ? '' : `cluster worker ${worker}, `;
      found.push({ pid: Number(entry), line: `pid ${entry} (${what}state ${state}, parent ${ppid}): ${args}` });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** A `ws-stream serve` child process started by startServer. */
export interface StartedServer {
  port: number;
  proc: ChildProcess;
  /**
   * Sends SIGINT; resolves once the server and every process of it are gone: its `--workers`
   * workers share its stdout, which closes when the last of them exits.
   */
  stop(): Promise<void>;
  /** Its processes still running (the primary, its workers), for a teardown that does not end. */
  left(): ProcessLeft[];
}

/** Starts `ws-stream serve` as a child process on a free port. */
export async function startServer(args: string[] = []): Promise<StartedServer> {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const tag = `${process.pid}-${++serversStarted}`;
  const proc = spawn(process.execPath, [main, 'serve', '--port', '0', '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, [SERVER_TAG]: tag },
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const stdoutClosed = new Promise<void>((resolve) => proc.stdout!.once('close', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /wss?:\/\/(?:\[[^\]]+\]|[^:/]+):(\d+)\//.exec(out); // (an IPv6 host in brackets)
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`ws-stream serve exited with ${code}: ${out}`)));
  });
  return {
    port,
    proc,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGINT');
        await exited;
      }
      await stdoutClosed;
    },
    left: () => processesWithEnv(SERVER_TAG, tag),
  };
}

/**
 * Runs a teardown's steps in turn, each one even if a step before it failed (a failed check must
 * not leave servers running: their processes would keep the test file from ever ending); the first
 * failure is thrown once every step has run. Then no process of the server may be left (`left()`):
 * one that is fails the teardown, naming each, and is killed, so that the test file ends with that
 * failure rather than at the runner's timeout.
 */
export async function teardownOrReport(steps: (() => unknown)[], left: () => ProcessLeft[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  const processes = left();
  for (const p of processes) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (failures.length > 0) throw failures[0];
  if (processes.length > 0) {
    throw new Error(
      `teardown ended with processes of the server still running (now killed):\n${processes
        .map((p) => `  ${p.line}`)
        .join('\n')}`,
    );
  }
}
