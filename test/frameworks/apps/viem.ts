/**
 * viem 2's webSocket transport (isows, which imports `ws` on Node 20: no global WebSocket) against a small Ethereum
 * JSON-RPC node written on `ws`'s WebSocketServer, run by viem.test.ts with `ws` as installed or aliased to
 * ws-stream/ws (so the engine under test on both sides). Written as viem's docs show: `createPublicClient` with
 * `webSocket(url)`, `getChainId`, `getBlockNumber`, `getBalance`, `request`, `watchBlockNumber` and `watchEvent` without
 * polling (eth_subscribe newHeads and logs), the reconnect after the node drops the connection (re-subscribing), the
 * unwatch (eth_unsubscribe), the rpc client's `close()`, and a refused connection. Prints what the client and the node
 * saw.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createPublicClient, pad, parseAbiItem, toHex, webSocket } from 'viem';
import { watchBlockNumber } from 'viem/actions';
import { type WebSocket, WebSocketServer } from 'ws';
import { ours, report } from './peer.js';

const require = createRequire(import.meta.url);
const rich = '0x00000000000000000000000000000000000000aa';
const token = '0x00000000000000000000000000000000000000cc';
const transfer = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');
/** keccak256("Transfer(address,address,uint256)"). */
const transferTopic = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

interface Request {
  jsonrpc: string;
  id: number;
  method: string;
  params: unknown[];
}

