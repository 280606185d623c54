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
import { CODES, LONGEST, coreClientWith, compatClient, exchange, type Client } from './js-peers.js';
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

/** Opens one connection with `client` and checks the permessage-deflate response it got (`undefined`: none). */
async function deflateResponse(url: string, options: DeflateOptions | true): Promise<string> {
  const ws = await connect(`${url}/`, { protocols: ['chat'], perMessageDeflate: options });
  const extensions = ws.extensions;
  await ws.close({ code: 1000, reason: 'done' });
  return extensions;
}

const servers: { lib: string; plain: Record<string, unknown>; deflate: Record<string, unknown> }[] = [
  { lib: 'tornado', plain: { deflate: null }, deflate: { deflate: {}, ping_interval: 0.05 } },
  { lib: 'autobahn', plain: { deflate: null, fragment_size: 16_384 }, deflate: { deflate: {}, fragment_size: 1000 } },
  { lib: 'wsproto', plain: { deflate: null }, deflate: { deflate: {} } },
];
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

    it('the permessage-deflate response ws-stream reads', async (t) => {
      const server = await startPython(lib, deflate);
      t.after(() => server.stop());
      const response = await deflateResponse(server.url, true);
      assert.match(response, /^permessage-deflate\b/);
      console.log(`${lib} answered ${response}`);
    });
  });
}
