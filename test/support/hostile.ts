/**
 * Hostile peers over real sockets, for the hostile-*.test.ts files: servers in both fronts
 * (`net` + `accept()`, node:http + `accept(req, { head })`) that record how each connection ended,
 * a raw attacker that sends exact bytes and reads back everything until the server closes, and a
 * fake server that answers a client's upgrade request with whatever a test writes.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { type CloseInfo, type StreamOptions, WebSocketStream, computeAccept } from '../../src/index.js';
import { closeFrame, parseFrames, ping, requestHead, type WireFrame } from './frames.js';
import { closedEvenIfReset } from './peer.js';

/** How one connection ended on the server. */
export interface Outcome {
  /** 'ok', or the code accept() failed with. */
  accept: string;
  /** Messages read (as text), in order. */
  messages: string[];
  /** The code reads ended with (ERR_WS_CLOSED after a clean close). */
  readError?: string;
  info?: CloseInfo;
}

export interface RecordingServer {
  port: number;
  /** The outcome of the next connection to end (in the order they end), none skipped. */
  next(): Promise<Outcome>;
  /** Connections that ended and were not taken with next() yet. */
  readonly pending: number;
  /** Connections the server was handed so far (one reset before the server took it never is). */
  readonly connections: number;
  /** Resolves once the server was handed `n` connections in all. */
  connected(n: number): Promise<void>;
}

/** Echoes every message read, records the outcome; one Promise per connection, queued in order of ending. */
function recorder(): {
  record(ws: WebSocketStream, accepted: Promise<void>): void;
  server: Omit<RecordingServer, 'port'>;
} {
  const done: Outcome[] = [];
  let connections = 0;
  const counted: [number, () => void][] = [];
  const waiting: ((o: Outcome) => void)[] = [];
  const push = (o: Outcome): void => {
    const w = waiting.shift();
    if (w) w(o);
    else done.push(o);
  };
  return {
    record(ws, accepted) {
      connections++;
      for (let i = counted.length - 1; i >= 0; i--) {
        if (counted[i]![0] <= connections) counted.splice(i, 1)[0]![1]();
      }
      accepted.then(
        async () => {
          const o: Outcome = { accept: 'ok', messages: [] };
          try {
            for await (const m of ws) {
              o.messages.push(m.data.toString());
              ws.write(m.data, { binary: m.binary }).catch(() => {});
            }
            o.readError = 'ERR_WS_CLOSED';
          } catch (e) {
            o.readError = (e as { code: string }).code;
          }
          o.info = await ws.whenClosed();
          push(o);
        },
        (e: { code: string }) => push({ accept: e.code, messages: [] }),
      );
    },
    server: {
      next: () => {
        const o = done.shift();
        return o ? Promise.resolve(o) : new Promise((resolve) => waiting.push(resolve));
      },
      get pending() {
        return done.length;
      },
      get connections() {
        return connections;
      },
      connected: (n) =>
        n <= connections ? Promise.resolve() : new Promise<void>((resolve) => counted.push([n, resolve])),
    },
  };
}

type After = { after(fn: () => unknown): void };
const MiB = 1 << 20;

/** `net` + `accept()` (the stream reads the request). `allowHalfOpen` as node:http's sockets have it. */
export async function netServer(
  t: After,
  options: StreamOptions = {},
  { allowHalfOpen = false } = {},
): Promise<RecordingServer> {
  const { record, server } = recorder();
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const ws = new WebSocketStream(socket, options);
    record(ws, ws.accept());
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return Object.assign(server, { port: (srv.address() as net.AddressInfo).port });
}

/** node:http + `accept(req, { head })` on its `'upgrade'` event. */
export async function httpServer(t: After, options: StreamOptions = {}): Promise<RecordingServer> {
  const { record, server } = recorder();
  // A request node:http does not take for an upgrade (no `Connection: upgrade`) goes to accept() too,
  // as an application that answers every request on this path with a WebSocket would hand it over.
  const srv = http.createServer((req) => {
    const ws = new WebSocketStream(req.socket, options);
    record(ws, ws.accept(req));
  });
  srv.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const ws = new WebSocketStream(socket, options);
    record(ws, ws.accept(req, { head }));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return Object.assign(server, { port: (srv.address() as net.AddressInfo).port });
}

/** What the server sent on one connection, until it closed it. */
export interface Exchange {
  /** The response head (without its CRLF CRLF), or everything when no head ended. */
  head: string;
  /** The status of the response, 0 for none. */
  status: number;
  /** Frames after a 101 (unmasked), and what followed the head of any other response. */
  frames: WireFrame[];
  body: Buffer;
  /**
   * After a 101, the bytes behind the last whole frame: a frame the server began and the connection
   * ended inside of (a truncated frame), empty when every frame came whole.
   */
  cut: Buffer;
}

/** The close code of a close frame (1005 for none), or null when `f` is no close frame. */
export function closeCodeOf(f: WireFrame | undefined): number | null {
  if (f === undefined || f.opcode !== 8) return null;
  return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
}

