/**
 * web3.js 4's WebSocketProvider (web3-providers-ws, over isomorphic-ws, which is `ws` in Node) against a small
 * Ethereum JSON-RPC node written on `ws`'s WebSocketServer, run by web3.test.ts with `ws` as installed or aliased to
 * ws-stream/ws (so the engine under test on both sides). Written as web3's docs show: `new WebSocketProvider(url,
 * socketOptions, reconnectOptions)` (the socket options are ws's client options: a header here), the 'connect' event
 * (after its own eth_chainId and eth_accounts), `request` with a result, an error, a batch and a reply split across
 * two frames, eth_subscribe notifications as 'message' events, the automatic reconnect after the node drops the
 * connection (not a clean close), no reconnect after the node's clean close 1000 but a new connection on the next
 * request, and `disconnect(code, reason)`. Prints what the provider and the node saw.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebSocketProvider } from 'web3-providers-ws';
import { type WebSocket, WebSocketServer } from 'ws';
import { ours, report } from './peer.js';

const require = createRequire(import.meta.url);

interface Request {
  jsonrpc: string;
  id: number | string;
  method: string;
  params: unknown[];
}

const nodeSaw: string[] = [];
const nodeClosed: Promise<string>[] = [];
const connections: WebSocket[] = [];
const headers: unknown[] = [];

function answer(request: Request): object {
  const reply = (body: object) => ({ jsonrpc: '2.0', id: request.id, ...body });
  switch (request.method) {
    case 'eth_chainId':
      return reply({ result: '0x539' });
    case 'eth_accounts':
      return reply({ result: ['0x00000000000000000000000000000000000000aa'] });
    case 'eth_blockNumber':
      return reply({ result: '0x10' });
    case 'eth_subscribe':
      return reply({ result: '0xfeed' });
    default:
      return reply({
        error: { code: -32601, message: `the method ${request.method} does not exist/is not available` },
      });
  }
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws: WebSocket, req) => {
  const n = connections.push(ws);
  headers.push(req.headers.authorization);
  nodeClosed.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${n}: ${code} ${reason}`))));
  ws.on('message', (data, isBinary) => {
    const request = JSON.parse(String(data)) as Request | Request[];
    if (Array.isArray(request)) {
      nodeSaw.push(`${n}: ${isBinary ? 'binary ' : ''}batch ${request.map((r) => r.method).join(',')}`);
      return ws.send(JSON.stringify(request.map(answer)));
    }
    nodeSaw.push(`${n}: ${isBinary ? 'binary ' : ''}${request.method}`);
    if (request.method === 'test_chunked') {
      // One reply in two text frames: the provider joins the chunks.
      const text = JSON.stringify({ jsonrpc: '2.0', id: request.id, result: 'Ξ'.repeat(100_000) });
      ws.send(text.slice(0, 1000));
      return ws.send(text.slice(1000));
    }
    ws.send(JSON.stringify(answer(request)));
    if (request.method === 'eth_subscribe')
      for (const h of [0x11, 0x12])
        ws.send(
          JSON.stringify({
            jsonrpc: '2.0',
            method: 'eth_subscription',
            params: { subscription: '0xfeed', result: { number: `0x${h.toString(16)}` } },
          }),
        );
  });
});
const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;

const events: string[] = [];
const provider = new WebSocketProvider(
  url,
  { headers: { authorization: 'Bearer web3' } },
  { autoReconnect: true, delay: 1, maxAttempts: 3 },
);
let onConnect: () => void = () => {};
provider.on('connect', (info: { chainId?: string }) => {
  events.push(`connect ${info.chainId}`);
  onConnect();
});
provider.on('disconnect', (err: { code?: number; message?: string }) => events.push(`disconnect ${err.code}`));
provider.on('error', (err: unknown) => events.push(`error ${(err as Error).constructor.name}`));
const notifications: unknown[] = [];
let onNotification: () => void = () => {};
provider.on('message', (data: unknown) => {
  const message = data as { method?: string; params?: { result: unknown } };
  if (message.method !== 'eth_subscription') return;
  notifications.push(message.params?.result);
  onNotification();
});

const connected = () => new Promise<void>((resolve) => (onConnect = resolve));
await connected();
const result: Record<string, unknown> = {
  serverIsOurs: wss instanceof ours.WebSocketServer,
  socketIsOurs: provider.SocketConnection instanceof ours.WebSocket,
  isomorphicWs:
    require(require.resolve('isomorphic-ws', { paths: [require.resolve('web3-providers-ws')] })) === ours.default,
  status: provider.getStatus(),
};
let id = 100;
const call = (method: string, params: unknown[] = []) =>
  provider.request({ jsonrpc: '2.0', id: ++id, method, params } as never) as Promise<unknown> as Promise<
    Record<string, unknown>
  >;
result.blockNumber = (await call('eth_blockNumber')).result;
result.unknown = (await call('eth_fail')).error;
result.batch = await provider.request([
  { jsonrpc: '2.0', id: ++id, method: 'eth_chainId', params: [] },
  { jsonrpc: '2.0', id: ++id, method: 'eth_blockNumber', params: [] },
] as never);
const chunked = (await call('test_chunked')).result as string;
result.chunked = `${chunked.length}:${chunked === 'Ξ'.repeat(100_000)}`;
const notified = new Promise<void>((resolve) => (onNotification = () => notifications.length === 2 && resolve()));
result.subscription = (await call('eth_subscribe', ['newHeads'])).result;
await notified;
result.notifications = notifications;

// The node drops the connection (1006, not clean): the provider reconnects by itself.
const reconnected = connected();
connections[0]?.terminate();
await reconnected;
result.afterReconnect = (await call('eth_blockNumber')).result;

// The node closes cleanly with 1000: no reconnect, 'disconnect'; the next request connects again.
const closedClean = new Promise<void>((resolve) => provider.once('disconnect', () => resolve()));
connections[1]?.close(1000, 'bye');
await closedClean;
result.statusAfterClose = provider.getStatus();
const third = connected();
result.afterClose = (await call('eth_blockNumber')).result;
await third;

// disconnect(code, reason): the node sees both. web3 then reconnects all the same (its close listener, added as a
// wrapper, is never removed, and 4000 is not 1000/1001): the node stops listening at once, so those attempts find
// nobody (ECONNREFUSED, 'error' events after the 'disconnect' it emitted, on either engine, whenever they come), and
// the events are the ones up to disconnect().
provider.disconnect(4000, 'client done');
result.events = [...events];
const nodeStopped = new Promise<void>((resolve) => wss.close(() => resolve()));
result.nodeClosed = await Promise.all(nodeClosed);
result.headers = headers;
result.nodeSaw = nodeSaw;
await nodeStopped;
report(result);
