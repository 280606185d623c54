/**
 * A seeded random differential tester of the opening handshake of ws-stream/ws against the real `ws`
 * (the message phase is differential-support.ts's).
 *
 * Client scripts (`generateClient`): `new WebSocket(url, protocols, options)` against scripted raw
 * servers (node:net, one on a port, one more on another port as the "other host" of redirects, one on
 * a Unix socket) that answer each connection with the script's next answer: a 101 with a good, bad or
 * missing `Sec-WebSocket-Accept`, odd `Upgrade`/`Connection`, a subprotocol and extensions of every
 * kind, frames or garbage in the same chunk; other statuses (redirects with and without `Location`,
 * 401, 426, 500 with a body); headers cut short, a very long header, no HTTP at all, or silence (with a
 * `handshakeTimeout`). The trace: what the constructor threw, the client's events with their arguments,
 * and per connection what the server received (the request's line and headers, the frames after a 101,
 * the end).
 *
 * Server scripts (`generateServer`): a `WebSocketServer` on `port`, `server` or `noServer` (+
 * `handleUpgrade`) given a raw request (method, HTTP version, key, version, Upgrade, Connection,
 * subprotocols, extensions, Origin, path, frames in the same chunk), with `verifyClient`,
 * `handleProtocols`, `shouldHandle`, 'headers' and 'wsClientError' listeners, `clientTracking`,
 * `maxPayload`, `close()` with a client connected or in the middle of the handshake, `handleUpgrade`
 * twice. The trace: the server's events, what its hooks were given, what was thrown, the raw bytes of
 * the answer (status line, headers sorted, body; `Sec-WebSocket-Accept` checked, `Date` dropped), the
 * frames after a 101.
 *
 * Pair scripts (`generatePair`): a real client of one implementation opening to a real server of one
 * (subprotocols, permessage-deflate options on both sides, Origin, verifyClient, handleProtocols, path).
 *
 * No timer: each run waits for every socket to close and for the client's 'close'. Ports, the Unix
 * socket's path and the client's key (checked, then dropped) are the only values normalised.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { closeFrame, KEY, KEY_ACCEPT, parseFrames, text } from '../support/frames.js';
import { random } from '../support/random.js';
import { describeError, hex } from './differential-support.js';
import type { Impl } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: both implementations of ws's API
type Any = any;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const acceptOf = (key: string): string =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');

function picker(seed: number) {
  const r = random(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  const chance = (p: number): boolean => r() < p;
  return { int, pick, chance };
}

// ------------------------------------------------------------------ client scripts

type Answer =
  | {
      k: '101';
      version: '1.1' | '1.0';
      accept: 'good' | 'bad' | 'missing';
      upgrade: string | null;
      connection: string | null;
      /** Sec-WebSocket-Protocol: none, the first offered, one not offered, empty, two. */
      protocol: 'none' | 'first' | 'other' | 'empty' | 'two';
      extensions: string | null;
      extra: [string, string][];
      /** In the same chunk as the 101: nothing, a message and a close frame, or bytes that are no frame. */
      tail: 'none' | 'frames' | 'garbage';
    }
  | { k: 'status'; status: number; location: string | null; body: string; extra: [string, string][] }
  /** The status line and part of a header, then the connection is destroyed. */
  | { k: 'cut' }
  /** Not HTTP. */
  | { k: 'garbage' }
  /** No answer at all (the script has a handshakeTimeout). */
  | { k: 'silent' };

export interface ClientScript {
  seed: number;
  /** The URL, with `MAIN`/`OTHER` for the two servers' host:port and `SOCK` for the Unix socket's path. */
  url: string;
  protocols: { given: boolean; value: unknown };
  /** JSON-able options. */
  options: Record<string, unknown>;
  finishRequest: boolean;
  createConnection: boolean;
  lookup: boolean;
  listeners: { upgrade: boolean; unexpected: boolean; redirect: boolean };
  /** The answer to each connection, in the order they come (any beyond: 'cut'). */
  answers: Answer[];
}

const extensionAnswers = [
  'permessage-deflate',
  'permessage-deflate; client_max_window_bits=10',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate; server_max_window_bits=10',
  'permessage-deflate; server_max_window_bits=7',
  'permessage-deflate; server_max_window_bits=16',
  'permessage-deflate; server_max_window_bits=abc',
  'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
  'permessage-deflate; server_no_context_takeover',
  'permessage-deflate; client_no_context_takeover',
  'permessage-deflate; server_no_context_takeover=1',
  'permessage-deflate; foo=1',
  'permessage-deflate, permessage-deflate',
  'x-foo',
  'permessage-deflate, x-foo',
  'permessage-deflate;',
  '=;',
  '',
];

