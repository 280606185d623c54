/**
 * permessage-deflate parameters (RFC 7692 §7.1) negotiated with real peers, Python `websockets` and
 * `aiohttp`, in both roles: window bits 8–15 each way (with and without a value), no context takeover on
 * each side, several offers in one header, offers that must be declined. Each negotiation is followed by
 * messages at the length boundaries (0, 1, 125, 126, 65535, 65536 octets, text and binary) and a pair of
 * messages that repeat each other (context takeover), whose echoes are compared octet for octet.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type DeflateOptions, type WebSocketStream } from '../../src/index.js';
import {
  digest,
  payload,
  runPythonClient,
  startEchoServer,
  startPythonServer,
  type PeerLib,
  type Step,
} from './edge.js';

/** The messages of every exchange: the length boundaries both types, then a message twice. */
const SIZES = [0, 1, 125, 126, 65535, 65536];
const STEPS: Step[] = [
  ...SIZES.flatMap((size, i): Step[] => [
    { send: size, seed: i },
    { send: size, seed: i, text: true },
  ]),
  { send: 4000, seed: 99 },
  { send: 4000, seed: 99 },
];

/** The extension the ws-stream server negotiated, as the client saw it and as the server answered it. */
function checkServerSide(
  report: Awaited<ReturnType<typeof runPythonClient>>,
  rec: Awaited<ReturnType<Awaited<ReturnType<typeof startEchoServer>>['next']>>,
  expected: string | null,
): void {
  assert.equal(report.error, null, `the peer failed: ${report.error}`);
  assert.equal(report.extensions ?? null, expected, `offered: ${rec.offered}`);
  assert.equal(rec.extensions, expected ?? '');
  assert.deepEqual(
    report.echoes,
    STEPS.map(() => true),
  );
  assert.deepEqual(
    rec.messages,
    STEPS.map((s) => 'send' in s && digest(payload(s.send, s.seed ?? 0, !!s.text), !s.text)),
  );
  assert.equal(rec.closeInfo.wasClean, true);
  assert.equal(rec.closeInfo.code, 1000);
}

interface ServerCase {
  name: string;
  lib: PeerLib;
  /** The peer's offer options. */
  offer: unknown;
  server: DeflateOptions | true;
  /** The Sec-WebSocket-Extensions the server answers (null: none). */
  expected: string | null;
}