/**
 * Connects, writes `chunks` (each its own write; `perByte`: one byte per write, a turn of the loop
 * between), then ends its side with `end` (a FIN), or resets the connection (`reset`) once the
 * last write was handed on, and reads everything until the server closes the connection (or,
 * with `untilClose`, until its close frame). Rejects when the server's last frame came cut off
 * (see `Exchange.cut`), unless `cutAllowed`: for a test that resets the connection itself (its
 * reset can land while the server writes a frame, and then the cut is not the server's doing).
 * A FIN of ours, or the server ending the connection, never excuses a cut frame.
 */
export async function attack(
  port: number,
  chunks: (string | Buffer)[],
  {
    perByte = false,
    end = false,
    reset = false,
    untilClose = false,
    closeIfOpened = false,
    cutAllowed = false,
    before,
  }: {
    perByte?: boolean;
    end?: boolean;
    reset?: boolean;
    untilClose?: boolean;
    closeIfOpened?: boolean;
    cutAllowed?: boolean;
    /** Awaited once everything is written, before the FIN or the reset. */
    before?: () => Promise<void>;
  } = {},
): Promise<Exchange> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const got: Buffer[] = [];
  let opened = false;
  socket.on('data', (d: Buffer) => {
    got.push(d);
    // `closeIfOpened`: a request answered 101 is followed by our close frame, so that the server ends it.
    if (closeIfOpened && !opened && parseExchange(Buffer.concat(got)).status === 101) {
      opened = true;
      socket.write(closeFrame(1000));
    }
    // `untilClose`: a server that waits for our close frame (ws does, 30 s) is not waited for.
    if (untilClose && closeCodeOf(parseExchange(Buffer.concat(got)).frames.at(-1)) !== null) socket.destroy();
  });
  // Ends on 'close' after a reset too: a server that drops the connection while bytes of ours are on
  // their way makes its kernel answer with one; what came before it is judged (a cut frame included).
  const closed = closedEvenIfReset(socket);
  await once(socket, 'connect');
  for (const c of chunks) {
    const bytes = Buffer.from(c);
    if (!perByte) {
      socket.write(bytes);
      continue;
    }
    for (let i = 0; i < bytes.length; i++) {
      if (socket.destroyed) break;
      socket.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
  }
  if (before) await before();
  if (reset) socket.write(Buffer.alloc(0), () => socket.resetAndDestroy());
  else if (end) socket.end();
  await closed;
  const ex = parseExchange(Buffer.concat(got));
  if (ex.cut.length > 0 && !cutAllowed) {
    const whole = ex.frames.map((f) => f.opcode).join(',');
    throw new Error(
      `the server's last frame was cut off: ${ex.cut.length} bytes (${ex.cut.subarray(0, 16).toString('hex')}…) after ${ex.frames.length} whole frames (opcodes ${whole})`,
    );
  }
  return ex;
}

/** Splits what a server sent into its response head and, after a 101, its frames and any cut-off tail. */
export function parseExchange(all: Buffer): Exchange {
  const at = all.indexOf('\r\n\r\n');
  const none = Buffer.alloc(0);
  if (at < 0) return { head: all.toString('latin1'), status: 0, frames: [], body: none, cut: none };
  const head = all.subarray(0, at).toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const body = all.subarray(at + 4);
  if (status !== 101) return { head, status, frames: [], body, cut: none };
  const { frames, rest } = parseFrames(body);
  return { head, status, frames, body, cut: rest };
}

/**
 * A server that reads a client's upgrade request and calls `respond` with the socket, the right
 * `Sec-WebSocket-Accept` for its key, and the request head. Sockets left open are destroyed after the test.
 */
export async function fakeServer(
  t: After,
  respond: (socket: net.Socket, accept: string, request: string) => void,
  { allowHalfOpen = false } = {},
): Promise<{ port: number; url: string }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let request = '';
    const onData = (d: Buffer): void => {
      request += d.toString('latin1');
      const end = request.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const key = /^Sec-WebSocket-Key: (.*)$/im.exec(request)?.[1] ?? '';
      respond(socket, computeAccept(key.trim()), request.slice(0, end + 4));
    };
    socket.on('data', onData);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  const port = (srv.address() as net.AddressInfo).port;
  return { port, url: `ws://127.0.0.1:${port}/` };
}

