/**
 * Shared by beast.test.ts, gorilla.test.ts and soup.test.ts: peers written in C++ (Boost.Beast), Go (gorilla/websocket)
 * and C (libsoup), built by the tests from peers/beast-peer.cpp, gorilla-peer.go and soup-peer.c into dist/ (rebuilt only when the source is
 * newer), run as clients of ws-stream's servers and as echo servers for ws-stream's client. Both peers take the same
 * command line and print one line per event (see beast-peer.cpp), so one suite (`nativePeerSuite`) runs against
 * each; what one peer does differently is told by its `NativePeer` and explained where it is set. Every connection
 * goes through a `TcpProxy` (test/support/brokers.ts) that keeps the bytes of both directions, read here as frames:
 * RSV1 and fragments are checked on the wire, not taken from either side's word.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ClientHandshakeError, connect, type ConnectOptions, type DeflateOptions } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';
import { TcpProxy, type ProxyLink } from '../support/brokers.js';
import { parseFrames, type WireFrame } from '../support/frames.js';
import { digest, payload, startEchoServer } from './edge.js';
import { selectProtocol } from './echo-targets.js';
import { LONGEST, binary as binaryOf, digest as digestOf, sendFragmented, text as textOf } from './js-peers.js';
import { peerScript, runPeerToEnd, startInteropServer, startPeerServer } from './support.js';

const dist = (name: string): string => fileURLToPath(new URL(`../../${name}`, import.meta.url));

/** Whether `binary` is missing or older than `source`. */
const stale = (binary: string, source: string): boolean =>
  !existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs;

/** Builds the Boost.Beast peer with g++ (Debian's libboost-dev: Beast and Asio are header-only). */
export function buildBeast(): string {
  const source = peerScript('beast-peer.cpp');
  const binary = dist('beast-peer');
  if (stale(binary, source))
    execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-o', binary, source, '-lpthread'], { stdio: 'inherit' });
  return binary;
}

/** Builds the libsoup peer with gcc and pkg-config (Debian's libsoup-3.0-dev). */
export function buildSoup(): string {
  const source = peerScript('soup-peer.c');
  const binary = dist('soup-peer');
  if (stale(binary, source)) {
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libsoup-3.0'], { encoding: 'utf8' });
    execFileSync('gcc', ['-O1', '-Wall', '-o', binary, source, ...flags.trim().split(/\s+/)], { stdio: 'inherit' });
  }
  return binary;
}

/**
 * Builds the gorilla/websocket peer with Debian's Go, offline: GOPATH mode over /usr/share/gocode, where
 * golang-github-gorilla-websocket-dev puts its source (no module proxy is asked), with a build cache of its own.
 */
export function buildGorilla(): string {
  const source = peerScript('gorilla-peer.go');
  const binary = dist('gorilla-peer');
  if (stale(binary, source)) {
    const cache = mkdtempSync(join(tmpdir(), 'gorilla-peer-'));
    try {
      execFileSync('go', ['build', '-o', binary, source], {
        stdio: 'inherit',
        env: {
          ...process.env,
          GO111MODULE: 'off',
          GOPATH: '/usr/share/gocode',
          GOCACHE: cache,
          GOFLAGS: '',
          GOPROXY: 'off',
        },
      });
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  return binary;
}

const hex = (s: string | Buffer): string => (s.length === 0 ? '-' : Buffer.from(s).toString('hex'));

/** FNV-1a 32 of `data` in 8 hex digits, as the peers print a message. */
export function fnv(data: Buffer): string {
  let h = 2166136261;
  for (const b of data) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The peer's line for a message it read: `message TYPE LENGTH FNV`. */
const messageLine = (data: Buffer, binary: boolean): string =>
  `message ${binary ? 'binary' : 'text'} ${data.length} ${fnv(data)}`;

export interface PeerOptions {
  deflate?: boolean;
  protocols?: string[];
  readMax?: number;
}

const flags = (o: PeerOptions): string[] => [
  ...(o.deflate ? ['--deflate'] : []),
  ...(o.protocols ? ['--protocols', o.protocols.join(',')] : []),
  ...(o.readMax ? ['--read-max', String(o.readMax)] : []),
];

/** Runs the peer's client to its end: its exit code and the lines it printed. */
export async function runNativeClient(
  binary: string,
  port: number,
  options: PeerOptions,
  steps: string[],
): Promise<{ code: number | null; lines: string[] }> {
  const { code, out, err } = await runPeerToEnd(binary, ['client', String(port), ...flags(options), ...steps]);
  if (err) console.log(`${binary} stderr: ${err}`);
  return { code, lines: out.split('\n').filter(Boolean) };
}

/** A peer's echo server: each connection's lines. */
export interface NativeServer {
  name: string;
  port: number;
  stop(): void;
  /** Waits for the line of connection `id` (from 1) that starts with `prefix`; resolves with the rest of it. */
  line(id: number, prefix: string): Promise<string>;
  /** Waits for the last line of connection `id`: `closed CODE REASON` or `error WHAT CODE REASON`. */
  ending(id: number): Promise<string>;
  /** All lines of connection `id` so far. */
  lines(id: number): string[];
}

export async function startNativeServer(binary: string, options: PeerOptions): Promise<NativeServer> {
  const peer = await startPeerServer(binary, ['server', ...flags(options)]);
  const byId = new Map<number, string[]>();
  let waiting: (() => void)[] = [];
  let rest = '';
  const until = async (id: number, match: (line: string) => boolean): Promise<string> => {
    for (;;) {
      const found = byId.get(id)?.find(match);
      if (found !== undefined) return found;
      await new Promise<void>((r) => waiting.push(r));
    }
  };
  const line = async (id: number, prefix: string): Promise<string> =>
    (await until(id, (l) => l.startsWith(prefix))).slice(prefix.length);
  peer.proc.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const m = /^(\d+) (.*)$/.exec(line);
      if (!m) continue;
      const id = Number(m[1]);
      byId.set(id, [...(byId.get(id) ?? []), m[2]!]);
    }
    for (const w of waiting.splice(0)) w();
  });
  return {
    name: peer.name,
    port: peer.port,
    stop() {
      waiting = [];
      peer.proc.kill();
    },
    lines: (id) => byId.get(id) ?? [],
    line,
    ending: (id) => until(id, (l) => l.startsWith('closed ') || l.startsWith('error ')),
  };
}