const serverCases: ServerCase[] = [
  // Python websockets' client: a list of offers, each one factory's options.
  {
    name: 'default offer (client_max_window_bits without a value)',
    lib: 'websockets',
    offer: [{}],
    server: true,
    expected: 'permessage-deflate',
  },
  {
    name: 'an offer without client_max_window_bits',
    lib: 'websockets',
    offer: [{ client_max_window_bits: null }],
    server: true,
    expected: 'permessage-deflate',
  },
  ...[8, 9, 10, 11, 12, 13, 14, 15].map(
    (bits): ServerCase => ({
      name: `server_max_window_bits=${bits} offered`,
      lib: 'websockets',
      offer: [{ server_max_window_bits: bits }],
      server: true,
      expected: `permessage-deflate; server_max_window_bits=${bits}`,
    }),
  ),
  ...[8, 9, 10, 12, 15].map(
    (bits): ServerCase => ({
      name: `serverMaxWindowBits ${bits} configured, the offer without server_max_window_bits`,
      lib: 'websockets',
      offer: [{}],
      server: { serverMaxWindowBits: bits },
      expected: bits === 15 ? 'permessage-deflate' : `permessage-deflate; server_max_window_bits=${bits}`,
    }),
  ),
  // websockets 10.4 cannot compress with an 8-bit window itself (zlib refuses wbits=-8): 9 to 15 only.
  ...[9, 10, 11, 12, 13, 14, 15].map(
    (bits): ServerCase => ({
      name: `client_max_window_bits=${bits} offered`,
      lib: 'websockets',
      offer: [{ client_max_window_bits: bits }],
      server: true,
      expected: `permessage-deflate; client_max_window_bits=${bits}`,
    }),
  ),
  {
    name: 'clientMaxWindowBits 10 configured, the offer allows it',
    lib: 'websockets',
    offer: [{}],
    server: { clientMaxWindowBits: 10 },
    expected: 'permessage-deflate; client_max_window_bits=10',
  },
  {
    name: 'clientMaxWindowBits 10 configured, the offer has client_max_window_bits=12',
    lib: 'websockets',
    offer: [{ client_max_window_bits: 12 }],
    server: { clientMaxWindowBits: 10 },
    expected: 'permessage-deflate; client_max_window_bits=10',
  },
  {
    name: 'no context takeover asked for on both sides',
    lib: 'websockets',
    offer: [{ server_no_context_takeover: true, client_no_context_takeover: true }],
    server: true,
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
  {
    name: 'no context takeover configured on both sides',
    lib: 'websockets',
    offer: [{}],
    server: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
  {
    name: 'every parameter at once',
    lib: 'websockets',
    offer: [
      {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 9,
        client_max_window_bits: 11,
      },
    ],
    server: true,
    expected:
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11',
  },
  {
    name: 'two offers in one header: the first is taken',
    lib: 'websockets',
    offer: [{ server_max_window_bits: 10, client_max_window_bits: null }, {}],
    server: true,
    expected: 'permessage-deflate; server_max_window_bits=10',
  },
  {
    name: 'two offers, the first declined (it cannot limit the client window the server needs)',
    lib: 'websockets',
    offer: [{ client_max_window_bits: null }, { server_max_window_bits: 12 }],
    server: { clientMaxWindowBits: 9 },
    expected: 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=9',
  },
  {
    name: 'the only offer declined: no compression, messages still pass',
    lib: 'websockets',
    offer: [{ client_max_window_bits: null }],
    server: { clientMaxWindowBits: 9 },
    expected: null,
  },
  // aiohttp's client offers `client_max_window_bits; server_max_window_bits=N` (N < 15), compress=N.
  ...[9, 10, 12, 15].map(
    (bits): ServerCase => ({
      name: `aiohttp compress=${bits}`,
      lib: 'aiohttp',
      offer: { wbits: bits },
      server: true,
      expected: bits === 15 ? 'permessage-deflate' : `permessage-deflate; server_max_window_bits=${bits}`,
    }),
  ),
  {
    name: 'aiohttp, serverMaxWindowBits 8 and no context takeover on both sides configured',
    lib: 'aiohttp',
    offer: { wbits: 15 },
    server: { serverMaxWindowBits: 8, serverNoContextTakeover: true, clientNoContextTakeover: true },
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8',
  },
  {
    name: 'aiohttp, clientMaxWindowBits 9 configured',
    lib: 'aiohttp',
    offer: { wbits: 15 },
    server: { clientMaxWindowBits: 9 },
    expected: 'permessage-deflate; client_max_window_bits=9',
  },
];

describe('permessage-deflate parameters: ws-stream server ← Python clients', () => {
  for (const c of serverCases) {
    it(`${c.lib}: ${c.name}`, async () => {
      const srv = await startEchoServer({ perMessageDeflate: c.server, readMessageMax: 1 << 20 });
      const record = srv.next();
      const report = await runPythonClient(c.lib, `ws://127.0.0.1:${srv.port}/`, {
        deflate: c.offer as Record<string, unknown>,
        steps: [...STEPS, { close: 1000 }],
      });
      checkServerSide(report, await record, c.expected);
      assert.equal(report.close_code, 1000);
    });
  }
});

/** Sends STEPS' messages and checks each echo. */
async function exchange(ws: WebSocketStream): Promise<void> {
  for (const s of STEPS) {
    if (!('send' in s)) continue;
    const data = payload(s.send, s.seed ?? 0, !!s.text);
    await ws.write(data, { binary: !s.text });
    const m = await ws.read();
    assert.deepEqual(digest(m.data, m.binary), digest(data, !s.text), `the echo of ${s.send} octets`);
  }
}

interface ClientCase {
  name: string;
  lib: PeerLib;
  /** The peer server's permessage-deflate options. */
  server: unknown;
  client: DeflateOptions | boolean;
  /** What the server answers, as our client reports it ('' for none). */
  expected: string;
  /** What our client offered, as the server saw it. */
  offered?: string;
}

const clientCases: ClientCase[] = [
  // The same messages uncompressed, as a baseline.
  { name: 'no permessage-deflate', lib: 'websockets', server: null, client: false, expected: '' },
  { name: 'no permessage-deflate', lib: 'aiohttp', server: null, client: false, expected: '' },
  {
    name: 'defaults',
    lib: 'websockets',
    server: [{}],
    client: true,
    expected: 'permessage-deflate',
    offered: 'permessage-deflate; client_max_window_bits',
  },
  // websockets 10.4 cannot compress with an 8-bit window itself: server_max_window_bits 9 to 15.
  ...[9, 10, 11, 12, 13, 14, 15].map(
    (bits): ClientCase => ({
      name: `its server_max_window_bits=${bits}`,
      lib: 'websockets',
      server: [{ server_max_window_bits: bits }],
      client: true,
      expected: `permessage-deflate; server_max_window_bits=${bits}`,
    }),
  ),
  ...[8, 9, 10, 11, 12, 13, 14, 15].map(
    (bits): ClientCase => ({
      name: `its client_max_window_bits=${bits}`,
      lib: 'websockets',
      server: [{ client_max_window_bits: bits }],
      client: true,
      expected: `permessage-deflate; client_max_window_bits=${bits}`,
    }),
  ),
  ...[8, 9, 12].map(
    (bits): ClientCase => ({
      name: `our clientMaxWindowBits ${bits}`,
      lib: 'websockets',
      server: [{}],
      client: { clientMaxWindowBits: bits },
      expected: `permessage-deflate; client_max_window_bits=${bits}`,
      offered: `permessage-deflate; client_max_window_bits=${bits}`,
    }),
  ),
  {
    name: 'our serverMaxWindowBits 10 (its default window is larger: it answers 10)',
    lib: 'websockets',
    server: [{}],
    client: { serverMaxWindowBits: 10 },
    expected: 'permessage-deflate; server_max_window_bits=10',
    offered: 'permessage-deflate; server_max_window_bits=10; client_max_window_bits',
  },
  {
    name: 'no context takeover on both sides, asked by us',
    lib: 'websockets',
    server: [{}],
    client: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
  {
    name: 'no context takeover on both sides, set by the server',
    lib: 'websockets',
    server: [{ server_no_context_takeover: true, client_no_context_takeover: true }],
    client: true,
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
  {
    name: 'its require_client_max_window_bits with client_max_window_bits=9',
    lib: 'websockets',
    server: [{ client_max_window_bits: 9, require_client_max_window_bits: true }],
    client: true,
    expected: 'permessage-deflate; client_max_window_bits=9',
  },
  // aiohttp's server answers server_max_window_bits and server_no_context_takeover only.
  { name: 'defaults', lib: 'aiohttp', server: {}, client: true, expected: 'permessage-deflate' },
  {
    name: 'our serverMaxWindowBits 9',
    lib: 'aiohttp',
    server: {},
    client: { serverMaxWindowBits: 9 },
    expected: 'permessage-deflate; server_max_window_bits=9',
  },
  {
    name: 'our serverMaxWindowBits 8 (zlib cannot: it declines, no compression)',
    lib: 'aiohttp',
    server: {},
    client: { serverMaxWindowBits: 8 },
    expected: '',
  },
  {
    name: 'our no context takeover on both sides, clientMaxWindowBits 10',
    lib: 'aiohttp',
    server: {},
    client: { serverNoContextTakeover: true, clientNoContextTakeover: true, clientMaxWindowBits: 10 },
    expected: 'permessage-deflate; server_no_context_takeover',
  },
];

describe('permessage-deflate parameters: ws-stream client → Python servers', () => {
  for (const c of clientCases) {
    it(`${c.lib}: ${c.name}`, async () => {
      const peer = await startPythonServer(c.lib, { deflate: c.server as Record<string, unknown> });
      const ws = await connect(`ws://127.0.0.1:${peer.port}/`, {
        perMessageDeflate: c.client,
        readMessageMax: 1 << 20,
      });
      assert.equal(ws.extensions, c.expected);
      await exchange(ws);
      await ws.close({ code: 1000, reason: 'done' });
      assert.equal(ws.closeInfo?.wasClean, true);
      const rec = await peer.next();
      assert.equal(rec.error, null);
      if (c.offered !== undefined) assert.equal(rec.request_extensions, c.offered);
      assert.equal(rec.extensions ?? '', c.expected);
      assert.equal(rec.messages.length, STEPS.length);
      assert.equal(rec.close_code, 1000);
    });
  }
});

describe('permessage-deflate offers the ws-stream server must decline, sent by websockets', () => {
  const invalid = [
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=7',
    'permessage-deflate; server_max_window_bits',
    'permessage-deflate; client_max_window_bits=7',
    'permessage-deflate; client_max_window_bits=08',
    'permessage-deflate; x_param=1',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; server_no_context_takeover=1',
    'x-webkit-deflate-frame; no_context_takeover',
  ];
  it('every offer invalid (RFC 7692 §5.1, §7.1): none is accepted, the messages pass uncompressed', async () => {
    const srv = await startEchoServer({ perMessageDeflate: true });
    const record = srv.next();
    const report = await runPythonClient('websockets', `ws://127.0.0.1:${srv.port}/`, {
      extensions_header: invalid.join(', '),
      steps: [...STEPS, { close: 1000 }],
    });
    const rec = await record;
    assert.equal(rec.offered, invalid.join(', '));
    checkServerSide(report, rec, null);
  });
});