/** A 101 response with the right accept value and `extra` header lines ("Name: value\r\n" each). */
export function response101(accept: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${extra}\r\n`;
}

/**
 * Calls `onFrames` with each batch of whole frames `socket` receives after the server's response
 * head (for a client that reads while it keeps writing, where `attack()` reads only at the end).
 */
export function onFramesAfterHead(socket: net.Socket, onFrames: (frames: WireFrame[]) => void): void {
  let got: Buffer = Buffer.alloc(0);
  let headSeen = false;
  socket.on('data', (d: Buffer) => {
    got = got.length === 0 ? d : Buffer.concat([got, d]);
    if (!headSeen) {
      const at = got.indexOf('\r\n\r\n');
      if (at < 0) return;
      headSeen = true;
      got = got.subarray(at + 4);
    }
    const { frames, rest } = parseFrames(got);
    got = rest;
    if (frames.length > 0) onFrames(frames);
  });
}

/**
 * Opens `count` connections that each send part of `request` and then reset, end, or fall silent
 * (by turns); resolves once every one has closed. In batches of 100, each connected before the
 * next: past the listen backlog, a loaded machine drops SYNs and the kernel retries them for up to
 * two minutes.
 */
export async function abandonHandshakes(port: number, request: string, count: number): Promise<void> {
  const closed: Promise<unknown>[] = [];
  let connecting: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.resume();
    closed.push(closedEvenIfReset(socket));
    connecting.push(new Promise((r) => socket.once('connect', r).once('close', r)));
    socket.once('connect', () => {
      socket.write(request.slice(0, (i * 7) % request.length), () => {
        if (i % 3 === 0) socket.resetAndDestroy();
        else if (i % 3 === 1) socket.end();
        // else: silent, dropped at the handshake timeout
      });
    });
    if (i % 100 === 99) {
      await Promise.all(connecting);
      connecting = [];
    }
  }
  await Promise.all(closed);
}

/** Peak and current resident memory of a process, in bytes (Linux /proc). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/**
 * The server end of `socket`'s connection, as its kernel counts it (tcp_info through `ss`): the
 * bytes its process took from the connection so far, and those that wait there unread; the bytes
 * its process wrote to the connection so far (acknowledged by our end, or still in its send queue).
 */
export function serverEndOf(socket: net.Socket): { taken: number; unread: number; written: number } {
  const filter = `( sport = :${socket.remotePort} and dport = :${socket.localPort} )`;
  const row = execFileSync('ss', ['-tinHO', 'state', 'established', filter], { encoding: 'utf8' }).trim();
  if (row === '') throw new Error(`no connection ${socket.remotePort} → ${socket.localPort} in ss`);
  const [unread, queued] = row.split(/\s+/).map(Number) as [number, number]; // Recv-Q, Send-Q
  const received = Number(/\bbytes_received:(\d+)/.exec(row)?.[1] ?? 0);
  const acked = Number(/\bbytes_acked:(\d+)/.exec(row)?.[1] ?? 0);
  return { taken: received - unread, unread, written: acked + queued };
}

/**
 * Another connection to the server at `port` (upgraded), on which each `turn()` is a ping the
 * server reads and answers: a turn of the server process's event loop that began after the call.
 */
export async function serverTurns(port: number): Promise<{ turn(): Promise<void>; close(): void }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'connect');
  let pongs = 0;
  let wake = (): void => {};
  onFramesAfterHead(socket, (frames) => {
    pongs += frames.filter((f) => f.opcode === 10).length;
    wake();
  });
  socket.on('close', () => wake());
  socket.write(requestHead({}, 'GET / HTTP/1.1'));
  let sent = 0;
  return {
    turn: () => {
      const want = ++sent;
      socket.write(ping(String(want)));
      return new Promise<void>((resolve, reject) => {
        wake = (): void => {
          if (pongs >= want) resolve();
          else if (socket.destroyed) reject(new Error('the connection for server turns closed'));
        };
        wake();
      });
    },
    close: () => socket.destroy(),
  };
}

/**
 * Whether the server end of `socket`'s connection has stopped reading it: bytes wait there unread,
 * and what its process took stays put while that process answers `count` pings on another
 * connection (`turns`). No time is involved: the waiting bytes keep the socket readable, and epoll
 * reports every readable socket together, so a process still reading this one takes some of them
 * in the very loop turn that reads the first ping, however slow or loaded the machine.
 */
export async function serverStoppedReading(
  socket: net.Socket,
  turns: { turn(): Promise<void> },
  count = 3,
): Promise<boolean> {
  const before = serverEndOf(socket);
  for (let i = 0; i < count; i++) await turns.turn();
  return before.unread > 0 && serverEndOf(socket).taken === before.taken;
}

/**
 * Writes `message` on `socket` over and over until the server stops reading (`serverStoppedReading`)
 * or `limit` bytes went out: at least 1 MiB is kept queued on our side, and whenever it is, the
 * server is asked (a server that still reads drains that much over the asking, so a few hundred
 * asks take it to the limit).
 */
export async function floodUntilServerStopsReading(
  socket: net.Socket,
  message: Buffer,
  turns: { turn(): Promise<void> },
  limit: number,
): Promise<{ written: number; stopped: boolean }> {
  let written = 0;
  while (written < limit) {
    if (socket.destroyed) throw new Error(`the connection closed after ${written} bytes`);
    while (socket.writableLength < MiB && written < limit) {
      socket.write(message);
      written += message.length;
    }
    if (await serverStoppedReading(socket, turns)) return { written, stopped: true };
  }
  return { written, stopped: false };
}
