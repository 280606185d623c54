/**
 * ethers 6's WebSocketProvider (whose transport is its own ws 8.21, which it imports itself, used in the browser's
 * style: onopen, onmessage's data) against a small JSON-RPC 2.0 node written on `ws`'s WebSocketServer, run by
 * ethers.test.ts with `ws` as installed or aliased to ws-stream/ws (so the engine under test on both sides). Written
 * as ethers' docs show: `new WebSocketProvider(url)`, `getNetwork`, `getBlockNumber`, `getBalance`, `call`,
 * `send`, `on('block')`/`off('block')`, `destroy()`. Prints what the provider and the node saw.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { AbiCoder, id, WebSocketProvider } from 'ethers';
import { type WebSocket, WebSocketServer } from 'ws';
import { ours, report } from './peer.js';

const require = createRequire(import.meta.url);
const rich = '0x00000000000000000000000000000000000000aa';
/** The revert data of `require(false, "nope")`: Error(string). */
const revert = id('Error(string)').slice(0, 10) + AbiCoder.defaultAbiCoder().encode(['string'], ['nope']).slice(2);

interface Request {
  jsonrpc: string;
  id: number;
  method: string;
  params: unknown[];
}
/** The JSON-RPC methods the node knows: a result, or an error object. */
function answer(method: string, params: unknown[]): { result: unknown } | { error: object } {
  switch (method) {
    case 'eth_chainId':
      return { result: '0x539' };
    case 'eth_blockNumber':
      return { result: '0x10' };
    case 'eth_getBalance':
      return { result: params[0] === rich ? '0xde0b6b3a7640000' : '0x0' };
    case 'eth_call':
      return { error: { code: 3, message: 'execution reverted: nope', data: revert } };
    case 'test_big':
      return { result: 'Ξ'.repeat(1024 * 1024) };
    default:
      return { error: { code: -32601, message: `the method ${method} does not exist/is not available` } };
  }
}

/** What the node saw: each method in order, and the close of each connection. */
const nodeSaw: string[] = [];
let unsubscribed: () => void = () => {};
const unsubscribedNow = new Promise<void>((resolve) => (unsubscribed = resolve));
const nodeClosed: Promise<string>[] = [];
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws: WebSocket) => {
  nodeClosed.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${code} ${reason}`))));
  ws.on('message', (data, isBinary) => {
    const request = JSON.parse(String(data)) as Request;
    nodeSaw.push(`${isBinary ? 'binary ' : ''}${request.method}`);
    const reply = (body: object) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: request.id, ...body }));
    if (request.method === 'eth_subscribe') {
      reply({ result: '0xfeed' });
      // Three new heads, each a notification on the subscription.
      for (const n of [0x11, 0x12, 0x13])
        ws.send(
          JSON.stringify({
            jsonrpc: '2.0',
            method: 'eth_subscription',
            params: { subscription: '0xfeed', result: { number: `0x${n.toString(16)}`, hash: id(String(n)) } },
          }),
        );
    } else if (request.method === 'eth_unsubscribe') {
      reply({ result: request.params[0] === '0xfeed' });
      unsubscribed();
    } else reply(answer(request.method, request.params));
  });
});
const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;

const provider = new WebSocketProvider(url);
const result: Record<string, unknown> = {
  // ethers' own ws, as it resolves 'ws' from its folder.
  providerIsOurs: provider.websocket instanceof ours.WebSocket,
  serverIsOurs: wss instanceof ours.WebSocketServer,
  ethersWs: require(require.resolve('ws', { paths: [require.resolve('ethers')] })) === ours.default,
};
const network = await provider.getNetwork();
result.chainId = String(network.chainId);
result.blockNumber = await provider.getBlockNumber();
result.balance = String(await provider.getBalance(rich));
result.balances = (
  await Promise.all(
    Array.from({ length: 30 }, (_, i) => provider.getBalance(i % 2 ? rich : id(String(i)).slice(0, 42))),
  )
).every((b, i) => b === (i % 2 ? 10n ** 18n : 0n));
result.call = await provider.call({ to: rich, data: '0x12345678' }).then(
  () => 'resolved',
  (err: { code?: string; reason?: string }) => [err.code, err.reason],
);
result.unknown = await provider.send('eth_fail', []).then(
  () => 'resolved',
  (err: { code?: string; shortMessage?: string }) => [err.code, err.shortMessage],
);
const big = (await provider.send('test_big', [])) as string;
result.big = `${big.length}:${big === 'Ξ'.repeat(1024 * 1024)}`;

// newHeads: three 'block' events, then off() unsubscribes.
const blocks: number[] = [];
await new Promise<void>((resolve) => {
  const listener = (n: number) => {
    blocks.push(n);
    if (blocks.length === 3) {
      void provider.off('block', listener);
      resolve();
    }
  };
  void provider.on('block', listener);
});
result.blocks = blocks;
await unsubscribedNow;
// off() does not wait for eth_unsubscribe's reply, and destroy() would reject it unhandled: a request after it, whose
// reply comes after that one on the same connection (`send`, as getBlockNumber() may answer from ethers' cache).
result.blockNumberAgain = await provider.send('eth_blockNumber', []);

// destroy(): the socket closed (no code: 1005 at the node), and requests after it refused.
await provider.destroy();
result.afterDestroy = await provider.send('eth_blockNumber', []).then(
  () => 'resolved',
  (err: { code?: string }) => err.code,
);
result.nodeClosed = await Promise.all(nodeClosed);
// Repeats merged: how many identical getBalance requests ethers answers from its short-lived cache depends on time.
result.nodeSaw = nodeSaw.filter((m, i) => m !== nodeSaw[i - 1]);
await new Promise<void>((resolve) => wss.close(() => resolve()));
report(result);