export function generateClient(seed: number): ClientScript {
  const { int, pick, chance } = picker(seed);
  const urls = [
    'ws://MAIN/',
    'ws://MAIN/chat?x=1',
    'http://MAIN/path',
    'ws://user:pa%20ss@MAIN/auth',
    'ws://MAIN/#frag',
    'ftp://MAIN/',
    'ws+unix:SOCK',
    'ws+unix:SOCK:/unix?q=1',
    'ws+unix:',
    'not a url',
    'ws://',
    'wss://MAIN/',
    'https://MAIN/',
  ];
  const url = chance(0.6) ? pick(urls.slice(0, 3)) : pick(urls);
  const protocolChoices: unknown[] = [
    [],
    'chat',
    ['chat', 'super'],
    ['chat', 'chat'],
    ['bad proto'],
    ['a,b'],
    [''],
    ['ok', 1],
  ];
  const protocols = chance(0.4)
    ? { given: false, value: undefined }
    : { given: true, value: chance(0.85) ? pick(protocolChoices.slice(0, 3)) : pick(protocolChoices) };
  const options: Record<string, unknown> = {};
  if (chance(0.3)) options.origin = 'http://origin.example';
  if (chance(0.3)) options.headers = chance(0.5) ? { 'X-Custom': 'one' } : { Authorization: 'Bearer t', Cookie: 'c=1' };
  if (chance(0.08)) options.protocolVersion = pick([8, 13, 8, 7]);
  if (chance(0.4))
    options.perMessageDeflate = pick([
      false,
      true,
      { clientNoContextTakeover: true },
      { serverNoContextTakeover: true },
      { serverMaxWindowBits: 10 },
      { clientMaxWindowBits: 9 },
    ]);
  if (chance(0.35)) {
    options.followRedirects = true;
    if (chance(0.6)) options.maxRedirects = pick([0, 1, 3]);
  }
  if (chance(0.1)) options.family = 4;
  if (chance(0.1)) options.maxPayload = 4;
  const finishRequest = chance(0.1);
  const createConnection = !url.startsWith('ws+unix') && chance(0.1);
  const lookup = !url.startsWith('ws+unix') && !createConnection && chance(0.1);
  const listeners = { upgrade: chance(0.4), unexpected: chance(0.3), redirect: chance(0.3) };

  const extra = (): [string, string][] => {
    const e: [string, string][] = [];
    if (chance(0.05)) e.push(['X-Long', 'a'.repeat(pick([8000, 20000]))]);
    if (chance(0.2)) e.push(['X-Extra', 'yes']);
    return e;
  };
  const answer = (): Answer => {
    const x = int(100);
    if (x < 55) {
      const ok = chance(0.4);
      return {
        k: '101',
        version: chance(0.05) ? '1.0' : '1.1',
        accept: ok || chance(0.7) ? 'good' : pick(['bad', 'missing'] as const),
        upgrade: ok || chance(0.7) ? 'websocket' : pick([null, 'WebSocket', 'h2c', 'websocket, foo']),
        connection: ok || chance(0.6) ? 'Upgrade' : pick([null, 'upgrade', 'keep-alive, Upgrade', 'close']),
        protocol: ok ? 'first' : pick(['none', 'first', 'first', 'other', 'empty', 'two'] as const),
        extensions: chance(ok ? 0.5 : 0.2) ? null : pick(extensionAnswers),
        extra: extra(),
        tail: chance(0.7) ? 'none' : chance(0.7) ? 'frames' : 'garbage',
      };
    }
    if (x < 85) {
      const status = pick([200, 301, 302, 307, 308, 308, 401, 426, 500]);
      const redirect = status >= 300 && status < 400;
      const location =
        redirect && chance(0.85)
          ? pick(['/next', 'ws://OTHER/other', 'http://MAIN/again', 'ftp://MAIN/x', '/frag#f', 'ws+unix:SOCK'])
          : null;
      return { k: 'status', status, location, body: chance(0.5) ? 'a body' : '', extra: extra() };
    }
    if (x < 91) return { k: 'cut' };
    if (x < 96) return { k: 'garbage' };
    return { k: 'silent' };
  };
  const answers = [answer()];
  while (chance(0.6) && answers.length < 5) answers.push(answer());
  const silent = answers.some((a) => a.k === 'silent');
  // A silent answer is the script's only one: the 20 ms handshakeTimeout runs from the first request,
  // and on a loaded machine it fired before an answer ahead of the silence came (the traces then
  // differed by the clock, not by the implementation).
  if (silent) {
    options.handshakeTimeout = 20;
    answers.splice(0, answers.length, { k: 'silent' });
  }
  return {
    seed,
    url,
    protocols,
    options,
    finishRequest,
    // Node's request sets no timeout on a socket made by createConnection (ws's client waits for ever, as ours).
    createConnection: createConnection && !silent,
    lookup,
    listeners,
    answers,
  };
}