/** A message as it went on the wire: its opcode, RSV1 of its first frame, its frames, and its payload octets there. */
export interface WireMessage {
  opcode: number;
  rsv1: boolean;
  frames: number;
  octets: number;
}

/** What went through a tapped connection, once it ended: each side's head and messages, and its control frames. */
export interface Wire {
  request: string;
  response: string;
  toServer: WireMessage[];
  toClient: WireMessage[];
  controlToServer: WireFrame[];
  controlToClient: WireFrame[];
}

function messagesOf(frames: WireFrame[]): { messages: WireMessage[]; control: WireFrame[] } {
  const messages: WireMessage[] = [];
  const control: WireFrame[] = [];
  for (const f of frames) {
    if (f.opcode >= 8) control.push(f);
    else if (f.opcode === 0) {
      const m = messages.at(-1)!;
      m.frames++;
      m.octets += f.payload.length;
    } else messages.push({ opcode: f.opcode, rsv1: (f.rsv & 4) !== 0, frames: 1, octets: f.payload.length });
  }
  return { messages, control };
}

function sideOf(text: string): { head: string; frames: WireFrame[] } {
  const at = text.indexOf('\r\n\r\n');
  assert.ok(at > 0, 'an HTTP head');
  return { head: text.slice(0, at), frames: parseFrames(Buffer.from(text.slice(at + 4), 'latin1')).frames };
}

/** A TcpProxy to `targetPort` whose next connection is kept (held until taken, then let through) and read once it ends. */
export async function tapped(targetPort: number): Promise<{ port: number; next(): Promise<Wire> }> {
  const proxy = await TcpProxy.start(targetPort);
  after(() => proxy.close());
  return { port: proxy.port, next: () => tapNext(proxy) };
}

/** The next connection through `proxy`, read once it ends. */
async function tapNext(proxy: TcpProxy): Promise<Wire> {
  proxy.holding = true;
  const link: ProxyLink = await proxy.until(() => [...proxy.links].at(-1));
  proxy.holding = false;
  link.release();
  await proxy.until(() => (proxy.links.has(link) ? undefined : true));
  const [client, server] = [sideOf(link.clientText), sideOf(link.serverText)];
  const [up, down] = [messagesOf(client.frames), messagesOf(server.frames)];
  return {
    request: client.head,
    response: server.head,
    toServer: up.messages,
    toClient: down.messages,
    controlToServer: up.control,
    controlToClient: down.control,
  };
}

const header = (head: string, name: string): string | undefined =>
  new RegExp(`^${name}: *(.*)$`, 'im').exec(head)?.[1]?.trim();