/** What the node saw: each method (with the subscription's kind), and the close of each connection. */
const nodeSaw: string[] = [];
const nodeClosed: Promise<string>[] = [];
const connections: WebSocket[] = [];
/** Resolved when the node has seen `n` eth_unsubscribe. */
let unsubscribes = 0;
let onUnsubscribe: () => void = () => {};

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws: WebSocket) => {
  const n = connections.push(ws);
  nodeClosed.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${code} ${reason}`))));
  ws.on('message', (data, isBinary) => {
    const request = JSON.parse(String(data)) as Request;
    const kind = request.method === 'eth_subscribe' ? ` ${request.params[0]}` : '';
    nodeSaw.push(`${n}: ${isBinary ? 'binary ' : ''}${request.method}${kind}`);
    const reply = (body: object) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, ...body }));
    const notify = (subscription: string, result: unknown) =>
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'eth_subscription', params: { subscription, result } }));
    switch (request.method) {
      case 'eth_chainId':
        return reply({ result: '0x539' });
      case 'eth_blockNumber':
        return reply({ result: '0x10' });
      case 'eth_getBalance':
        return reply({ result: request.params[0] === rich ? '0xde0b6b3a7640000' : '0x0' });
      case 'test_big':
        return reply({ result: 'Ξ'.repeat(1024 * 1024) });
      case 'test_binary':
        // An empty text message first (viem skips it), then the reply in a binary frame.
        ws.send('');
        return ws.send(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: request.id, result: 'from binary' })));
      case 'eth_subscribe':
        if (request.params[0] === 'newHeads') {
          const id = `0x${n}a`;
          reply({ result: id });
          // Two new heads on the first connection, one on the second (after the reconnect).
          const heads = n === 1 ? [0x11, 0x12] : [0x13];
          for (const h of heads) notify(id, { number: toHex(h), hash: pad(toHex(h)) });
        } else {
          const id = `0x${n}b`;
          reply({ result: id });
          if (n === 1)
            notify(id, {
              address: token,
              topics: [transferTopic, pad(rich), pad(token)],
              data: pad(toHex(1000)),
              blockNumber: '0x11',
              blockHash: pad('0x11'),
              transactionHash: pad('0x99'),
              transactionIndex: '0x0',
              logIndex: '0x0',
              removed: false,
            });
        }
        return;
      case 'eth_unsubscribe':
        nodeSaw[nodeSaw.length - 1] += ` ${request.params[0]}`;
        reply({ result: true });
        unsubscribes++;
        return onUnsubscribe();
      default:
        return reply({
          error: { code: -32601, message: `the method ${request.method} does not exist/is not available` },
        });
    }
  });
});
const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;

const client = createPublicClient({
  transport: webSocket(url, { retryCount: 0, keepAlive: false, reconnect: { attempts: 3, delay: 1 } }),
});
const result: Record<string, unknown> = {
  serverIsOurs: wss instanceof ours.WebSocketServer,
  // isows's WebSocket, which viem imports: `ws`'s, as it resolves from isows's folder.
  isowsWs: (await import('isows')).WebSocket === (ours.WebSocket as unknown),
  isowsCjsWs: require('isows').WebSocket === ours.WebSocket,
};
result.chainId = await client.getChainId();
result.blockNumber = String(await client.getBlockNumber({ cacheTime: 0 }));
result.socketIsOurs = (await client.transport.getRpcClient()).socket instanceof ours.WebSocket;
result.balances = (
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => client.getBalance({ address: i % 2 ? rich : pad(toHex(i), { size: 20 }) })),
  )
).map(String);
result.unknown = await client.request({ method: 'eth_fail' } as never).then(
  () => 'resolved',
  (err: { name?: string; code?: number }) => [err.name, err.code],
);
const big = (await client.request({ method: 'test_big' } as never)) as string;
result.big = `${big.length}:${big === 'Ξ'.repeat(1024 * 1024)}`;
result.binary = await client.request({ method: 'test_binary' } as never);

// newHeads and logs without polling: two block numbers and one Transfer log on the first connection.
const blocks: string[] = [];
const logs: unknown[] = [];
const errors: string[] = [];
let onBlock: () => void = () => {};
let onLog: () => void = () => {};
// The action's form: the client's method's parameters do not admit `poll: false` (viem 2.58's types).
const unwatchBlocks = watchBlockNumber(client, {
  poll: false,
  onBlockNumber: (n: bigint) => {
    blocks.push(String(n));
    onBlock();
  },
  onError: (err) => errors.push(`blocks ${err.name}`),
});
const unwatchLogs = client.watchEvent({
  address: token,
  event: transfer,
  poll: false,
  onLogs: (got) => {
    for (const log of got) logs.push({ ...log.args, value: String(log.args.value), eventName: log.eventName });
    onLog();
  },
  onError: (err) => errors.push(`logs ${err.name}`),
});
await Promise.all([
  new Promise<void>((resolve) => (onBlock = () => blocks.length === 2 && resolve())),
  new Promise<void>((resolve) => (onLog = resolve)),
]);

// The node drops the connection: viem reports it to the watchers, reconnects and subscribes both again; the second
// connection's new head arrives.
const third = new Promise<void>((resolve) => (onBlock = () => blocks.length === 3 && resolve()));
connections[0]?.terminate();
await third;
result.blocks = blocks;
result.logs = logs;
result.errors = errors;
result.connections = connections.length;

// unwatch: eth_unsubscribe with the second connection's ids.
const unsubscribed = new Promise<void>((resolve) => (onUnsubscribe = () => unsubscribes === 2 && resolve()));
unwatchBlocks();
unwatchLogs();
await unsubscribed;

// The rpc client's close(): the socket closes (no code: 1005 at the node).
const rpc = await client.transport.getRpcClient();
rpc.close();
result.nodeClosed = await Promise.all(nodeClosed);
result.nodeSaw = nodeSaw.sort().filter((m, i, all) => m !== all[i - 1]);
await new Promise<void>((resolve) => wss.close(() => resolve()));

// A refused connection: the request fails with viem's UnknownRpcError, whose details are the socket's error message
// and whose cause is the socket's error event.
const refused = createPublicClient({ transport: webSocket(url, { retryCount: 0, reconnect: false }) });
result.refused = await refused.getChainId().then(
  () => 'resolved',
  (err: { name?: string; details?: string; cause?: { type?: string; error?: { code?: string } } }) => [
    err.name,
    err.details?.replace(url.slice(5), 'host:port'),
    err.cause?.type,
    err.cause?.error?.code,
  ],
);
report(result);
