/**
 * Four more independent Python clients (Debian 12's packages) against ws-stream's servers — ws-stream/ws's
 * WebSocketServer, `accept()` over net, `ws-stream serve` — with the real ws's WebSocketServer as the control:
 * Tornado, Autobahn|Python on asyncio, wsproto (sans-I/O, over a plain socket) and websocket-client. Each: text,
 * binary, empty, 64 KiB and 1 MiB messages; fragmented sends; a ping answered; a ping from the server answered;
 * close codes and reasons both ways; with and without permessage-deflate, its response checked as the peer read it.
 * The peer reports what it saw as one JSON line (peers/py_client.py); a peer whose library is missing fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PYTHON, peerScript, runPeer } from './support.js';
import { targets } from './echo-targets.js';

type Offer = Record<string, number | boolean>;
interface Report {
  peer: string;
  protocol: string | null;
  extensions: string | null;
  echoes: boolean[];
  fragmented: boolean[] | null;
  pong: string;
  server_ping?: [string, string];
  close: unknown[];
  server_close?: unknown[];
}

async function runClient(lib: string, url: string, config: { deflate: Offer[] | null; commands: boolean }): Promise<Report> {
  const out = await runPeer(PYTHON, [peerScript('py_client.py'), lib, `${url}/`, JSON.stringify(config)]);
  const report = JSON.parse(out) as Report;
  console.log(`peer: ${report.peer} → ${report.extensions ?? 'no extension'}`);
  return report;
}

/** What every library must have seen of the exchange (fragmented: null where it cannot send fragments). */
function expected(r: Report, commands: boolean, fragments: boolean): Partial<Report> {
  return {
    peer: r.peer,
    protocol: 'chat',
    extensions: r.extensions,
    echoes: [true, true, true, true, true, true, true],
    fragmented: fragments ? [true, true] : null,
    pong: 'interop',
    ...(commands ? { server_ping: ['text', 'pong from-the-server'] as [string, string] } : {}),
    close: [4000, 'bye ✓'],
    ...(commands ? { server_close: ['close', [4001, 'server bye ✓']] } : {}),
  };
}

const libs = [
  { lib: 'tornado', fragments: false, deflate: true },
  { lib: 'autobahn', fragments: true, deflate: true },
  { lib: 'wsproto', fragments: true, deflate: true },
  { lib: 'websocket-client', fragments: true, deflate: false },
] as const;

for (const { lib, fragments, deflate } of libs) {
  describe(`Python ${lib} → servers`, () => {
    for (const target of targets) {
      it(`${target.name}: the exchange, no extension`, async (t) => {
        const server = await target.start(false);
        t.after(() => server.stop());
        const r = await runClient(lib, server.url, { deflate: null, commands: target.commands });
        assert.deepEqual(r, expected(r, target.commands, fragments));
        assert.equal(r.extensions, null);
        const s = await server.seen(0);
        if (s) {
          assert.deepEqual([s.protocol, s.extensions], ['chat', '']);
          assert.deepEqual(await s.closed, { code: 4000, reason: 'bye ✓' });
        }
      });

      it(`${target.name}: with permessage-deflate offered`, async (t) => {
        const server = await target.start(true);
        t.after(() => server.stop());
        const r = await runClient(lib, server.url, { deflate: [{}], commands: target.commands });
        assert.deepEqual(r, expected(r, target.commands, fragments));
        if (deflate) assert.match(String(r.extensions), /^permessage-deflate\b/);
        else assert.equal(r.extensions, null);
        const s = await server.seen(0);
        if (s) assert.equal(s.extensions, r.extensions ?? '');
      });
    }
  });
}
