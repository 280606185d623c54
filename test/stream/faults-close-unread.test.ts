/**
 * close() while received messages sit unread. The answer to a peer's close waits (up to
 * closeTimeout) for the reader to take the messages before it, so that replies to them go out
 * first; but once OUR close frame went, no reply can follow it, and nothing may be held back: the
 * close handshake completes at once, and the messages stay readable. (It used to wait the whole
 * closeTimeout — 5 s by default — before ending the connection.) The close timeout is set out of
 * reach: a close() that waits for it fails the test by the runner's timeout.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import { type WebSocketError, WebSocketStream, connect, createTestPair } from '../../src/index.js';

const FAR = 600_000;

async function drain(ws: WebSocketStream): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    try {
      got.push((await ws.read()).text());
    } catch (e) {
      got.push((e as WebSocketError).code);
      return got;
    }
  }
}

it("server role: close() with the client's messages unread completes on the client's answer; they are read after", {
  timeout: 60_000,
}, async () => {
  let ws!: WebSocketStream;
  let pinged!: () => void;
  const sawPing = new Promise<void>((r) => {
    pinged = r;
  });
  const srv = net.createServer((socket) => {
    // The ping comes behind the two messages (wire order): once it is seen, they are here, unread.
    ws = new WebSocketStream(socket, { closeTimeout: FAR, controlCallback: (kind) => kind === 'ping' && pinged() });
    void ws.accept();
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const client = await connect(`ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, { closeTimeout: FAR });
  client.write('1');
  client.write('2');
  client.ping();
  const clientReads = drain(client);
  await sawPing;
  await ws.close({ code: 1001, reason: 'bye' });
  assert.deepEqual(ws.closeInfo, { initiatedBy: 'local', code: 1001, reason: 'bye', wasClean: true });
  assert.deepEqual(await drain(ws), ['1', '2', 'ERR_WS_CLOSED'], 'the unread messages, then the clean end');
  assert.deepEqual(await clientReads, ['ERR_WS_CLOSED']);
  assert.equal((await client.whenClosed()).wasClean, true);
  srv.close();
});

it("client role: close() right after writes whose echoes arrive unread completes on the server's answer", {
  timeout: 60_000,
}, async () => {
  const [a, b] = createTestPair();
  const server = new WebSocketStream(a, { closeTimeout: FAR });
  const client = new WebSocketStream(b, { closeTimeout: FAR });
  const serving = (async () => {
    await server.accept();
    for (;;) {
      const m = await server.read().catch(() => null);
      if (m === null) return;
      server.write(m.data, { binary: m.binary }).catch(() => {});
    }
  })();
  await client.handshake({ host: 'h' });
  for (const m of ['1', '2', '3']) client.write(m);
  await client.close({ code: 1000 });
  assert.deepEqual(client.closeInfo, { initiatedBy: 'local', code: 1000, reason: '', wasClean: true });
  assert.deepEqual(await drain(client), ['1', '2', '3', 'ERR_WS_CLOSED'], 'every echo, then the clean end');
  await serving;
  assert.equal((await server.whenClosed()).wasClean, true);
});
