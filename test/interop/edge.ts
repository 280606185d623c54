/**
 * Shared by the edge-case interoperability tests: the payloads both sides make (the same function as
 * peers/edge_peer.py's), the Python peer's processes, and a configurable in-process ws-stream echo server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { after } from 'node:test';
import { WebSocketStream, type CloseInfo, type StreamOptions } from '../../src/index.js';
import { PYTHON, peerScript, startPeerServer } from './support.js';

/** Each 600-octet block is one 300-octet pattern twice: matches 300 back, past a 256-octet window. */
export function payload(size: number, seed: number, text: boolean): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    if (i % 600 === 0) x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const v = ((x >>> ((i % 300) % 24)) + (i % 300)) & 0xff;
    out[i] = text ? 0x61 + (v % 26) : v;
  }
  return out;
}

/** [type, length, sha1], as the peer reports a message. */
export function digest(data: Buffer, binary: boolean): [string, number, string] {
  return [binary ? 'binary' : 'text', data.length, crypto.createHash('sha1').update(data).digest('hex')];
}

export type PeerLib = 'websockets' | 'aiohttp';

/** What a Python client run reports. */
export interface ClientReport {
  peer: string;
  extensions?: string | null;
  protocol?: string | null;
  /** One per sent message: whether its echo came back equal. */
  echoes: boolean[];
  error: string | null;
  close_code?: number | null;
  close_reason?: string | null;
  /** After a `collect` step: every message received until the close, [type, length, sha1]. */
  collected?: [string, number, string][];
  /** aiohttp, after a command: the type of what it received next. */
  received?: string;
  /** aiohttp, after each raw frame: what it received next, [type, data (hex for bytes)]. */
  raw?: [string, unknown][];
}

export type Step =
  | { send: number; text?: boolean; seed?: number }
  | { close: number; reason_hex?: string }
  | { command: string }
  | { collect: string }
  | { fragments: number[]; seed?: number }
  | { raw: number; hex?: string; compress?: number; followed_by?: string };

export interface PeerConfig {
  /** websockets: a list of offers (client) or one server factory's options; aiohttp: [{ wbits }] or [] for on. */
  deflate?: Record<string, unknown>[] | Record<string, unknown> | null;
  protocols?: string[];
  max_size?: number;
  /** websockets client: a Sec-WebSocket-Extensions header of the test's own, sent as it is. */
  extensions_header?: string;
  steps?: Step[];
}

export function runPythonClient(lib: PeerLib, url: string, config: PeerConfig): Promise<ClientReport> {
  let clients = pythonClients.get(lib);
  if (!clients || clients.exited) pythonClients.set(lib, (clients = new PythonClients(lib)));
  return clients.run(url, config);
}

/**
 * The Python client process of one library, for every run of a test file: a run is a line on its
 * stdin, its report a line on its stdout, in turn. (A process per run paid a Python start-up, most
 * of a run's time.) Killed after the file's tests; one that exited fails the runs it had.
 */
class PythonClients {
  readonly #proc: ChildProcess;
  readonly #waiting: { resolve: (r: ClientReport) => void; reject: (e: Error) => void }[] = [];
  #rest = '';
  #err = '';
  exited = false;

  constructor(lib: PeerLib) {
    this.#proc = spawn(PYTHON, [peerScript('edge_peer.py'), `${lib}-client`], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#proc.stdout!.on('data', (d: Buffer) => {
      const lines = (this.#rest + d.toString()).split('\n');
      this.#rest = lines.pop()!;
      for (const line of lines) this.#waiting.shift()?.resolve(JSON.parse(line) as ClientReport);
    });
    this.#proc.stderr!.on('data', (d: Buffer) => {
      this.#err += d.toString();
    });
    this.#proc.stdin!.on('error', () => {}); // (written after it exited: the exit fails the run)
    this.#proc.once('exit', (code, signal) => {
      this.exited = true;
      const err = new Error(`${lib}-client exited (${code ?? signal}): ${this.#err}${this.#rest}`);
      for (const w of this.#waiting.splice(0)) w.reject(err);
    });
  }

  run(url: string, config: PeerConfig): Promise<ClientReport> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#proc.stdin!.write(`${url} ${JSON.stringify(config)}\n`);
    });
  }

  kill(): void {
    this.#proc.kill();
  }
}

const pythonClients = new Map<PeerLib, PythonClients>();
after(() => {
  for (const clients of pythonClients.values()) clients.kill();
});

/** One connection as a Python server saw it, reported when it ended. */
export interface ServerRecord {
  request_extensions: string | null;
  extensions: string | null;
  protocol: string | null;
  messages: [string, number, string][];
  close_code: number | null;
  close_reason: string | null;
  error: string | null;
}

export interface PythonServer {
  port: number;
  name: string;
  /** The record of the next connection to end (in the order they end). */
  next(): Promise<ServerRecord>;
  stop(): void;
}

/** A Python server for the test that calls it (stopped after it). */
export async function startPythonServer(lib: PeerLib, config: PeerConfig): Promise<PythonServer> {
  const server = await spawnPythonServer(lib, config);
  after(() => server.stop());
  return server;
}