/** What one peer does its own way (each set where the peer is described, with the reason). */
export interface NativePeer {
  name: string;
  build(): string;
  /** The permessage-deflate offer its client sends. */
  clientOffer: string;
  /** Its server's response to ws-stream's default offer. */
  serverResponse: string;
  /** What the peer answers a close from ws-stream with: the code and reason ws-stream reads. */
  closeAnswer(code: number, reason: string): { code: number; reason: string };
  /** Valid close codes the peer fails when it receives one (its list of codes is older than IANA's). */
  refusesCodes: number[];
  /**
   * The close frame the peer sends when told to close with `code`: its code ('none': a frame without one), or null
   * when its API refuses the code and sends nothing.
   */
  sendsClose(code: number): number | 'none' | null;
  /**
   * The most payload octets it puts in one frame of a message written whole, as `role`, `compressed` or not: it cuts a
   * longer message itself (Infinity: one frame whatever its length).
   */
  frameLimit(role: 'client' | 'server', compressed: boolean): number;
  /** Whether its server's read limit counts the octets a message inflates to (else the compressed ones on the wire). */
  limitsInflated: boolean;
  /** Whether its server drops a connection whose message is over its limit without a close frame (else 1009). */
  dropsOverLimit: boolean;
  /** Whether its server refuses a handshake whose subprotocols it has none of (else it answers without one). */
  refusesUnknownProtocol: boolean;
  /** Whether its API sends a ping and tells of one received (else it only answers pings, and pongs are all it sees). */
  pings: boolean;
  /** Whether its API sends a message in pieces (else a message written in pieces here goes whole). */
  pieces: boolean;
  /** Whether it sends text that is not UTF-8 when told to (else its API refuses to). */
  sendsInvalidText: boolean;
  /** Whether it compresses an empty message too (with permessage-deflate agreed, it compresses every other one). */
  compressesEmpty: boolean;
  /** Its server's choice among the client's subprotocols. */
  selects(offered: string[]): string;
  /** ws-stream's client offers (its `perMessageDeflate`) and the peer server's answer; null: ws-stream refuses it. */
  answers: [DeflateOptions | true, string | null][];
  /** ws-stream's server configurations and its response to the peer client's offer ('': declined). */
  responses: [DeflateOptions | true, string][];
}

/** The sizes of RFC 6455 §5.2's length encodings, and 1 MiB. */
const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024];
const BYE = 'bye ✓';
/** Codes a close frame may carry (RFC 6455 §7.4.1; 1012–1014 registered with IANA), 1000 and 1001 first. */
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999];
/** Codes no close frame may carry: reserved, never sent (1005, 1006, 1015), or out of range. */
const INVALID_CODES = [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000];

/** A peer client's send steps: each size as text and as binary, whole, then two messages written in pieces. */
const SENDS: { binary: boolean; size: number; seed: number; piece: number }[] = [
  ...SIZES.map((size, i) => ({ binary: false, size, seed: i, piece: 0 })),
  ...SIZES.map((size, i) => ({ binary: true, size, seed: 10 + i, piece: 0 })),
  { binary: false, size: 70_000, seed: 20, piece: 1000 },
  { binary: true, size: 200_000, seed: 21, piece: 16_384 },
];
const sendStep = (s: (typeof SENDS)[number]): string =>
  `send:${s.binary ? 'binary' : 'text'}:${s.size}:${s.seed}:${s.piece}`;
const echoLine = (s: (typeof SENDS)[number]): string => `echo ${s.binary ? 'binary' : 'text'} ${s.size} ok`;

