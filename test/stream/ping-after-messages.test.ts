/**
 * `ping()`/`pong()` with `afterMessages`: with permessage-deflate the frame goes after the messages
 * written before it that are still being compressed (the default sends it ahead of them), and it
 * never waits for the peer to read. A real ws server records what came in which order. And
 * `write()` aborted while it waits in that line: withdrawn, as a write queued without compression.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { WebSocketServer } from 'ws';
import { connect, WebSocketError } from '../../src/index.js';

/** 2 MB that compress (compressing takes zlib a while: what is sent after it waits). */
const BIG = Buffer.alloc(2 * 1024 * 1024, 'abcdefgh');

/** A ws server whose first connection records its events ('message <size or text>', 'ping p', …). */
async function recordingServer(): Promise<{ url: string; events: Promise<string[]> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  after(() => wss.close());
  await once(wss, 'listening');
  const events = new Promise<string[]>((resolve) => {
    wss.once('connection', (ws) => {
      const seen: string[] = [];
      ws.on('message', (d: Buffer) => seen.push(`message ${d.length > 100 ? d.length : String(d)}`));
      ws.on('ping', (d: Buffer) => seen.push(`ping ${d}`));
      ws.on('pong', (d: Buffer) => seen.push(`pong ${d}`));
      ws.on('close', (code: number) => resolve([...seen, `close ${code}`]));
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, events };
}

describe('ping()/pong() with afterMessages (permessage-deflate)', () => {
  it('a ping and a pong go after the messages before them, in the order of the calls', async () => {
    const { url, events } = await recordingServer();
    const c = await connect(url, { perMessageDeflate: true });
    assert.match(c.extensions, /^permessage-deflate/);
    const done = [
      c.write(BIG),
      c.ping('p', { afterMessages: true }),
      c.write('b'),
      c.pong('q', { afterMessages: true }),
      c.close({ code: 4000 }),
    ];
    await Promise.all(done);
    assert.deepEqual(await events, [`message ${BIG.length}`, 'ping p', 'message b', 'pong q', 'close 4000']);
  });

  it('aborted while it waits for a compressing message: never sent, ERR_WS_ABORTED', async () => {
    const { url, events } = await recordingServer();
    const c = await connect(url, { perMessageDeflate: true });
    const ac = new AbortController();
    const big = c.write(BIG);
    const ping = c.ping('p', { afterMessages: true, signal: ac.signal });
    ac.abort();
    await assert.rejects(ping, (e: unknown) => e instanceof WebSocketError && e.code === 'ERR_WS_ABORTED');
    await Promise.all([big, c.write('b'), c.close({ code: 4000 })]);
    assert.deepEqual(await events, [`message ${BIG.length}`, 'message b', 'close 4000']);
  });

  it('the layer goes while it waits: it fails, and the next operations too', async () => {
    const { url } = await recordingServer();
    const c = await connect(url, { perMessageDeflate: true });
    const big = c.write(BIG);
    const ping = c.ping('p', { afterMessages: true });
    c.nextLayer.destroy();
    const results = await Promise.allSettled([big, ping]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof WebSocketError, String(r.reason));
    }
    await assert.rejects(c.ping('x', { afterMessages: true }), WebSocketError);
  });
});

describe('write() aborted while it waits behind a compressing message (permessage-deflate)', () => {
  it('never sent, compressed or not, ERR_WS_ABORTED; the messages after it inflate; a writeSome part still goes', async () => {
    const { url, events } = await recordingServer();
    const c = await connect(url, { perMessageDeflate: true });
    const ac = new AbortController();
    const big = c.write(BIG);
    const compressed = c.write('withdrawn, compressed', { signal: ac.signal });
    const plain = c.write('withdrawn, not compressed', { compress: false, signal: ac.signal });
    const part = c.writeSome('part', { fin: true, signal: ac.signal });
    ac.abort();
    for (const w of [compressed, plain, part]) {
      await assert.rejects(w, (e: unknown) => e instanceof WebSocketError && e.code === 'ERR_WS_ABORTED');
    }
    await Promise.all([big, c.write('after')]);
    assert.equal(c.bufferedAmount, 0);
    await c.close({ code: 4000 });
    // (A part of a message only stops waiting: README, Cancellation.)
    assert.deepEqual(await events, [`message ${BIG.length}`, 'message part', 'message after', 'close 4000']);
  });
});