export function describeClientScript(s: ClientScript): string {
  return JSON.stringify(
    s,
    (k, v) => (k === 'extra' ? (v as [string, string][]).map(([n, x]) => `${n}:${x.length}`) : v),
    1,
  );
}

export interface ClientTrace {
  thrown: string | null;
  events: string[];
  /** Per connection, in the order they came: the request, then what came after the answer. */
  connections: string[][];
}

/** The places of this run, for normalising. */
interface Places {
  main: number;
  other: number;
  sock: string;
}

function normalise(s: string, p: Places): string {
  return s
    .split(`${p.sock}`)
    .join('SOCK')
    .replace(new RegExp(`\\b${p.main}\\b`, 'g'), 'MAIN_PORT')
    .replace(new RegExp(`\\b${p.other}\\b`, 'g'), 'OTHER_PORT');
}

/** The request head as the trace shows it: the line, then the headers sorted, the key checked. */
function describeRequest(head: string): { lines: string[]; key: string | undefined } {
  const [line, ...rest] = head.split('\r\n');
  let key: string | undefined;
  const headers = rest
    .filter((l) => l !== '')
    .map((l) => {
      const i = l.indexOf(':');
      const name = l.slice(0, i).toLowerCase();
      let value = l.slice(i + 1).trim();
      if (name === 'sec-websocket-key') {
        key = value;
        value = /^[+/0-9A-Za-z]{22}==$/.test(value) ? '<key>' : `<bad key ${value}>`;
      }
      return `${name}: ${value}`;
    })
    .sort();
  return { lines: [line ?? '', ...headers], key };
}

