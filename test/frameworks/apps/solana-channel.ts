/**
 * Solana's RPC-subscriptions WebSocket channel (@solana/rpc-subscriptions-channel-websocket 8, the transport under
 * @solana/kit's subscriptions; it imports `ws` where there is no global WebSocket, as on Node 20), run by
 * solana-channel.test.ts with `ws` as installed or aliased to ws-stream/ws, against a server on the real ws. The
 * channel uses the EventTarget API (listeners removed again on close), compares `readyState` with the class's
 * statics, holds sends back while `bufferedAmount` is above its high watermark (polling until it drains), closes
 * with 1000 when its AbortSignal fires, and tells a close that is not clean-with-1000 from one that is through the
 * CloseEvent's `wasClean` and `code`. The flow: text and binary both ways, 24 MiB sent at once past a 1 MiB watermark
 * (every message intact, in order), the server closing with 4000, with 1000 (no error), and without a closing
 * handshake, an abort (1000 on the server), and an upgrade refused with 401. Prints what the channel and the server
 * saw.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createWebSocketChannel } from '@solana/rpc-subscriptions-channel-websocket';
import type WsDefault from 'ws';
import { aliased, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** The server: echoes, and tells what it received; each connection's socket and close code. */
const serverSockets = queue<WsDefault>();
const serverCloses = queue<string>();
const received: string[] = [];
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server: httpServer,
  verifyClient: (info: { req: http.IncomingMessage }) => info.req.url !== '/forbidden',
});
wss.on('connection', (ws) => {
  serverSockets.push(ws);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (data.length > 1024) {
      received.push(`${data.length} ${createHash('sha256').update(data).digest('hex').slice(0, 12)}`);
      if (received.length === 24) ws.send('all received');
      return;
    }
    ws.send(isBinary ? Buffer.concat([Buffer.from('echo:'), data]) : `echo: ${data}`, { binary: isBinary });
  });
  ws.on('close', (code: number) => serverCloses.push(`close ${code}`));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const base = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;

const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('@solana/rpc-subscriptions-channel-websocket')),
  globalWebSocket: typeof (globalThis as { WebSocket?: unknown }).WebSocket,
};

/** A channel and what reaches its 'message' and 'error' subscribers, in order. */
const open = async (path = '/', sendBufferHighWatermark = 1024 * 1024) => {
  const controller = new AbortController();
  const channel = await createWebSocketChannel({
    url: `${base}${path}`,
    signal: controller.signal,
    sendBufferHighWatermark,
  });
  const events = queue<string>();
  const seen: string[] = [];
  const push = (event: string) => {
    seen.push(event);
    events.push(event);
  };
  channel.on('message', (data: unknown) => push(Buffer.isBuffer(data) ? `binary ${data}` : `${typeof data} ${data}`));
  channel.on('error', (err: unknown) => {
    const { context, cause } = err as { context: { __code: number }; cause?: { code: number; wasClean: boolean } };
    push(`error ${context.__code} ${(err as Error).message} ${cause?.code} ${cause?.wasClean}`);
  });
  return { channel, controller, events, seen, server: await serverSockets.next() };
};

const a = await open();
await a.channel.send('héllo');
await a.channel.send(new Uint8Array([1, 2, 3]));
result.echo = [await a.events.next(), await a.events.next()];

// 24 messages of 1 MiB in one turn: past the watermark, sends wait for bufferedAmount to drain, then go in order.
const expected: string[] = [];
const sends: Promise<void>[] = [];
for (let i = 0; i < 24; i++) {
  const message = new Uint8Array(1024 * 1024).fill(i);
  expected.push(`${message.length} ${createHash('sha256').update(message).digest('hex').slice(0, 12)}`);
  sends.push(a.channel.send(message));
}
await Promise.all(sends);
result.bulk = await a.events.next();
result.bulkIntact = received.join() === expected.join();

// The server closes with 4000: an error whose cause is the CloseEvent.
a.server.close(4000, 'going');
result.closed4000 = await a.events.next();
result.closed4000Server = await serverCloses.next();

// The server closes with 1000: a clean close, no error; then a message on another channel shows nothing came.
const b = await open();
b.server.close(1000);
await serverCloses.next();
const c = await open();
c.server.terminate();
result.terminated = await c.events.next();
result.terminatedServer = await serverCloses.next();
result.after1000 = {
  seen: b.seen,
  send: await b.channel.send('late').then(
    () => 'sent',
    (err: { context: { __code: number } }) => `rejected ${err.context.__code}`,
  ),
};

// An abort: the channel closes with 1000.
const d = await open();
d.controller.abort();
result.aborted = await serverCloses.next();

// A refused upgrade: the channel's promise rejects.
result.refused = await open('/forbidden').then(
  () => 'opened',
  (err: { context: { __code: number; errorEvent?: { message: string } }; message: string }) =>
    `${err.context.__code} ${err.message} (${err.context.errorEvent?.message})`,
);

wss.close();
httpServer.close();
report(result);
