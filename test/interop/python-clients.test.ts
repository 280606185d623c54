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
import type { DeflateOptions } from '../../src/index.js';
import { PYTHON, peerScript, runPeer } from './support.js';
import { startAcceptServer, targets } from './echo-targets.js';

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

async function runClient(
  lib: string,
  url: string,
  config: { deflate: Offer[] | null; commands: boolean },
): Promise<Report> {
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
        // ws's API (and ws-stream/ws's) gives the extension's name only; accept() gives the response's value.
        if (s)
          assert.equal(
            s.extensions,
            (target.name === 'accept() over net' ? r.extensions : r.extensions?.split(';')[0]) ?? '',
          );
      });
    }
  });
}

/**
 * [library, the server's configuration, the client's offers, the response ws-stream must give (null: declined)].
 * Autobahn's default offer carries client_no_context_takeover (accept_no_context_takeover) and a valueless
 * client_max_window_bits; wsproto's a valueless client_max_window_bits; Tornado's only the latter.
 */
const deflateCases: [string, DeflateOptions, Offer[], string | null][] = [
  ['autobahn', {}, [{}], 'permessage-deflate; client_no_context_takeover'],
  [
    'autobahn',
    {},
    [{ server_no_context_takeover: true }],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  ],
  ...[9, 10, 11, 12, 13, 14, 15].map((bits): [string, DeflateOptions, Offer[], string] => [
    'autobahn',
    {},
    [{ server_max_window_bits: bits }],
    `permessage-deflate; client_no_context_takeover; server_max_window_bits=${bits}`,
  ]),
  // Several offers: the first acceptable one is taken.
  [
    'autobahn',
    {},
    [{ server_max_window_bits: 9, server_no_context_takeover: true }, {}],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9',
  ],
  [
    'autobahn',
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    [{}],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
  ],
  [
    'autobahn',
    { serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    [{ server_max_window_bits: 9 }],
    'permessage-deflate; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11',
  ],
  // A client that does not let the server limit its window, to a server that must: declined (as ws does).
  ['autobahn', { clientMaxWindowBits: 11 }, [{ accept_max_window_bits: false }], null],
  [
    'wsproto',
    {},
    [
      {
        client_no_context_takeover: true,
        client_max_window_bits: 9,
        server_max_window_bits: 12,
        server_no_context_takeover: true,
      },
    ],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9',
  ],
  [
    'wsproto',
    { serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    [{}],
    'permessage-deflate; server_max_window_bits=9; client_max_window_bits=9',
  ],
  [
    'wsproto',
    {},
    [{ client_max_window_bits: 15, server_max_window_bits: 9 }],
    'permessage-deflate; server_max_window_bits=9; client_max_window_bits=15',
  ],
  ['tornado', {}, [{}], 'permessage-deflate'],
  // Not clientNoContextTakeover: Tornado 6.2 drops valueless parameters of a response (httputil._parse_header keeps
  // only `name=value` pairs), so its client keeps its context anyway and its next message fails here with 1007.
  [
    'tornado',
    { serverNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    [{}],
    'permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
  ],
];

describe('permessage-deflate parameters: Python clients → accept()', () => {
  for (const [lib, config, offers, response] of deflateCases) {
    it(`${lib} offering ${JSON.stringify(offers)} to ${JSON.stringify(config)}`, async (t) => {
      const server = await startAcceptServer(config);
      t.after(() => server.stop());
      const r = await runClient(lib, server.url, { deflate: offers, commands: true });
      assert.deepEqual(r, expected(r, true, lib !== 'tornado'));
      assert.equal(r.extensions, response, 'the response the peer read');
      assert.equal((await server.seen(0))!.extensions, response ?? '');
    });
  }
});

describe('a peer fault ws-stream meets: Tornado 6.2 keeps its context when told not to', () => {
  // Tornado's client reads no valueless parameter of the response (httputil._parse_header keeps `name=value` pairs
  // only; websocket.py's _get_compressor_options then finds no client_no_context_takeover), so its compressor keeps
  // its window. ws-stream, resetting its inflater as agreed, meets a back-reference it cannot have: the connection is
  // failed with 1007, not delivered wrong. The first four messages (no back-reference yet) pass.
  it('ws-stream fails its 64 KiB message with 1007', async (t) => {
    const server = await startAcceptServer({ clientNoContextTakeover: true });
    t.after(() => server.stop());
    const r = (await runClient('tornado', server.url, { deflate: [{}], commands: true })) as Report & {
      closed_early?: [number, string];
    };
    assert.equal(r.extensions, 'permessage-deflate; client_no_context_takeover');
    // Echoes of the first four may or may not have left before the failure; each that came was right.
    assert.ok(r.echoes.length <= 4 && r.echoes.every(Boolean), `echoes ${JSON.stringify(r.echoes)}`);
    assert.equal(r.closed_early?.[0], 1007);
    assert.match(String(r.closed_early?.[1]), /cannot inflate/);
  });
});