/** The tests every native peer runs, as client of ws-stream's servers and as server of its client. */
export function nativePeerSuite(peer: NativePeer): void {
  let binary = '';
  /** The frames the peer as `role` cuts a message of `octets` octets on the wire into. */
  const framesFor = (role: 'client' | 'server', compressed: boolean, octets: number): number =>
    Math.max(1, Math.ceil(octets / peer.frameLimit(role, compressed)));
  before(() => {
    binary = peer.build();
    console.log(`peer: ${execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim()}`);
  });

  describe(`${peer.name} client → ws-stream`, () => {
    let serve: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      serve = await startServer(['--protocols', 'chat,superchat', '--deflate']);
    });
    after(() => serve.stop());

    for (const target of ['accept()', 'ws-stream serve'] as const) {
      for (const deflate of [false, true]) {
        it(`${target}${deflate ? ', permessage-deflate' : ''}: every size both types, ${peer.pieces ? 'fragmented sends, a ping' : 'messages written in pieces (sent whole)'}, close 4000 with a reason`, async () => {
          const echo =
            target === 'accept()' ? await startEchoServer({ perMessageDeflate: true }, selectProtocol) : undefined;
          const tap = await tapped(echo?.port ?? serve.port);
          const wire = tap.next();
          const run = await runNativeClient(binary, tap.port, { deflate, protocols: ['superchat', 'chat'] }, [
            ...SENDS.map(sendStep),
            `ping:${hex('ping ✓')}`,
            `close:4000:${hex(BYE)}`,
          ]);
          // ws-stream's servers here take the default configuration (`true`).
          const response = deflate ? peer.responses.find(([config]) => config === true)![1] : '';
          assert.deepEqual(run.lines, [
            `open ${hex('chat')} ${hex(response)}`,
            ...SENDS.map(echoLine),
            ...(peer.pings ? [`pong ${hex('ping ✓')}`, 'echo after-ping'] : ['unsupported ping']),
            // ws-stream answers a close with its code and reason.
            `closed 4000 ${hex(BYE)}`,
            'done',
          ]);
          assert.equal(run.code, 0);
          const w = await wire;
          assert.equal(header(w.request, 'Sec-WebSocket-Extensions'), deflate ? peer.clientOffer : undefined);
          assert.equal(header(w.response, 'Sec-WebSocket-Extensions'), deflate ? response : undefined);
          // Each message as it went: compressed (RSV1) when agreed, every one (no peer has a threshold), maybe even
          // an empty one; the pieces as continuation frames.
          const sent = w.toServer.slice(0, SENDS.length);
          assert.deepEqual(
            sent.map((m) => [m.opcode, m.rsv1]),
            SENDS.map((s) => [s.binary ? 2 : 1, deflate && (s.size > 0 || peer.compressesEmpty)]),
          );
          // Written whole, a message is cut by the peer's own frame limit only; written in pieces, it went in several.
          assert.deepEqual(
            sent.map((m, i) => (SENDS[i]!.piece > 0 && peer.pieces ? m.frames > 1 : m.frames)),
            sent.map((m, i) => (SENDS[i]!.piece > 0 && peer.pieces ? true : framesFor('client', deflate, m.octets))),
          );
          // ws-stream's echoes of the large ones were compressed too, and smaller on the wire than inflated.
          const large = SENDS.flatMap((s, i) => (s.size >= 65536 ? [[s.size, w.toClient[i]!] as const] : []));
          assert.equal(large.length, 6);
          for (const [size, m] of large) {
            assert.equal(m.rsv1, deflate, `the echo of ${size} octets compressed`);
            if (deflate) assert.ok(m.octets < size, `the echo of ${size} octets is smaller on the wire`);
          }
          if (echo) {
            // What ws-stream read: every octet (sha1 of the same payloads made here).
            const rec = await echo.next();
            assert.deepEqual(rec.messages, [
              ...SENDS.map((s) => digest(payload(s.size, s.seed, !s.binary), s.binary)),
              ...(peer.pings ? [digest(Buffer.from('after the ping'), false)] : []),
            ]);
            assert.equal(rec.protocol, 'chat');
            assert.deepEqual(rec.peerClose, { code: 4000, reason: BYE });
            assert.deepEqual(
              [rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.reason],
              ['remote', 4000, BYE],
            );
          }
        });
      }
    }

    it('ws-stream pings it at once: answered with the payload', async () => {
      const srv = await startInteropServer(true);
      after(() => srv.close());
      const conn = srv.nextConnection();
      const run = await runNativeClient(binary, srv.port, { deflate: true, protocols: ['chat'] }, [
        'send:text:10:1:0',
        `close:1000:${hex('done')}`,
      ]);
      // (A peer whose API tells of no ping received answers it all the same.)
      if (peer.pings) assert.equal(run.lines[1], `ping ${hex('from-ws-stream')}`);
      assert.equal(await (await conn).firstPong, 'from-ws-stream');
      assert.deepEqual((await (await conn).closed).code, 1000);
    });

    it('subprotocols: the server picks from what is offered, none when none fits, none when none offered', async () => {
      const srv = await startEchoServer({}, selectProtocol);
      for (const [offered, picked] of [
        [['superchat'], 'superchat'],
        [['other'], ''],
        [[], ''],
      ] as const) {
        const run = await runNativeClient(binary, srv.port, { protocols: offered.length ? [...offered] : undefined }, [
          'close:1000:-',
        ]);
        assert.deepEqual(run.lines, [`open ${hex(picked)} -`, 'closed 1000 -', 'done']);
        assert.equal((await srv.next()).protocol, picked);
      }
    });

    for (const deflate of [false, true]) {
      it(`over ws-stream's readMessageMax${deflate ? ' (compressed)' : ''}: the peer reads close 1009`, async () => {
        const srv = await startEchoServer({ perMessageDeflate: deflate, readMessageMax: 1000 });
        const run = await runNativeClient(binary, srv.port, { deflate }, [
          'send:binary:1000:1:0',
          'push:binary:1001:2:0',
          'read',
        ]);
        const rec = await srv.next();
        assert.equal(rec.error, 'ERR_WS_MESSAGE_TOO_BIG');
        assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code], ['local', 1009]);
        assert.deepEqual(run.lines.slice(1), [
          'echo binary 1000 ok',
          `closed 1009 ${hex(rec.closeInfo.reason)}`,
          'done',
        ]);
      });

      // (A peer that checks the text it sends cannot be made to send this: libsoup's send_message asserts UTF-8.)
      if (peer.sendsInvalidText)
        it(`text that is not UTF-8${deflate ? ' (compressed)' : ''}: the peer sends it unchecked and reads close 1007`, async () => {
          const srv = await startEchoServer({ perMessageDeflate: deflate });
          const run = await runNativeClient(binary, srv.port, { deflate }, ['invalid-utf8', 'read']);
          const rec = await srv.next();
          assert.equal(rec.error, 'ERR_WS_BAD_FRAME_PAYLOAD');
          assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code], ['local', 1007]);
          assert.deepEqual(run.lines.slice(1), [`closed 1007 ${hex(rec.closeInfo.reason)}`, 'done']);
        });
    }

    it('ws-stream closes with 4001 and a reason: the peer reads both, and its answer is what ws-stream reports', async () => {
      const srv = await startEchoServer({ perMessageDeflate: true });
      const run = await runNativeClient(binary, srv.port, { deflate: true }, [
        `say:${hex(`cmd:close 4001 ${hex(BYE)}`)}`,
        'read',
      ]);
      assert.deepEqual(run.lines.slice(1), [`closed 4001 ${hex(BYE)}`, 'done']);
      const rec = await srv.next();
      assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.reason], ['local', 4001, BYE]);
      assert.deepEqual(rec.peerClose, peer.closeAnswer(4001, BYE));
    });
  });

  describe(`ws-stream → ${peer.name} server`, () => {
    let server: NativeServer;
    /** Connections made so far: the peer numbers them from 1. */
    let opened = 0;
    before(async () => {
      server = await startNativeServer(binary, { deflate: true, readMax: 1024 * 1024 });
    });
    after(() => server.stop());

    for (const deflate of [false, true]) {
      it(`connect()${deflate ? ', permessage-deflate' : ''}: every size both types, pings ${peer.pings ? 'both ways' : 'from ws-stream'}, close 4000 with a reason`, async () => {
        const tap = await tapped(server.port);
        const wire = tap.next();
        const pings: string[] = [];
        const pongs: string[] = [];
        const ws = await connect(`ws://127.0.0.1:${tap.port}/`, {
          perMessageDeflate: deflate,
          protocols: ['superchat', 'chat'],
          controlCallback: (kind, p) => (kind === 'ping' ? pings : kind === 'pong' ? pongs : []).push(p.toString()),
        });
        const id = ++opened;
        assert.equal(ws.protocol, peer.selects(['superchat', 'chat']));
        assert.equal(ws.extensions, deflate ? peer.serverResponse : '');
        const messages = [...SIZES.map((n) => textOf(n)), ...SIZES.map((n, i) => binaryOf(n, i))];
        for (const m of messages) void ws.write(m, { binary: typeof m !== 'string' });
        for (const m of messages) {
          const got = await ws.read();
          const want = typeof m === 'string' ? Buffer.from(m) : m;
          assert.deepEqual([got.binary, digestOf(Buffer.from(got.data))], [typeof m !== 'string', digestOf(want)]);
        }
        // Pings of 0, some and 125 octets (the most a control frame carries, RFC 6455 §5.5) each way.
        const payloads = ['', 'ping ✓', textOf(125)];
        /** The peer's pings: none from a peer whose API sends none. */
        const fromPeer = peer.pings ? payloads : [];
        for (const p of payloads) {
          await ws.ping(p);
          if (peer.pings) await ws.write(`cmd:ping ${hex(p)}`);
        }
        await ws.write('after the pings');
        // The peer answered each ping before it read on, and pinged before it read on: all in before the echo.
        assert.equal((await ws.read()).text(), 'after the pings');
        assert.deepEqual([pongs, pings], [payloads, fromPeer]);
        // ws-stream's pongs go when it reads the pings, after its own writes: the last one is waited for.
        if (peer.pings) await server.line(id, `pong ${hex(payloads.at(-1)!)}`);
        assert.deepEqual(
          server.lines(id).filter((l) => l.startsWith('pong ')),
          fromPeer.map((p) => `pong ${hex(p)}`),
        );
        await ws.close({ code: 4000, reason: BYE });
        const info = await ws.whenClosed();
        assert.deepEqual([info.initiatedBy, info.code], ['local', 4000]);
        assert.deepEqual(ws.closeReason, peer.closeAnswer(4000, BYE));
        assert.equal(await server.line(id, 'closed '), `4000 ${hex(BYE)}`);
        // The peer read every octet: the FNV-1a of each message it printed.
        const read = server.lines(id).filter((l) => l.startsWith('message '));
        assert.deepEqual(
          read.slice(0, messages.length),
          messages.map((m) => messageLine(typeof m === 'string' ? Buffer.from(m) : m, typeof m !== 'string')),
        );
        const w = await wire;
        assert.equal(header(w.request, 'Sec-WebSocket-Extensions') !== undefined, deflate);
        assert.equal(header(w.response, 'Sec-WebSocket-Extensions'), deflate ? peer.serverResponse : undefined);
        // The peer's echoes: compressed when agreed (RSV1 on the first frame); large ones cut by itself.
        const echoes = w.toClient.slice(0, messages.length);
        const sizes = [...SIZES, ...SIZES];
        assert.deepEqual(
          echoes.map((m) => [m.rsv1, m.frames]),
          sizes.map((n, i) => [
            deflate && (n > 0 || peer.compressesEmpty),
            framesFor('server', deflate, echoes[i]!.octets),
          ]),
        );
        // ws-stream's messages: the large ones compressed when agreed.
        const large = w.toServer.slice(0, messages.length).filter((_, i) => sizes[i]! >= 65536);
        assert.deepEqual(
          large.map((m) => m.rsv1),
          [deflate, deflate, deflate, deflate],
        );
        // The pings both ways are on the wire as control frames, each answered by a pong with its payload.
        const controls = (frames: WireFrame[], opcode: number): string[] =>
          frames.filter((f) => f.opcode === opcode).map((f) => f.payload.toString());
        assert.deepEqual(controls(w.controlToServer, 9), payloads);
        assert.deepEqual(controls(w.controlToClient, 10), payloads);
        assert.deepEqual(controls(w.controlToClient, 9), fromPeer);
        assert.deepEqual(controls(w.controlToServer, 10), fromPeer);
      });

      it(`fragmented messages${deflate ? ', compressed' : ''} (cut inside UTF-8, pings between): echoed whole`, async () => {
        await sendFragmented(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: deflate });
        assert.equal(await server.line(++opened, 'closed '), '1000 -');
      });

      it(`the peer sends a message ${peer.pieces ? 'in pieces' : 'written in pieces (whole: its API has no pieces)'}${deflate ? ', compressed' : ''}: read whole`, async () => {
        const tap = await tapped(server.port);
        const wire = tap.next();
        const ws = await connect(`ws://127.0.0.1:${tap.port}/`, { perMessageDeflate: deflate });
        opened++;
        await ws.write('cmd:send text 70000 5 1000');
        await ws.write('cmd:send binary 200000 6 16384');
        const t = await ws.read();
        assert.deepEqual(digest(Buffer.from(t.data), t.binary), digest(payload(70_000, 5, true), false));
        const b = await ws.read();
        assert.deepEqual(digest(Buffer.from(b.data), b.binary), digest(payload(200_000, 6, false), true));
        await ws.close();
        const pieces = (await wire).toClient;
        assert.deepEqual(
          pieces.map((m) => [m.opcode, m.rsv1]),
          [
            [1, deflate],
            [2, deflate],
          ],
        );
        // In pieces: several frames; whole: as the peer cuts any message.
        for (const m of pieces) {
          if (peer.pieces) assert.ok(m.frames > 1, `${m.frames} frames`);
          else assert.equal(m.frames, framesFor('server', deflate, m.octets));
        }
      });
    }

    it('subprotocols: one offered, none that fits, none offered', async () => {
      for (const [offered, picked] of [
        [['superchat'], 'superchat'],
        [['other'], ''],
        [undefined, ''],
      ] as const) {
        if (offered?.[0] === 'other' && peer.refusesUnknownProtocol) {
          // libsoup's server answers 400 ("Unsupported WebSocket subprotocol"); RFC 6455 §4.2.2 would have it answer
          // without one, and leaves it free to refuse.
          const refusal = await connect(`ws://127.0.0.1:${server.port}/`, { protocols: [...offered] }).then(
            () => null,
            (e: ClientHandshakeError) => [e.code, e.response?.status],
          );
          assert.deepEqual(refusal, ['ERR_WS_UPGRADE_DECLINED', 400]);
          continue;
        }
        const ws = await connect(`ws://127.0.0.1:${server.port}/`, { protocols: offered && [...offered] });
        const id = ++opened;
        assert.equal(ws.protocol, picked);
        assert.equal(await server.line(id, 'open '), `${hex(picked)} ${server.lines(id)[0]!.split(' ')[2]}`);
        await ws.close();
      }
    });

    for (const deflate of [false, true]) {
      const options: ConnectOptions = { perMessageDeflate: deflate, readMessageMax: 1000 };
      it(`a message over ws-stream's readMessageMax${deflate ? ' (compressed)' : ''}: the peer reads close 1009`, async () => {
        const ws = await connect(`ws://127.0.0.1:${server.port}/`, options);
        const id = ++opened;
        await ws.write('cmd:send binary 1001 1 0');
        await assert.rejects(ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
        const info = await ws.whenClosed();
        assert.deepEqual([info.initiatedBy, info.code], ['local', 1009]);
        assert.equal(await server.line(id, 'closed '), `1009 ${hex(info.reason)}`);
      });

      if (peer.sendsInvalidText)
        it(`text that is not UTF-8${deflate ? ' (compressed)' : ''}: ws-stream fails it with 1007, the peer reads it`, async () => {
          const ws = await connect(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: deflate });
          const id = ++opened;
          await ws.write('cmd:invalid-utf8');
          await assert.rejects(ws.read(), { code: 'ERR_WS_BAD_FRAME_PAYLOAD' });
          const info = await ws.whenClosed();
          assert.deepEqual([info.initiatedBy, info.code], ['local', 1007]);
          assert.equal(await server.line(id, 'closed '), `1007 ${hex(info.reason)}`);
        });

      // gorilla's limit (SetReadLimit) and libsoup's (max-incoming-payload-size) count the compressed octets on the
      // wire, not what they inflate to: the message, compressed to a few KiB, is read whole and echoed (a decompression
      // bomb gets through the same way).
      const refused = !deflate || peer.limitsInflated;
      it(`a message over the peer's limit (1 MiB)${deflate ? ', compressed' : ''}: ${!refused ? 'read all the same (the limit counts compressed octets)' : peer.dropsOverLimit ? 'dropped without a close frame' : 'ws-stream reads its close 1009'}`, async () => {
        const ws = await connect(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: deflate });
        const id = ++opened;
        const big = binaryOf(1024 * 1024 + 1, 3);
        if (refused && peer.dropsOverLimit) {
          // libsoup sends no close frame: it drops the connection (its error: "payload ... larger than configured
          // max-incoming-payload-size"), unread octets still coming, so ws-stream sees an end or a reset: 1006.
          ws.write(big).catch(() => {});
          const read = await ws.read().then(
            () => null,
            (e: { code?: string }) => e.code,
          );
          assert.ok(read === 'ERR_WS_EOF' || read === 'ERR_WS_NEXT_LAYER', String(read));
          const info = await ws.whenClosed();
          assert.deepEqual([info.initiatedBy, info.code, ws.closeReason], ['abnormal', 1006, undefined]);
          assert.match(await server.ending(id), /^error \S+ 0 -$/);
          return;
        }
        await ws.write(big);
        if (!refused) {
          assert.equal(digestOf(Buffer.from((await ws.read()).data)), digestOf(big));
          await ws.close();
          assert.equal(await server.line(id, 'closed '), '1000 -');
          return;
        }
        await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
        const info = await ws.whenClosed();
        assert.deepEqual([info.initiatedBy, info.code], ['remote', 1009]);
        assert.match(await server.line(id, 'error '), / /);
      });
    }

    it('the peer closes with 4001 and a reason: ws-stream reports both and answers them', async () => {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`);
      const id = ++opened;
      await ws.write(`cmd:close 4001 ${hex(BYE)}`);
      await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
      const info = await ws.whenClosed();
      assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['remote', 4001, BYE, true]);
      assert.equal(await server.line(id, 'closed '), `4001 ${hex(BYE)}`);
    });

    it(`close codes from ws-stream: each read by the peer${peer.refusesCodes.length ? `, but ${peer.refusesCodes.join(', ')}` : ''}`, async () => {
      for (const code of VALID_CODES) {
        const ws = await connect(`ws://127.0.0.1:${server.port}/`);
        const id = ++opened;
        await ws.close({ code, reason: LONGEST });
        const info = await ws.whenClosed();
        assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['local', code, true]);
        if (peer.refusesCodes.includes(code)) {
          // The peer fails the close frame (its own check of the code) and answers 1002.
          assert.match(await server.ending(id), /^error \S+ 0 -$/, `${code}`);
          assert.equal(ws.closeReason?.code, 1002, `${code}`);
        } else {
          assert.equal(await server.ending(id), `closed ${code} ${hex(LONGEST)}`);
          assert.deepEqual(ws.closeReason, peer.closeAnswer(code, LONGEST));
        }
      }
    });

    it('close codes from the peer: the valid ones reported with the reason, the others failed with 1002', async () => {
      const codes = [...VALID_CODES, ...INVALID_CODES].filter((code) => peer.sendsClose(code) !== null);
      assert.ok(codes.length >= VALID_CODES.length);
      for (const code of codes) {
        const sent = peer.sendsClose(code)!;
        // After a close without a code, libsoup's server reads ws-stream's answer but leaves TCP open: ws-stream ends
        // it itself after closeTimeout (a late teardown, not an error), here the shortest.
        const ws = await connect(`ws://127.0.0.1:${server.port}/`, sent === 'none' ? { closeTimeout: 1 } : {});
        const id = ++opened;
        await ws.write(`cmd:close ${code} ${hex(LONGEST)}`);
        const read = await ws.read().then(
          () => null,
          (e: { code?: string }) => e.code,
        );
        const info = await ws.whenClosed();
        const ending = await server.ending(id);
        if (sent === 'none') {
          // A close frame without a code (gorilla's for 1005: FormatCloseMessage returns an empty payload): read as
          // 1005, no reason; ws-stream answers with an empty close frame too, which the peer reads as 1005.
          assert.deepEqual([read, info.initiatedBy, info.code, info.reason], ['ERR_WS_CLOSED', 'remote', 1005, '']);
          assert.equal(ending, 'closed 1005 -');
        } else if (sent !== code) {
          // The peer put another code in its frame (libsoup: 1002, no reason, for one outside its list), read as such.
          assert.deepEqual([read, info.initiatedBy, info.code, info.reason], ['ERR_WS_CLOSED', 'remote', sent, '']);
        } else if (VALID_CODES.includes(code)) {
          assert.deepEqual(
            [read, info.initiatedBy, info.code, info.reason],
            ['ERR_WS_CLOSED', 'remote', code, LONGEST],
          );
          // ws-stream answers with the code and reason; the peer's own check may refuse its code coming back.
          if (peer.refusesCodes.includes(code)) assert.match(ending, /^error \S+ /);
          else assert.equal(ending, `closed ${code} ${hex(LONGEST)}`);
        } else {
          // Sent as asked (the peer does not check the code it sends): ws-stream fails the connection with 1002.
          assert.deepEqual([read, info.initiatedBy, info.code], ['ERR_WS_BAD_CLOSE_CODE', 'local', 1002], `${code}`);
          assert.equal(ending, `closed 1002 ${hex(info.reason)}`);
        }
      }
    });
  });

  describe(`permessage-deflate parameters with ${peer.name}`, () => {
    /** Three messages of 300,000 octets, each a 300-octet pattern repeated: the second the same as the first. */
    const THREE = [
      { binary: true, seed: 1 },
      { binary: true, seed: 1 },
      { binary: false, seed: 2 },
    ];
    let server: NativeServer;
    let opened = 0;
    before(async () => {
      server = await startNativeServer(binary, { deflate: true });
    });
    after(() => server.stop());

    for (const [config, answer] of peer.answers) {
      it(`ws-stream offers ${JSON.stringify(config)}: ${answer ?? 'the answer is refused'}`, async () => {
        const url = `ws://127.0.0.1:${server.port}/`;
        if (answer === null) {
          await assert.rejects(connect(url, { perMessageDeflate: config }), { code: 'ERR_WS_BAD_EXTENSION' });
          // The peer had answered 101: it sees the connection end without a close frame (Beast: its read fails;
          // gorilla: a CloseError of 1006, its code for "no close frame").
          assert.match(await server.ending(++opened), /^(error \S+ 0 -|closed 1006 \S+)$/);
          return;
        }
        const ws = await connect(url, { perMessageDeflate: config });
        const id = ++opened;
        assert.equal(ws.extensions, answer);
        for (const m of THREE) {
          const data = payload(300_000, m.seed, !m.binary);
          await ws.write(data, { binary: m.binary });
          const echo = await ws.read();
          assert.deepEqual(digest(Buffer.from(echo.data), echo.binary), digest(data, m.binary));
        }
        await ws.close();
        assert.equal(await server.line(id, 'closed '), '1000 -');
      });
    }

    for (const [config, response] of peer.responses) {
      it(`ws-stream's server with ${JSON.stringify(config)}: ${response || 'declined'}`, async () => {
        const srv = await startEchoServer({ perMessageDeflate: config });
        const run = await runNativeClient(binary, srv.port, { deflate: true }, [
          ...THREE.map((m) => `send:${m.binary ? 'binary' : 'text'}:300000:${m.seed}:0`),
          'close:1000:-',
        ]);
        assert.deepEqual(run.lines, [
          `open - ${hex(response)}`,
          ...THREE.map((m) => `echo ${m.binary ? 'binary' : 'text'} 300000 ok`),
          'closed 1000 -',
          'done',
        ]);
        const rec = await srv.next();
        assert.equal(rec.extensions, response);
        assert.deepEqual(
          rec.messages,
          THREE.map((m) => digest(payload(300_000, m.seed, !m.binary), m.binary)),
        );
      });
    }
  });
}
