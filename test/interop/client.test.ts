/**
 * ws-stream as the client, real independent servers: the ws npm server, Python websockets, Python
 * aiohttp. Each: subprotocol negotiation, multi-byte UTF-8 text, a 200 KB binary message, ping/pong,
 * a clean close with 1000 and a reason, and a refused upgrade seen as ERR_WS_UPGRADE_DECLINED.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import { connect, type ClientHandshakeError } from '../../src/index.js';
import { PYTHON, peerScript, startPeerServer } from './support.js';

/** The exchange; returns the error of the refused upgrade to `/forbidden` (already checked as a 403). */
async function exchange(port: number, perMessageDeflate = false): Promise<ClientHandshakeError> {
  const pongs: string[] = [];
  let pong!: () => void;
  const ponged = new Promise<void>((r) => (pong = r));
  const ws = await connect(`ws://127.0.0.1:${port}/`, {
    protocols: ['superchat', 'chat'],
    perMessageDeflate,
    controlCallback: (kind, p) => {
      if (kind === 'pong') {
        pongs.push(p.toString());
        pong();
      }
    },
  });
  assert.equal(ws.protocol, 'chat');
  if (perMessageDeflate) assert.match(ws.extensions, /^permessage-deflate/);
  else assert.equal(ws.extensions, '');
  const text = 'héllo wörld ✓ 𝄞';
  await ws.write(text, { binary: false });
  const t = await ws.read();
  assert.deepEqual([t.text(), t.binary], [text, false]);
  const blob = Buffer.alloc(200_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7) & 0xff;
  await ws.write(blob);
  const b = await ws.read();
  assert.ok(b.binary && b.data.equals(blob), 'the 200 KB binary message came back intact');
  await ws.ping('interop');
  await ponged;
  assert.deepEqual(pongs, ['interop']);
  await ws.close({ code: 1000, reason: 'bye' });
  assert.equal(ws.closeInfo?.wasClean, true);
  assert.equal(ws.closeInfo?.initiatedBy, 'local');
  assert.equal(ws.closeReason?.code, 1000, 'the server echoed our close code');

  const err = await connect(`ws://127.0.0.1:${port}/forbidden`).then(
    () => null,
    (e: ClientHandshakeError) => e,
  );
  assert.ok(err, 'the upgrade to /forbidden was refused');
  assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
  assert.equal(err.response?.status, 403);
  return err;
}

describe('ws-stream client → servers', () => {
  it('the ws npm server', async () => {
    const version = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;
    console.log(`peer: ws ${version} (npm)`);
    const server = http.createServer();
    const refusedByWs: string[] = [];
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (p) => (p.has('chat') ? 'chat' : false),
      // ws itself refuses /forbidden: handleUpgrade calls this and writes the 403.
      verifyClient: (info, cb) => {
        if (info.req.url !== '/forbidden') return cb(true);
        refusedByWs.push(info.req.url);
        cb(false, 403, 'refused by ws verifyClient', { 'X-Refused-By': 'ws' });
      },
    });
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (c) => c.on('message', (d, isBinary) => c.send(d, { binary: isBinary }))),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    after(() => {
      server.close();
      server.closeAllConnections();
    });
    const err = await exchange((server.address() as net.AddressInfo).port);
    assert.deepEqual(refusedByWs, ['/forbidden'], "ws's verifyClient refused the upgrade");
    assert.equal(err.response?.headers['x-refused-by'], 'ws', 'the response is the one ws wrote');
    assert.equal(err.response?.body.toString(), 'refused by ws verifyClient');
  });

  it('the ws npm server, with permessage-deflate', async () => {
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      perMessageDeflate: { threshold: 0 },
      handleProtocols: (p) => (p.has('chat') ? 'chat' : false),
    });
    wss.on('connection', (c) => c.on('message', (d, isBinary) => c.send(d, { binary: isBinary })));
    await new Promise((r) => wss.once('listening', r));
    after(() => wss.close());
    const port = (wss.address() as net.AddressInfo).port;
    const ws = await connect(`ws://127.0.0.1:${port}/`, { protocols: ['chat'], perMessageDeflate: true });
    assert.match(ws.extensions, /^permessage-deflate/);
    const text = 'héllo wörld ✓ 𝄞 '.repeat(200);
    await ws.write(text, { binary: false });
    assert.equal((await ws.read()).text(), text);
    await ws.close({ code: 1000, reason: 'bye' });
    assert.equal(ws.closeInfo?.wasClean, true);
  });

  for (const [name, script] of [
    ['Python websockets', 'websockets_server.py'],
    ['Python aiohttp', 'aiohttp_server.py'],
  ] as const) {
    it(name, async () => {
      const peer = await startPeerServer(PYTHON, [peerScript(script)]);
      after(() => peer.proc.kill());
      console.log(`peer: ${peer.name} (python)`);
      await exchange(peer.port);
      await exchange(peer.port, true); // its server enables permessage-deflate by default
    });
  }
});
