/**
 * ws-stream's clients (the core `connect()`, ws-stream/ws's `WebSocket`) against three more independent Python
 * servers (Debian 12's packages): Tornado, Autobahn|Python on asyncio, and wsproto (sans-I/O, over asyncio's plain
 * streams). The shared exchange (js-peers.ts): subprotocols, text and binary at the length encodings' boundaries up
 * to 16 MiB, pings both ways, close codes and 123-octet reasons both ways, drops seen as 1006 — without and with
 * permessage-deflate, whose response is checked as ws-stream read it. Autobahn also echoes in fragments; Tornado
 * pings on its own (`websocket_ping_interval`). The server reports each connection it saw end as one JSON line
 * (peers/py_server.py), checked here: the close codes and reasons ws-stream sent arrived. A missing library fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect, type ClientHandshakeError, type DeflateOptions } from '../../src/index.js';
import { PYTHON, peerScript, startPeerServer } from './support.js';
import {
  CODES,
  LONGEST,
  binary,
  compatClient,
  coreClientWith,
  digest,
  exchange,
  text,
  type Client,
} from './js-peers.js';
import type { Running } from './echo-targets.js';

/** What the Python server reports of a connection once it ended. */
interface Seen {
  protocol?: string | null;
  close?: [number | null, string | null];
  keepalive_pongs?: boolean;
  extensions?: string[];
}

/** Starts the peer; its reports are collected, and waited for by a predicate. */
async function startPython(
  lib: string,
  config: Record<string, unknown>,
): Promise<Running & { name: string; until(f: (all: Seen[]) => boolean): Promise<Seen[]> }> {
  const peer = await startPeerServer(PYTHON, [peerScript('py_server.py'), lib, JSON.stringify(config)]);
  console.log(`peer: ${peer.name} (python) ${JSON.stringify(config)}`);
  const reports: Seen[] = [];
  let waiting: (() => void)[] = [];
  let rest = '';
  (peer.proc as ChildProcess).stdout!.on('data', (d: Buffer) => {
    rest += d.toString();
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line.startsWith('{')) reports.push(JSON.parse(line) as Seen);
    for (const w of waiting.splice(0)) w();
  });
  const until = async (f: (all: Seen[]) => boolean): Promise<Seen[]> => {
    while (!f(reports)) await new Promise<void>((r) => waiting.push(r));
    return reports;
  };
  return {
    name: peer.name,
    url: `ws://127.0.0.1:${peer.port}`,
    seen: () => undefined,
    until,
    async stop() {
      waiting = [];
      peer.proc.kill();
    },
  };
}

/** The close codes with the longest reason the exchange sends, as the peer received them. */
const sawCloses = (all: Seen[]): boolean =>
  CODES.every((code) => all.some((s) => s.close?.[0] === code && s.close[1] === LONGEST));

/** A refused upgrade: ws-stream's connect() sees the 403 the peer wrote. */
async function refused(url: string): Promise<void> {
  const err = await connect(`${url}/forbidden`).then(
    () => null,
    (e: ClientHandshakeError) => e,
  );
  assert.equal(err?.code, 'ERR_WS_UPGRADE_DECLINED');
  assert.equal(err?.response?.status, 403);
}

const servers: { lib: string; plain: Record<string, unknown>; deflate: Record<string, unknown> }[] = [
  { lib: 'tornado', plain: { deflate: null }, deflate: { deflate: {}, ping_interval: 0.05 } },
  { lib: 'autobahn', plain: { deflate: null, fragment_size: 16_384 }, deflate: { deflate: {}, fragment_size: 1000 } },
  { lib: 'wsproto', plain: { deflate: null }, deflate: { deflate: {} } },
];
/** ws-stream's offers to each server, and the response it must read (Tornado: see the note on serverNoContextTakeover). */
const offers: Record<string, [DeflateOptions | true, string][]> = {
  // Tornado 6.2 reads no valueless parameter of an offer (httputil._parse_header keeps `name=value` pairs only): it
  // drops client_no_context_takeover (harmless: ws-stream resets its compressor anyway) and would ignore
  // server_no_context_takeover, keeping its context while ws-stream resets its inflater, so that one is not offered.
  tornado: [
    [true, 'permessage-deflate'],
    [{ clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
    [{ clientNoContextTakeover: true, clientMaxWindowBits: 12 }, 'permessage-deflate; client_max_window_bits=12'],
  ],
  // Autobahn's accept (PerMessageDeflateOfferAccept with its defaults) answers the server's parameters only.
  autobahn: [
    [true, 'permessage-deflate'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate'],
    [{ serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9'],
    [{ serverMaxWindowBits: 12, clientMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=12'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover',
    ],
  ],
  wsproto: [
    [true, 'permessage-deflate; client_max_window_bits=15'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_max_window_bits=15'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits=15'],
    [
      { serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      'permessage-deflate; client_max_window_bits=9; server_max_window_bits=9',
    ],
    [
      {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 11,
        clientMaxWindowBits: 13,
      },
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=13; server_max_window_bits=11',
    ],
  ],
};
const clients: Client[] = [coreClientWith({}), coreClientWith({ perMessageDeflate: true }), compatClient];

for (const { lib, plain, deflate } of servers) {
  describe(`ws-stream clients → Python ${lib}`, () => {
    for (const [mode, config] of [
      ['no extension', plain],
      ['permessage-deflate', deflate],
    ] as const) {
      for (const client of clients) {
        it(`${client.name}${client === clients[1] ? ' (deflate offered)' : ''}, server with ${mode}`, async (t) => {
          const server = await startPython(lib, config);
          t.after(() => server.stop());
          await exchange(client, server, true, 'chat');
          await server.until(sawCloses);
          await refused(server.url);
        });
      }
    }

    for (const [offer, response] of offers[lib] ?? []) {
      it(`permessage-deflate offered ${JSON.stringify(offer)}: the response, and messages through it`, async (t) => {
        const server = await startPython(lib, deflate);
        t.after(() => server.stop());
        const ws = await connect(`${server.url}/`, { protocols: ['chat'], perMessageDeflate: offer });
        assert.equal(ws.extensions, response);
        const messages = [text(64 * 1024), binary(1024 * 1024, 5), '', text(200), binary(70_000, 6)];
        for (const m of messages) await ws.write(m, { binary: typeof m !== 'string' });
        for (const m of messages) {
          const got = await ws.read();
          assert.equal(got.binary, typeof m !== 'string');
          assert.equal(digest(Buffer.from(got.data)), digest(Buffer.from(m)));
        }
        if (lib === 'tornado') {
          // Its own pings (websocket_ping_interval) are answered: it says so once one pong came back.
          await ws.write('cmd:keepalive', { binary: false });
          assert.equal((await ws.read()).text(), 'keepalive');
        }
        await ws.close({ code: 4002, reason: 'deflate ✓' });
        assert.deepEqual(ws.closeReason, { code: 4002, reason: lib === 'tornado' ? '' : 'deflate ✓' });
        await server.until((all) => all.some((s) => s.close?.[0] === 4002 && s.close[1] === 'deflate ✓'));
      });
    }
  });
}