function answerBytes(a: Answer, key: string | undefined, offered: string[], p: Places): Buffer {
  const lines: string[] = [];
  if (a.k === '101') {
    lines.push(`HTTP/${a.version} 101 Switching Protocols`);
    if (a.upgrade !== null) lines.push(`Upgrade: ${a.upgrade}`);
    if (a.connection !== null) lines.push(`Connection: ${a.connection}`);
    if (a.accept === 'good') lines.push(`Sec-WebSocket-Accept: ${acceptOf(key ?? '')}`);
    else if (a.accept === 'bad') lines.push(`Sec-WebSocket-Accept: ${KEY_ACCEPT}`);
    const protocol = {
      none: null,
      first: offered[0] ?? null,
      other: 'zzz',
      empty: '',
      two: offered.length > 1 ? offered.join(', ') : 'a, b',
    }[a.protocol];
    if (protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    if (a.extensions !== null) lines.push(`Sec-WebSocket-Extensions: ${a.extensions}`);
    for (const [n, v] of a.extra) lines.push(`${n}: ${v}`);
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    if (a.tail === 'frames')
      return Buffer.concat([
        head,
        text('in the 101 chunk', { mask: false }),
        closeFrame(4001, 'from the server', { mask: false }),
      ]);
    // A whole frame header (doc/ws-compat.md, What differs: "A frame is judged once its header is whole").
    if (a.tail === 'garbage') return Buffer.concat([head, Buffer.from([0xff, 0x00])]);
    return head;
  }
  if (a.k === 'status') {
    lines.push(`HTTP/1.1 ${a.status} ${http.STATUS_CODES[a.status]}`);
    if (a.location !== null)
      lines.push(
        `Location: ${a.location.replace('MAIN', `127.0.0.1:${p.main}`).replace('OTHER', `127.0.0.1:${p.other}`).replace('SOCK', p.sock)}`,
      );
    for (const [n, v] of a.extra) lines.push(`${n}: ${v}`);
    lines.push(`Content-Length: ${a.body.length}`, 'Connection: close');
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${a.body}`, 'latin1');
  }
  if (a.k === 'cut') return Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs', 'latin1');
  return Buffer.from('hello there\r\n\r\n', 'latin1');
}

/** A raw server answering each connection (of all its listeners) with the script's next answer. */
class RawServers {
  readonly connections: string[][] = [];
  private readonly servers: net.Server[] = [];
  private readonly open = new Set<net.Socket>();
  private idle: (() => void)[] = [];
  places!: Places;

  constructor(private readonly script: ClientScript) {}

  async start(): Promise<void> {
    const listen = (at: number | string): Promise<net.Server> =>
      new Promise((resolve) => {
        const server = net.createServer((socket) => this.serve(socket, server === this.servers[1] ? 'other' : 'main'));
        this.servers.push(server);
        if (typeof at === 'string') server.listen(at, () => resolve(server));
        else server.listen(at, '127.0.0.1', () => resolve(server));
      });
    const main = await listen(0);
    const other = await listen(0);
    const sock = path.join(os.tmpdir(), `hsdiff-${process.pid}-${this.script.seed}.sock`);
    await listen(sock);
    this.places = {
      main: (main.address() as net.AddressInfo).port,
      other: (other.address() as net.AddressInfo).port,
      sock,
    };
  }

  private serve(socket: net.Socket, where: string): void {
    const n = this.connections.length;
    const record: string[] = [`${where}${socket.remotePort === undefined ? '' : ''}`];
    this.connections.push(record);
    this.open.add(socket);
    const a = this.script.answers[n] ?? ({ k: 'cut' } as Answer);
    let buf: Buffer = Buffer.alloc(0);
    let answered = false;
    let sentClose = false;
    let ended = false;
    socket.on('error', (e) => record.push(`socket-error:${(e as NodeJS.ErrnoException).code}`));
    socket.on('end', () => {
      record.push('client-end');
      ended = true;
      socket.end();
    });
    socket.on('close', () => {
      this.open.delete(socket);
      if (this.open.size === 0) for (const f of this.idle.splice(0)) f();
    });
    socket.on('data', (d: Buffer) => {
      // Silence is silence whatever comes (a TLS ClientHello too): the client's handshakeTimeout ends it.
      if (a.k === 'silent') return;
      buf = Buffer.concat([buf, d]);
      if (!answered) {
        if (!buf.subarray(0, 4).equals(Buffer.from('GET ')) && buf.length >= 4) {
          record.push(`not-http:${buf[0]}`);
          socket.destroy();
          return;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        answered = true;
        const { lines, key } = describeRequest(buf.subarray(0, end).toString('latin1'));
        record.push(...lines.map((l) => normalise(l, this.places)));
        buf = buf.subarray(end + 4);
        const offeredLine = lines.find((l) => l.startsWith('sec-websocket-protocol: '));
        const offered = offeredLine
          ? offeredLine
              .slice(24)
              .split(',')
              .map((s) => s.trim())
          : [];
        socket.write(answerBytes(a, key, offered, this.places));
        if (a.k === 'cut' || a.k === 'garbage') socket.destroy();
        if (a.k === '101' && a.tail === 'frames') sentClose = true;
        if (a.k !== '101' || a.tail === 'garbage') return;
      }
      const { frames, rest } = parseFrames(buf);
      buf = rest;
      for (const f of frames) {
        record.push(`frame:${f.opcode}:${f.masked}:${f.rsv}:${hex(f.payload)}`);
        if (f.opcode === 8 && !ended) {
          if (!sentClose)
            socket.write(
              closeFrame(f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined, '', { mask: false }),
            );
          sentClose = true;
          socket.end();
        }
      }
    });
  }

  /** Resolves once no connection is open. */
  drained(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export async function runClient(script: ClientScript, impl: Impl): Promise<ClientTrace> {
  const servers = new RawServers(script);
  await servers.start();
  const p = servers.places;
  const events: string[] = [];
  const log = (s: string): void => {
    events.push(normalise(s, p));
  };
  const url = script.url
    .replace('MAIN', `${script.lookup ? 'hs.test' : '127.0.0.1'}:${p.main}`)
    .replace('SOCK', p.sock);
  const options: Record<string, unknown> = structuredClone(script.options);
  if (script.finishRequest)
    options.finishRequest = (req: http.ClientRequest) => {
      req.setHeader('X-Finish', 'yes');
      req.end();
    };
  if (script.createConnection)
    options.createConnection = (o: net.NetConnectOpts & { host?: string; port?: number }) => {
      log(`createConnection:${o.host}:${o.port}`);
      return net.connect({ host: o.host!, port: o.port! });
    };
  if (script.lookup)
    options.lookup = (
      host: string,
      o: { all?: boolean },
      cb: (e: Error | null, a: string | { address: string; family: number }[], f?: number) => void,
    ) => {
      log(`lookup:${host}`);
      if (o.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    };
  let closed!: () => void;
  const closedP = new Promise<void>((resolve) => (closed = resolve));
  let thrown: string | null = null;
  let ws: Any;
  try {
    ws = script.protocols.given
      ? new impl.WebSocket(url, script.protocols.value, options)
      : new impl.WebSocket(url, options);
  } catch (e) {
    thrown = describeError(e);
  }
  if (ws) {
    log(`url:${ws.url}:${ws.readyState}`);
    ws.on('open', () => {
      log(`open:${JSON.stringify(ws.protocol)}:${JSON.stringify(ws.extensions)}`);
      const a = script.answers[servers.connections.length - 1];
      if (!(a?.k === '101' && a.tail === 'frames')) ws.close(1000, 'done');
    });
    ws.on('message', (d: Buffer, b: boolean) => log(`message:${hex(d)}:${b}`));
    ws.on('error', (e: Error) => log(`error:${describeError(e)}`));
    ws.on('close', (code: number, reason: Buffer) => {
      log(`close:${code}:${reason.toString()}:${ws.readyState}`);
      closed();
    });
    if (script.listeners.upgrade)
      ws.on('upgrade', (res: http.IncomingMessage) => log(`upgrade:${res.statusCode}:${res.headers.upgrade}`));
    if (script.listeners.unexpected)
      ws.on('unexpected-response', (req: http.ClientRequest, res: http.IncomingMessage) => {
        log(`unexpected-response:${res.statusCode}:${req.path}:${res.headers['content-length']}`);
        ws.terminate();
      });
    if (script.listeners.redirect)
      ws.on('redirect', (u: string, req: http.ClientRequest) =>
        log(`redirect:${u}:${req.getHeader('authorization') ?? ''}:${req.getHeader('cookie') ?? ''}`),
      );
    await closedP;
  }
  await servers.drained();
  await servers.close();
  // What the silent server got before the timeout fired (the connection, the request, or nothing yet)
  // depends on the clock; the client's events are the trace of a silent script.
  const connections = script.answers[0]?.k === 'silent' ? [] : servers.connections;
  return { thrown, events, connections };
}

// ------------------------------------------------------------------ server scripts

export interface ServerScript {
  seed: number;
  mode: 'port' | 'server' | 'noServer';
  options: Record<string, unknown>;
  verify: 'none' | 'sync-true' | 'sync-false' | 'async-true' | 'async-false' | 'async-false-code' | 'async-close';
  handleProtocols: 'none' | 'first' | 'last' | 'false' | 'throw';
  headersListener: 'none' | 'add' | 'read';
  clientErrorListener: boolean;
  shouldHandle: boolean;
  twice: boolean;
  closeOnConnection: boolean;
  request: { line: string; headers: [string, string][]; early: 'none' | 'text' | 'close' | 'big' };
  after: 'close' | 'text-close' | 'end';
}

export function generateServer(seed: number): ServerScript {
  const { pick, chance } = picker(seed);
  const mode = pick(['port', 'server', 'noServer'] as const);
  const options: Record<string, unknown> = {};
  if (chance(0.3)) options.path = '/chat';
  if (chance(0.4))
    options.perMessageDeflate = pick([
      true,
      { serverNoContextTakeover: true },
      { clientNoContextTakeover: true },
      { serverMaxWindowBits: 10 },
      { clientMaxWindowBits: 10 },
    ]);
  if (chance(0.15)) options.maxPayload = 4;
  if (chance(0.2)) options.clientTracking = false;
  const good = chance(0.35);
  const mutate = (p: number): boolean => !good && chance(p);
  const method = mutate(0.08) ? pick(['POST', 'HEAD', 'PUT']) : 'GET';
  const version = mutate(0.08) ? '1.0' : '1.1';
  const target = chance(0.6) ? '/chat' : pick(['/', '/chat?x=1', '/other', '/no', '/chat/']);
  const headers: [string, string][] = [['Host', 'example.com']];
  if (!mutate(0.12))
    headers.push(['Upgrade', mutate(0.1) ? pick(['WebSocket', 'h2c', 'websocket, foo', '']) : 'websocket']);
  headers.push([
    'Connection',
    mutate(0.15) ? pick(['upgrade', 'keep-alive, Upgrade', 'Upgrade, keep-alive', 'close', 'keep-alive']) : 'Upgrade',
  ]);
  const key = mutate(0.15) ? pick([null, 'dup', 'short', 'notbase64', '']) : KEY;
  if (key === 'dup') headers.push(['Sec-WebSocket-Key', KEY], ['Sec-WebSocket-Key', KEY]);
  else if (key === 'short') headers.push(['Sec-WebSocket-Key', 'dGhlIHNhbXBsZQ==']);
  else if (key === 'notbase64') headers.push(['Sec-WebSocket-Key', '!!!!!!!!!!!!!!!!!!!!!!==']);
  else if (key !== null) headers.push(['Sec-WebSocket-Key', key]);
  const v = mutate(0.15) ? pick([null, '8', '7', '13, 8', '14', 'abc', '']) : '13';
  if (v !== null) headers.push(['Sec-WebSocket-Version', v]);
  if (chance(0.5))
    headers.push([
      'Sec-WebSocket-Protocol',
      mutate(0.3)
        ? pick(['a,,b', 'a, a', 'bad(token', '', ' , ', 'chat,'])
        : pick(['chat', 'chat, super', 'super, chat']),
    ]);
  if (chance(0.5))
    headers.push([
      'Sec-WebSocket-Extensions',
      mutate(0.4)
        ? pick([
            'permessage-deflate; server_max_window_bits=7',
            'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
            'permessage-deflate; client_max_window_bits=20',
            'permessage-deflate; foo',
            'permessage-deflate; client_no_context_takeover=1',
            'permessage-deflate, permessage-deflate; client_no_context_takeover',
            'x-foo',
            '=;',
            ';',
            'permessage-deflate; server_max_window_bits',
          ])
        : pick([
            'permessage-deflate',
            'permessage-deflate; client_max_window_bits',
            'permessage-deflate; server_max_window_bits=10; client_max_window_bits',
            'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
            'x-foo, permessage-deflate',
          ]),
    ]);
  if (chance(0.3)) headers.push([v === '8' && chance(0.5) ? 'Sec-WebSocket-Origin' : 'Origin', 'http://o.example']);
  const early = chance(0.7) ? 'none' : pick(['text', 'close', 'big'] as const);
  const verify = chance(0.5)
    ? 'none'
    : pick(['sync-true', 'sync-false', 'async-true', 'async-false', 'async-false-code', 'async-close'] as const);
  const noServer = mode === 'noServer';
  return {
    seed,
    mode,
    options,
    verify,
    handleProtocols: chance(0.5)
      ? 'none'
      : pick(noServer ? (['first', 'last', 'false', 'throw'] as const) : (['first', 'last', 'false'] as const)),
    headersListener: pick(['none', 'none', 'add', 'read'] as const),
    clientErrorListener: chance(0.3),
    shouldHandle: chance(0.2),
    twice: noServer && verify !== 'async-true' && verify !== 'async-close' && chance(0.15),
    closeOnConnection: chance(0.15),
    request: { line: `${method} ${target} HTTP/${version}`, headers, early },
    after: pick(['close', 'text-close', 'end'] as const),
  };
}

export function describeServerScript(s: ServerScript): string {
  return JSON.stringify(s, null, 1);
}

export interface ServerTrace {
  events: string[];
  thrown: string[];
  /** What the raw client received: the answer's head (sorted), its body, the frames after a 101. */
  response: string[];
}

/** The answer's head as the trace shows it: status line, headers sorted (Date dropped, the accept checked). */
function describeResponse(head: string): string[] {
  const [line, ...rest] = head.split('\r\n');
  const headers = rest
    .map((l) => {
      const i = l.indexOf(':');
      const name = l.slice(0, i).toLowerCase();
      const value = l.slice(i + 1).trim();
      if (name === 'date') return null;
      if (name === 'sec-websocket-accept') return `${name}: ${value === KEY_ACCEPT ? '<ok>' : `<bad ${value}>`}`;
      return `${name}: ${value}`;
    })
    .filter((l): l is string => l !== null)
    .sort();
  return [line ?? '', ...headers];
}

export async function runServer(script: ServerScript, impl: Impl): Promise<ServerTrace> {
  const events: string[] = [];
  const thrown: string[] = [];
  const response: string[] = [];
  const log = (s: string): void => {
    events.push(s);
  };
  const options: Record<string, unknown> = structuredClone(script.options);
  let wss: Any;
  let httpServer: http.Server | null = null;
  const onRequest = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(404, { 'Content-Length': 11, Connection: 'close' });
    res.end('not upgrade');
  };
  if (script.verify !== 'none') {
    const record = (info: { origin?: string; secure: boolean; req: http.IncomingMessage }): boolean => {
      log(`verifyClient:${info.origin}:${info.secure}:${info.req.url}`);
      return true;
    };
    options.verifyClient = {
      'sync-true': (info: Any) => record(info),
      'sync-false': (info: Any) => !record(info),
      'async-true': (info: Any, cb: Any) => record(info) && cb(true),
      'async-false': (info: Any, cb: Any) => record(info) && cb(false),
      'async-false-code': (info: Any, cb: Any) => record(info) && cb(false, 403, 'Go away', { 'X-Why': 'because' }),
      'async-close': (info: Any, cb: Any) => {
        record(info);
        closeByScript();
        cb(true);
      },
    }[script.verify];
  }
  if (script.handleProtocols !== 'none')
    options.handleProtocols = (set: Set<string>, req: http.IncomingMessage) => {
      log(`handleProtocols:${[...set].join('|')}:${req.url}`);
      if (script.handleProtocols === 'throw') throw new Error('handleProtocols threw');
      if (script.handleProtocols === 'false') return false;
      const all = [...set];
      return script.handleProtocols === 'first' ? all[0] : all[all.length - 1];
    };
  if (script.mode === 'port') {
    wss = new impl.WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
  } else {
    httpServer = http.createServer(onRequest);
    if (script.mode === 'server') wss = new impl.WebSocketServer({ ...options, server: httpServer });
    else {
      wss = new impl.WebSocketServer({ ...options, noServer: true });
      httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        const times = script.twice ? 2 : 1;
        for (let i = 0; i < times; i++) {
          try {
            wss.handleUpgrade(req, socket, head, (ws: Any, r: http.IncomingMessage) => {
              thrown.push(`callback:${i}`);
              wss.emit('connection', ws, r);
            });
          } catch (e) {
            thrown.push(`handleUpgrade:${i}:${describeError(e)}`);
            // ws leaves the socket to the caller (a listener's throw: ws has written nothing).
            if ((e as Error).message === 'handleProtocols threw') socket.destroy();
          }
        }
      });
    }
    await new Promise<void>((resolve) => httpServer!.listen(0, '127.0.0.1', resolve));
  }
  if (script.shouldHandle)
    wss.shouldHandle = (req: http.IncomingMessage) => {
      log(`shouldHandle:${req.url}`);
      return req.url !== '/no';
    };
  if (script.headersListener !== 'none')
    wss.on('headers', (lines: string[], req: http.IncomingMessage) => {
      log(`headers:${lines[0]}:${lines.length}:${req.url}`);
      if (script.headersListener === 'add') lines.push('X-Added: by-listener');
    });
  if (script.clientErrorListener)
    wss.on('wsClientError', (err: Error & { code?: string }, socket: Duplex) => {
      log(`wsClientError:${describeError(err)}`);
      socket.end(`HTTP/1.1 400 Bad Request\r\nX-Error: ${err.message}\r\nConnection: close\r\n\r\n`);
    });
  wss.on('error', (e: Error) => log(`wss-error:${describeError(e)}`));
  wss.on('close', () => log('wss-close'));
  let serverWsClosed: Promise<void> = Promise.resolve();
  let closedByScript: Promise<void> | null = null;
  const closeByScript = (): void => {
    closedByScript = new Promise((resolve) =>
      wss.close((e?: Error) => {
        log(`close-cb:${e ? describeError(e) : ''}`);
        resolve();
      }),
    );
  };
  wss.on('connection', (ws: Any, req: http.IncomingMessage) => {
    log(
      `connection:${JSON.stringify(ws.protocol)}:${JSON.stringify(ws.extensions)}:${req.url}:${wss.clients ? wss.clients.size : 'untracked'}`,
    );
    ws.on('message', (d: Buffer, b: boolean) => log(`message:${hex(d)}:${b}`));
    ws.on('error', (e: Error) => log(`error:${describeError(e)}`));
    serverWsClosed = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => {
        log(`close:${code}:${reason.toString()}`);
        resolve();
      }),
    );
    if (script.closeOnConnection) closeByScript();
  });

  const port = ((httpServer ?? wss).address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', (e) => response.push(`socket-error:${(e as NodeJS.ErrnoException).code}`));
  const r = script.request;
  const head = Buffer.from(`${r.line}\r\n${r.headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n`, 'latin1');
  const early = {
    none: Buffer.alloc(0),
    text: text('early'),
    close: closeFrame(4000, 'early close'),
    big: text('a message over maxPayload'),
  }[r.early];
  socket.write(Buffer.concat([head, early]));
  let buf: Buffer = Buffer.alloc(0);
  let headDone = false;
  let upgraded = false;
  let bodyLeft = -1;
  const finishUpgraded = (): void => {
    const after = script.after;
    if (after === 'end') socket.end();
    else {
      if (after === 'text-close') socket.write(text('after'));
      socket.write(closeFrame(1000, 'bye'));
    }
  };
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!headDone) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      headDone = true;
      const lines = describeResponse(buf.subarray(0, end).toString('latin1'));
      response.push(...lines);
      buf = buf.subarray(end + 4);
      upgraded = lines[0]!.startsWith('HTTP/1.1 101');
      if (upgraded) finishUpgraded();
      else {
        const cl = lines.find((l) => l.startsWith('content-length: '));
        // (A response to HEAD has no body, whatever its Content-Length: waiting for one would wait
        // for the server's keep-alive timeout, 5 s.)
        bodyLeft = r.line.startsWith('HEAD ') ? 0 : cl ? Number(cl.slice(16)) : -1;
      }
    }
    if (upgraded) {
      const { frames, rest } = parseFrames(buf);
      buf = rest;
      for (const f of frames) response.push(`frame:${f.opcode}:${f.masked}:${f.rsv}:${hex(f.payload)}`);
    } else if (bodyLeft >= 0 && buf.length >= bodyLeft) {
      response.push(`body:${buf.toString('latin1')}`);
      buf = Buffer.alloc(0);
      bodyLeft = -1;
      socket.end();
    }
  });
  socket.on('end', () => {
    response.push(`server-end${buf.length > 0 ? `:${buf.toString('latin1')}` : ''}`);
    socket.end();
  });
  await once(socket, 'close');
  await serverWsClosed;
  if (closedByScript) await closedByScript;
  else {
    wss.removeAllListeners('close');
    await new Promise((resolve) => wss.close(resolve));
  }
  if (httpServer) {
    httpServer.closeAllConnections();
    await new Promise((resolve) => httpServer!.close(resolve));
  }
  return { events, thrown, response };
}

// ------------------------------------------------------------------ pair scripts (a real client and a real server)

export interface PairScript {
  seed: number;
  path: string;
  protocols: string[];
  client: Record<string, unknown>;
  server: Record<string, unknown>;
  verify: 'none' | 'sync-true' | 'sync-false' | 'async-false-code' | 'origin';
  handleProtocols: 'none' | 'last' | 'false';
}

export function generatePair(seed: number): PairScript {
  const { pick, chance } = picker(seed);
  const deflate = (): unknown =>
    pick([
      false,
      true,
      { serverNoContextTakeover: true },
      { clientNoContextTakeover: true },
      { serverMaxWindowBits: 10 },
      { clientMaxWindowBits: 9 },
      { serverNoContextTakeover: true, clientMaxWindowBits: 12 },
    ]);
  const client: Record<string, unknown> = {};
  if (chance(0.5)) client.perMessageDeflate = deflate();
  if (chance(0.3)) client.origin = pick(['http://good.example', 'http://bad.example']);
  if (chance(0.2)) client.headers = { 'X-Custom': 'one' };
  const server: Record<string, unknown> = {};
  if (chance(0.5)) server.perMessageDeflate = deflate();
  if (chance(0.3)) server.path = '/chat';
  if (chance(0.2)) server.clientTracking = false;
  return {
    seed,
    path: pick(['/chat', '/chat', '/', '/chat?q=1']),
    protocols: pick([[], [], ['chat'], ['chat', 'super'], ['super', 'chat']]),
    client,
    server,
    verify: pick(['none', 'none', 'sync-true', 'sync-false', 'async-false-code', 'origin'] as const),
    handleProtocols: pick(['none', 'none', 'last', 'false'] as const),
  };
}

export interface PairTrace {
  client: string[];
  server: string[];
}

/** A client of `clientImpl` opening to a server of `serverImpl`; the open side closes with 1000. */
export async function runPair(script: PairScript, serverImpl: Impl, clientImpl: Impl): Promise<PairTrace> {
  const server: string[] = [];
  const client: string[] = [];
  const options: Record<string, unknown> = { ...structuredClone(script.server), host: '127.0.0.1', port: 0 };
  const verified = (info: { origin?: string; req: http.IncomingMessage }): boolean => {
    server.push(`verifyClient:${info.origin}:${info.req.headers['x-custom']}`);
    return script.verify === 'origin' ? info.origin !== 'http://bad.example' : script.verify === 'sync-true';
  };
  // Its arity says which form it is: a second parameter makes it the callback form.
  if (script.verify === 'async-false-code')
    options.verifyClient = (info: Any, cb: Any) => verified(info) || cb(false, 403, 'Go away', { 'X-Why': 'because' });
  else if (script.verify !== 'none') options.verifyClient = (info: Any) => verified(info);
  if (script.handleProtocols !== 'none')
    options.handleProtocols = (set: Set<string>) => {
      server.push(`handleProtocols:${[...set].join('|')}`);
      return script.handleProtocols === 'false' ? false : [...set].pop();
    };
  const wss = new serverImpl.WebSocketServer(options);
  await once(wss, 'listening');
  let serverClosed: Promise<void> = Promise.resolve();
  wss.on('headers', (lines: string[]) => server.push(`headers:${lines[0]}`));
  wss.on('connection', (ws: Any, req: http.IncomingMessage) => {
    server.push(`connection:${JSON.stringify(ws.protocol)}:${JSON.stringify(ws.extensions)}:${req.url}`);
    serverClosed = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => {
        server.push(`close:${code}:${reason.toString()}`);
        resolve();
      }),
    );
  });
  const ws = new clientImpl.WebSocket(
    `ws://127.0.0.1:${wss.address().port}${script.path}`,
    script.protocols,
    structuredClone(script.client),
  );
  ws.on('open', () => {
    client.push(`open:${JSON.stringify(ws.protocol)}:${JSON.stringify(ws.extensions)}`);
    ws.close(1000, 'done');
  });
  ws.on('upgrade', (res: http.IncomingMessage) => client.push(`upgrade:${res.statusCode}`));
  ws.on('error', (e: Error) => client.push(`error:${describeError(e)}`));
  await new Promise<void>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => {
      client.push(`close:${code}:${reason.toString()}`);
      resolve();
    }),
  );
  await serverClosed;
  await new Promise((resolve) => wss.close(resolve));
  return { client, server };
}
