/**
 * ws-stream as the server, real independent clients: the ws npm client, Python websockets, Python
 * aiohttp. Each: subprotocol negotiation, multi-byte UTF-8 text, a 200 KB binary message, ping/pong
 * both ways, a clean close with 1000 and a reason, and a refused upgrade seen as the right error.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { PYTHON, peerScript, runPeer, startInteropServer, type SeenConnection } from './support.js';

let srv: Awaited<ReturnType<typeof startInteropServer>>;
before(async () => {
  srv = await startInteropServer();
});
after(() => srv.close());

/** What the server saw of a connection, once it is closed. */
async function checkServerSide(connection: Promise<SeenConnection>): Promise<void> {
  const rec = await connection;
  await rec.closed;
  assert.equal(rec.protocol, 'chat');
  assert.deepEqual(rec.pongs, ['from-ws-stream'], 'the client answered our ping');
  assert.equal(rec.closeInfo?.wasClean, true);
  assert.equal(rec.closeInfo?.initiatedBy, 'remote');
  assert.equal(rec.closeInfo?.code, 1000);
  assert.equal(rec.closeInfo?.reason, 'bye');
}

describe('ws-stream server ← clients', () => {
  it('the ws npm client', async () => {
    const version = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;
    console.log(`peer: ws ${version} (npm)`);
    const connection = srv.nextConnection();
    const c = new WebSocket(`ws://127.0.0.1:${srv.port}/`, ['superchat', 'chat']);
    const next = (): Promise<{ data: Buffer; binary: boolean }> =>
      new Promise((r) => c.once('message', (data, binary) => r({ data: data as Buffer, binary })));
    await new Promise((r, j) => {
      c.once('open', r);
      c.once('error', j);
    });
    assert.equal(c.protocol, 'chat');
    const text = 'héllo wörld ✓ 𝄞';
    c.send(text);
    const t = await next();
    assert.deepEqual([t.data.toString(), t.binary], [text, false]);
    const blob = Buffer.alloc(200_000);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7) & 0xff;
    c.send(blob);
    const b = await next();
    assert.ok(b.binary && b.data.equals(blob));
    const pong = new Promise<Buffer>((r) => c.once('pong', r));
    c.ping('interop');
    assert.equal((await pong).toString(), 'interop');
    const closed = new Promise<number>((r) => c.once('close', (code) => r(code)));
    c.close(1000, 'bye');
    assert.equal(await closed, 1000);
    await checkServerSide(connection);

    const refusal = srv.nextRefusal();
    const refused = new WebSocket(`ws://127.0.0.1:${srv.port}/forbidden`);
    refused.on('error', () => {});
    const status = await new Promise<number>((r) =>
      refused.once('unexpected-response', (_req, res) => {
        r(res.statusCode!);
        res.destroy();
      }),
    );
    assert.equal(status, 403);
    assert.deepEqual(await refusal, { path: '/forbidden', status: 403 }, 'the server refused it');
  });

  for (const [name, script] of [
    ['Python websockets', 'websockets_client.py'],
    ['Python aiohttp', 'aiohttp_client.py'],
  ] as const) {
    it(name, async () => {
      const connection = srv.nextConnection();
      const refusal = srv.nextRefusal();
      const out = JSON.parse(await runPeer(PYTHON, [peerScript(script), `ws://127.0.0.1:${srv.port}/`])) as Record<
        string,
        unknown
      >;
      console.log(`peer: ${String(out.peer)}`);
      assert.deepEqual(out, {
        peer: out.peer,
        protocol: 'chat',
        extensions: null,
        text: true,
        binary: true,
        pong: true,
        close_code: 1000,
        refused: 403,
      });
      await checkServerSide(connection);
      assert.deepEqual(await refusal, { path: '/forbidden', status: 403 }, 'the server refused it');
    });
  }
});

describe('ws-stream server ← clients, with permessage-deflate', () => {
  let dsrv: Awaited<ReturnType<typeof startInteropServer>>;
  before(async () => {
    dsrv = await startInteropServer(true);
  });
  after(() => dsrv.close());

  for (const [name, script] of [
    ['Python websockets', 'websockets_client.py'],
    ['Python aiohttp', 'aiohttp_client.py'],
  ] as const) {
    it(`${name} negotiates it and the exchange passes compressed`, async () => {
      const connection = dsrv.nextConnection();
      const out = JSON.parse(
        await runPeer(PYTHON, [peerScript(script), `ws://127.0.0.1:${dsrv.port}/`, 'deflate']),
      ) as Record<string, unknown>;
      console.log(`peer: ${String(out.peer)} with ${String(out.extensions)}`);
      assert.match(String(out.extensions), /^permessage-deflate/);
      assert.deepEqual(
        { ...out, extensions: 'x' },
        {
          peer: out.peer,
          protocol: 'chat',
          extensions: 'x',
          text: true,
          binary: true,
          pong: true,
          close_code: 1000,
          refused: 403,
        },
      );
      const rec = await connection;
      await rec.closed;
      assert.match(String(rec.extensions), /^permessage-deflate/);
      assert.deepEqual(rec.pongs, ['from-ws-stream'], 'the client answered our ping');
      assert.equal(rec.closeInfo?.wasClean, true);
    });
  }
});
