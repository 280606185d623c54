/**
 * Subprotocol negotiation edge cases (RFC 6455 §4.1 step 6, §4.2.2) with real peers: offers the server does
 * not know, no offer, every token character, many offers; and servers that answer nothing, or a subprotocol
 * that was not offered (the ws server's handleProtocols can), seen by the ws-stream client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, type ClientHandshakeError } from '../../src/index.js';
import { type PeerLib, type PythonServer, runPythonClient, spawnPythonServer, startEchoServer } from './edge.js';

/** A token with every character RFC 7230 §3.2.6 allows besides letters and digits. */
const ODD = "a!#$%&'*+-.^_`|~z";
/** The server's choice: its own preference order among those offered. */
const select = (offered: string[]): string | undefined => ['chat', ODD, 'proto-19'].find((p) => offered.includes(p));

describe('subprotocols: the ws-stream server ← clients', () => {
  const cases: [string, string[], string | null][] = [
    ['no offer: none chosen, no header', [], null],
    ['only unknown offers: none chosen', ['unknown', 'other'], null],
    ['the server prefers its own order', ['superchat', ODD, 'chat'], 'chat'],
    ['a token with every odd character', ['x', ODD], ODD],
    ['twenty offers, the last known', Array.from({ length: 20 }, (_, i) => `proto-${i}`), 'proto-19'],
    ['case matters: "Chat" is not "chat"', ['Chat'], null],
  ];
  for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
    for (const [name, offered, expected] of cases) {
      it(`${lib}: ${name}`, async () => {
        const srv = await startEchoServer({}, select);
        const record = srv.next();
        const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
          protocols: offered,
          steps: [{ send: 5 }, { close: 1000 }],
        });
        assert.equal(report.error, null);
        assert.equal(report.protocol ?? null, expected);
        assert.deepEqual(report.echoes, [true]);
        assert.equal((await record).protocol, expected ?? '');
      });
    }
  }
  it('the ws client fails when it offered subprotocols and none was chosen (its own check); the server saw it go', async () => {
    const srv = await startEchoServer({}, select);
    const record = srv.next();
    const c = new WebSocket(`ws://127.0.0.1:${srv.port}/`, ['unknown']);
    const err = await new Promise<Error>((r) => c.once('error', r));
    assert.match(err.message, /Server sent no subprotocol/);
    const rec = await record;
    assert.equal(rec.protocol, '');
    assert.equal(rec.closeInfo.wasClean, false);
  });
});

describe('subprotocols: the ws-stream client → servers', () => {
  it('the ws server answers a subprotocol that was not offered: ERR_WS_BAD_SUBPROTOCOL', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'other' });
    const serverSide = new Promise<number>((r) => wss.on('connection', (s) => s.on('close', r)));
    await new Promise((r) => wss.once('listening', r));
    after(() => wss.close());
    const port = (wss.address() as net.AddressInfo).port;
    const err = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['chat'] }).then(
      () => null,
      (e: ClientHandshakeError) => e,
    );
    assert.equal(err?.code, 'ERR_WS_BAD_SUBPROTOCOL');
    assert.match(String(err?.message), /other/);
    assert.equal(await serverSide, 1006, 'the client dropped the connection without a close frame');
  });
  it('the ws server chooses none of the offered: the client has no subprotocol', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
    wss.on('connection', (s) => s.on('message', (d, b) => s.send(d, { binary: b })));
    await new Promise((r) => wss.once('listening', r));
    after(() => wss.close());
    const ws = await connect(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, {
      protocols: ['chat', ODD],
    });
    assert.equal(ws.protocol, '');
    await ws.write('x');
    assert.equal((await ws.read()).text(), 'x');
    await ws.close();
  });
  // One server of each library for these tests (each its own connection, whose record it takes first).
  const peers = new Map<PeerLib, PythonServer>();
  before(async () => {
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
      peers.set(lib, await spawnPythonServer(lib, { protocols: ['chat', ODD] }));
    }
  });
  after(() => {
    for (const peer of peers.values()) peer.stop();
  });
  for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
    for (const [name, offered, expected] of [
      ['an offer it knows, with one it does not before it', ['superchat', 'chat'], 'chat'],
      ['the odd token', [ODD], ODD],
      ['only unknown offers', ['superchat'], ''],
      ['no offer', [], ''],
    ] as [string, string[], string][]) {
      it(`the ${lib} server (chat, the odd token): ${name}`, async () => {
        const peer = peers.get(lib)!;
        const record = peer.next();
        const ws = await connect(`ws://127.0.0.1:${peer.port}/`, { protocols: offered });
        assert.equal(ws.protocol, expected);
        await ws.write('x');
        assert.equal((await ws.read()).text(), 'x');
        await ws.close();
        const rec = await record;
        assert.equal(rec.protocol ?? '', expected);
      });
    }
  }
});
