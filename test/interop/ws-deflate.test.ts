/**
 * permessage-deflate parameters with the `ws` package (the real one, not ws-stream/ws) in both roles: its
 * client's offers against the ws-stream server's configurations, and the ws-stream client's offers against
 * its server's configurations; each negotiation is followed by messages at the length boundaries and a
 * repeated message, whose echoes are compared.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import WebSocket, { WebSocketServer, type PerMessageDeflateOptions } from 'ws';
import { connect, type ClientHandshakeError, type DeflateOptions } from '../../src/index.js';
import { digest, payload, startEchoServer } from './edge.js';

const SIZES = [0, 1, 125, 126, 65535, 65536];
const MESSAGES: [Buffer, boolean][] = [
  ...SIZES.flatMap((size, i): [Buffer, boolean][] => [
    [payload(size, i, false), true],
    [payload(size, i, true), false],
  ]),
  [payload(4000, 99, false), true],
  [payload(4000, 99, false), true],
];

interface Case {
  name: string;
  ws: PerMessageDeflateOptions;
  ours: DeflateOptions | true;
  /** The extension agreed ('' for none). */
  expected: string;
}

/** One case per window size: `who` ('its': ws's option, 'our': ours) sets `side`_max_window_bits to each of `bits`. */
function windowBitsCases(who: 'its' | 'our', side: 'server' | 'client', bits: number[]): Case[] {
  const option = `${side}MaxWindowBits` as const;
  return bits.map((b) => ({
    name: `${who} ${option} ${b}`,
    ws: who === 'its' ? { [option]: b } : {},
    ours: who === 'our' ? { [option]: b } : true,
    expected: `permessage-deflate; ${side}_max_window_bits=${b}`,
  }));
}

const serverCases: Case[] = [
  { name: 'defaults', ws: {}, ours: true, expected: 'permessage-deflate' },
  ...windowBitsCases('its', 'server', [8, 9, 10, 12, 14]),
  ...windowBitsCases('its', 'client', [8, 9, 10, 12, 14]),
  ...windowBitsCases('our', 'client', [8, 11]),
  {
    name: 'our clientMaxWindowBits 9, its clientMaxWindowBits false: the only offer is declined',
    ws: { clientMaxWindowBits: false } as unknown as PerMessageDeflateOptions,
    ours: { clientMaxWindowBits: 9 },
    expected: '',
  },
  {
    name: 'no context takeover both sides, asked by it',
    ws: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ours: true,
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
  {
    name: 'no context takeover both sides, configured by us, window bits 8 each side',
    ws: {},
    ours: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 8,
      clientMaxWindowBits: 8,
    },
    expected:
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
  },
];

describe('permessage-deflate: the ws-stream server ← the ws client', () => {
  for (const c of serverCases) {
    it(c.name, async () => {
      const srv = await startEchoServer({ perMessageDeflate: c.ours });
      const record = srv.next();
      const client = new WebSocket(`ws://127.0.0.1:${srv.port}/`, { perMessageDeflate: { threshold: 0, ...c.ws } });
      await new Promise((r, j) => {
        client.once('open', r);
        client.once('error', j);
      });
      // ws's `extensions` names the extensions only; the server's record has the parameters.
      assert.equal(client.extensions, c.expected === '' ? '' : 'permessage-deflate');
      for (const [data, binary] of MESSAGES) {
        const echo = new Promise<[Buffer, boolean]>((r) => client.once('message', (d, b) => r([d as Buffer, b])));
        client.send(data, { binary });
        const [back, isBinary] = await echo;
        assert.deepEqual(digest(back, isBinary), digest(data, binary));
      }
      const closed = new Promise<number>((r) => client.once('close', r));
      client.close(1000);
      assert.equal(await closed, 1000);
      const rec = await record;
      assert.equal(rec.extensions, c.expected);
      assert.equal(rec.messages.length, MESSAGES.length);
      assert.equal(rec.closeInfo.wasClean, true);
    });
  }
});

const clientCases: Case[] = [
  { name: 'defaults', ws: {}, ours: true, expected: 'permessage-deflate' },
  ...windowBitsCases('its', 'server', [8, 9, 10, 12, 14]),
  ...windowBitsCases('its', 'client', [8, 9, 10, 12, 14]),
  ...windowBitsCases('our', 'server', [8, 9, 13]),
  ...windowBitsCases('our', 'client', [8, 10]),
  {
    name: 'its clientMaxWindowBits 10 against our 12',
    ws: { clientMaxWindowBits: 10 },
    ours: { clientMaxWindowBits: 12 },
    expected: 'permessage-deflate; client_max_window_bits=10',
  },
  {
    name: 'no context takeover both sides, asked by us',
    ws: {},
    ours: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
  {
    name: 'no context takeover both sides, configured by it',
    ws: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ours: true,
    expected: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  },
];

describe('permessage-deflate: the ws-stream client → the ws server', () => {
  for (const c of clientCases) {
    it(c.name, async () => {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, ...c.ws } });
      const seen: string[] = [];
      wss.on('connection', (s) => {
        seen.push(s.extensions);
        s.on('message', (d, isBinary) => s.send(d, { binary: isBinary }));
      });
      await new Promise((r) => wss.once('listening', r));
      after(() => wss.close());
      const ws = await connect(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, {
        perMessageDeflate: c.ours,
      });
      assert.equal(ws.extensions, c.expected);
      for (const [data, binary] of MESSAGES) {
        await ws.write(data, { binary });
        const m = await ws.read();
        assert.deepEqual(digest(m.data, m.binary), digest(data, binary));
      }
      await ws.close();
      assert.equal(ws.closeInfo?.wasClean, true);
      assert.equal(seen.length, 1);
    });
  }
});

describe('permessage-deflate: an offer the ws server cannot accept', () => {
  it('our serverMaxWindowBits 10 against its serverMaxWindowBits 12: ws refuses the upgrade with 400 (it does not decline the extension)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { serverMaxWindowBits: 12 } });
    await new Promise((r) => wss.once('listening', r));
    after(() => wss.close());
    const port = (wss.address() as net.AddressInfo).port;
    const err = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { serverMaxWindowBits: 10 } }).then(
      () => null,
      (e: ClientHandshakeError) => e,
    );
    assert.equal(err?.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err?.response?.status, 400);
    assert.match(String(err?.response?.body), /Sec-WebSocket-Extensions/);
    // Without permessage-deflate the same server is reached.
    const ws = await connect(`ws://127.0.0.1:${port}/`);
    assert.equal(ws.extensions, '');
    await ws.close();
  });
});