/** A Python server that runs until its `stop()` (for tests that share one). */
export async function spawnPythonServer(lib: PeerLib, config: PeerConfig): Promise<PythonServer> {
  const peer = await startPeerServer(PYTHON, [peerScript('edge_peer.py'), `${lib}-server`, JSON.stringify(config)]);
  const records: ServerRecord[] = [];
  const waiting: ((r: ServerRecord) => void)[] = [];
  let rest = '';
  peer.proc.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as ServerRecord;
      const w = waiting.shift();
      if (w) w(rec);
      else records.push(rec);
    }
  });
  return {
    port: peer.port,
    name: peer.name,
    next: () => {
      const r = records.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    stop: () => void peer.proc.kill(),
  };
}

/** A connection as the in-process ws-stream server saw it. */
export interface EchoRecord {
  offered: string | undefined;
  extensions: string;
  protocol: string;
  messages: [string, number, string][];
  /** The peer's close frame (code and reason as received), if any. */
  peerClose?: { code: number; reason: string };
  closeInfo: CloseInfo;
  /** The error the reading loop ended with, if any. */
  error?: string;
}

/**
 * A ws-stream echo server with `options` (a text `cmd:close CODE REASON_HEX` closes; `cmd:burst N SIZE` writes N
 * messages, message i of SIZE + i octets made with seed i, without waiting, then closes with 1000 'burst'); each
 * connection's record resolves once it is closed.
 */
export async function startEchoServer(
  options: StreamOptions,
  selectProtocol?: (offered: string[]) => string | undefined,
): Promise<{ port: number; next(): Promise<EchoRecord> }> {
  const records: Promise<EchoRecord>[] = [];
  const waiting: ((r: Promise<EchoRecord>) => void)[] = [];
  // A page of the same origin for the browser (Chromium blocks a public page from loopback).
  const server = http.createServer((_req, res) => res.end('edge\n'));
  const sockets = new Set<Duplex>();
  server.on('upgrade', (req, socket, head) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const ws = new WebSocketStream(socket, options);
    const rec = (async (): Promise<EchoRecord> => {
      await ws.accept(req, { head, selectProtocol });
      const messages: [string, number, string][] = [];
      let error: string | undefined;
      try {
        for await (const m of ws) {
          messages.push(digest(m.data, m.binary));
          const command = m.binary ? '' : m.text();
          if (command.startsWith('cmd:close ')) {
            // `cmd:close CODE REASON_HEX`: the server closes (the reason's octets as given).
            const [, code, hex = ''] = command.split(' ');
            await ws.close({ code: Number(code), reason: Buffer.from(hex, 'hex') });
          } else if (command.startsWith('cmd:burst ')) {
            // `cmd:burst N SIZE`: N messages written at once (none awaited), then the close.
            const [, n, size] = command.split(' ').map(Number);
            const writes = Array.from({ length: n! }, (_, i) => ws.write(payload(size! + i, i, false)));
            await ws.close({ code: 1000, reason: 'burst' });
            await Promise.all(writes);
          } else await ws.write(m.data, { binary: m.binary });
        }
      } catch (e) {
        error = (e as { code?: string }).code;
      }
      const closeInfo = await ws.whenClosed();
      return {
        offered: req.headers['sec-websocket-extensions'],
        extensions: ws.extensions,
        protocol: ws.protocol,
        messages,
        peerClose: ws.closeReason,
        closeInfo,
        error,
      };
    })();
    rec.catch(() => {});
    const w = waiting.shift();
    if (w) w(rec);
    else records.push(rec);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    server.close();
    // Upgraded sockets are no longer the HTTP server's: a test that failed midway leaves them open.
    for (const s of sockets) s.destroy();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    next: () => records.shift() ?? new Promise<Promise<EchoRecord>>((r) => waiting.push(r)).then((p) => p),
  };
}

/**
 * A ws-stream server that echoes each piece as it arrives (readSome/writeSome), every message opened with a
 * fragment that holds no data (and with `pingBetween`, a ping after each fragment but the last). Resolves per
 * connection with the pieces' count, the pongs and the close.
 */
export async function startStreamingEcho(
  deflate: boolean,
  pingBetween = false,
): Promise<{ port: number; next(): Promise<{ pieces: number; code: number; pongs: number }> }> {
  const waiting: ((r: { pieces: number; code: number; pongs: number }) => void)[] = [];
  const server = http.createServer((_req, res) => res.end('edge\n'));
  server.on('upgrade', (req, socket, head) => {
    let pongs = 0;
    const ws = new WebSocketStream(socket, {
      perMessageDeflate: deflate,
      controlCallback: (kind) => {
        if (kind === 'pong') pongs++;
      },
    });
    let pieces = 0;
    const pump = async (): Promise<void> => {
      await ws.accept(req, { head });
      let first = true;
      for (;;) {
        const piece = await ws.readSome();
        pieces++;
        if (first) await ws.writeSome(Buffer.alloc(0), { binary: piece.binary, fin: false });
        await ws.writeSome(piece.data, { fin: piece.fin });
        // A control frame between the fragments of a message (RFC 6455 §5.4).
        if (pingBetween && !piece.fin) await ws.ping(String(pieces));
        first = piece.fin;
      }
    };
    pump()
      .catch(() => ws.whenClosed())
      .then(() => ws.whenClosed())
      .then((info) => waiting.shift()?.({ pieces, code: info.code, pongs }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    server.close();
    server.closeAllConnections();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    next: () => new Promise((r) => waiting.push(r)),
  };
}
