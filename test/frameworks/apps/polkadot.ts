/**
 * @polkadot/rpc-provider 16's WsProvider (over @polkadot/x-ws, which is `ws` in Node 20: no global WebSocket)
 * against a small Substrate JSON-RPC node written on `ws`'s WebSocketServer, run by polkadot.test.ts with `ws` as
 * installed or aliased to ws-stream/ws (so the engine under test on both sides). Written as polkadot.js's docs show:
 * `new WsProvider(url, autoConnectMs, headers)`, `isReady`, `send`, `subscribe`/`unsubscribe` and the 'connected' and
 * 'disconnected' events; the node refuses a method, holds one request unanswered and closes with 1011 (the request
 * fails with the close's code and reason), the provider reconnects and subscribes again, then `disconnect()`. Prints
 * what the provider and the node saw.
 */
import type { AddressInfo } from 'node:net';
import { WsProvider } from '@polkadot/rpc-provider';
import { type WebSocket, WebSocketServer } from 'ws';
import { ours, report } from './peer.js';

interface Request {
  jsonrpc: string;
  id: number;
  method: string;
  params: unknown[];
}

const nodeSaw: string[] = [];
const nodeClosed: Promise<string>[] = [];
const connections: WebSocket[] = [];
const headers: unknown[] = [];
let onHang: () => void = () => {};

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws: WebSocket, req) => {
  const n = connections.push(ws);
  headers.push(req.headers['x-app']);
  nodeClosed.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${n}: ${code} ${reason}`))));
  ws.on('message', (data, isBinary) => {
    const request = JSON.parse(String(data)) as Request;
    nodeSaw.push(`${n}: ${isBinary ? 'binary ' : ''}${request.method} ${JSON.stringify(request.params)}`);
    const reply = (body: object) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, ...body }));
    switch (request.method) {
      case 'system_chain':
        return reply({ result: 'Development' });
      case 'chain_getBlockHash':
        return reply({ result: `0x${'ab'.repeat(32)}` });
      case 'test_big':
        return reply({ result: 'Ξ'.repeat(512 * 1024) });
      case 'test_hang':
        return onHang();
      case 'chain_subscribeNewHeads': {
        const subscription = `sub-${n}`;
        reply({ result: subscription });
        // Two heads on the first connection, one on the second (after the reconnect).
        for (const number of n === 1 ? ['0x11', '0x12'] : ['0x13'])
          ws.send(
            JSON.stringify({ jsonrpc: '2.0', method: 'chain_newHead', params: { subscription, result: { number } } }),
          );
        return;
      }
      case 'chain_unsubscribeNewHeads':
        return reply({ result: true });
      default:
        return reply({ error: { code: -32601, message: 'Method not found' } });
    }
  });
});
const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;

const events: string[] = [];
const provider = new WsProvider(url, 1, { 'x-app': 'polkadot-test' });
let onConnected: () => void = () => {};
let onDisconnected: () => void = () => {};
provider.on('connected', () => {
  events.push('connected');
  onConnected();
});
provider.on('disconnected', () => {
  events.push('disconnected');
  onDisconnected();
});
provider.on('error', (err: { type?: string }) => events.push(`error ${err.type}`));
await provider.isReady;
const result: Record<string, unknown> = {
  serverIsOurs: wss instanceof ours.WebSocketServer,
  isConnected: provider.isConnected,
};
result.chain = await provider.send('system_chain', []);
result.hash = await provider.send('chain_getBlockHash', [0]);
result.refused = await provider.send('state_nope', []).then(
  () => 'resolved',
  (err: Error) => err.message,
);
const big = (await provider.send('test_big', [])) as string;
result.big = `${big.length}:${big === 'Ξ'.repeat(512 * 1024)}`;

const heads: string[] = [];
let onHead: () => void = () => {};
/** Settles once `count` heads have come (they may have come already: with the subscription's reply). */
const headsCame = (count: number) =>
  new Promise<void>((resolve) => {
    onHead = () => heads.length === count && resolve();
    onHead();
  });
const subscription = await provider.subscribe(
  'chain_newHead',
  'chain_subscribeNewHeads',
  [],
  (err: Error | null, head: { number: string }) => {
    heads.push(err ? `error ${err.message}` : head.number);
    onHead();
  },
);
result.subscription = subscription;
await headsCame(2);

// A request the node holds, then the node closes with 1011: the request fails with the code and reason, the provider
// reports 'disconnected', reconnects, and subscribes again (the second connection's head arrives).
const hanging = provider.send('test_hang', []).then(
  () => 'resolved',
  (err: Error) => err.message.replace(url, 'url'),
);
await new Promise<void>((resolve) => (onHang = resolve));
const reconnected = new Promise<void>((resolve) => (onConnected = resolve));
const third = headsCame(3);
connections[0]?.close(1011, 'going away');
result.hanging = await hanging;
await reconnected;
await third;
result.heads = heads;
result.chainAgain = await provider.send('system_chain', []);
result.unsubscribed = await provider.unsubscribe('chain_newHead', 'chain_unsubscribeNewHeads', 'sub-2');

// disconnect(): closes with 1000, no reconnect.
const disconnected = new Promise<void>((resolve) => (onDisconnected = resolve));
await provider.disconnect();
await disconnected;
result.isConnectedAfter = provider.isConnected;
result.nodeClosed = await Promise.all(nodeClosed);
result.headers = headers;
result.events = events;
result.nodeSaw = nodeSaw;
await new Promise<void>((resolve) => wss.close(() => resolve()));
report(result);
