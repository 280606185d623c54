/**
 * @cosmjs/tendermint-rpc 0.39 (the Cosmos SDK's JS client for CometBFT's RPC), run by cosmjs.test.ts with `ws` as
 * installed or aliased to ws-stream/ws. Its `WebsocketClient` dials through @cosmjs/socket, which takes ws from
 * isomorphic-ws: `onopen`/`onmessage`/`onclose`/`onerror` properties, `send(data, callback)` (Node only), the
 * readyState constants on the class, and `wasClean` telling a dropped connection (reconnect) from a closed one. Against
 * a fake CometBFT node written here on the real ws (JSON-RPC at /websocket: abci_info, abci_query, broadcast_tx_sync,
 * block's error, subscribe/unsubscribe with NewBlockHeader events), the flow through `Comet38Client`: calls, a 256 kB
 * transaction, an RPC error, a header subscription, the node dropping the connection (the client reconnects on its
 * own), an unsubscribe, and `disconnect()` (1000). Prints what the client's user and the node saw.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { Comet38Client, WebsocketClient } from '@cosmjs/tendermint-rpc';
import { aliased, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex').toUpperCase();
const zeros = '00'.repeat(32);

/** A block header as CometBFT sends it in a NewBlockHeader event. */
const header = (height: number) => ({
  version: { block: '11', app: '1' },
  chain_id: 'testchain-1',
  height: String(height),
  time: `2024-01-01T00:00:0${height}.123456789Z`,
  last_block_id: { hash: 'AB'.repeat(32), parts: { total: 1, hash: 'CD'.repeat(32) } },
  last_commit_hash: zeros,
  data_hash: '',
  validators_hash: zeros,
  next_validators_hash: zeros,
  consensus_hash: zeros,
  app_hash: 'EF'.repeat(8),
  last_results_hash: '',
  evidence_hash: '',
  proposer_address: '12'.repeat(20),
});

const nodeSaw: string[] = [];
const nodeClosed = queue<string>();
const connections = queue<import('ws').WebSocket>();
const unsubscribed = queue<string>();
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server, path: '/websocket' });
wss.on('connection', (ws) => {
  connections.push(ws);
  ws.on('message', (data: Buffer, isBinary) => {
    const m = JSON.parse(String(data)) as { id: number; method: string; params: Record<string, string> };
    const reply = (result: unknown) => ws.send(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
    nodeSaw.push(`${isBinary ? 'binary' : 'text'} ${m.method}${m.params?.query ? ` ${m.params.query}` : ''}`);
    if (m.method === 'abci_info') {
      reply({
        response: { data: 'kvstore', version: '1.0.0', last_block_height: '3', last_block_app_hash: 'AQID' },
      });
    } else if (m.method === 'abci_query') {
      const value = m.params.path === '/store/bank/key' ? Buffer.from(`balance of ${m.params.data}`) : Buffer.alloc(0);
      reply({
        response: { code: 0, log: '', info: '', index: '0', key: 'AQI=', value: value.toString('base64'), height: '3' },
      });
    } else if (m.method === 'broadcast_tx_sync') {
      const tx = Buffer.from(m.params.tx ?? '', 'base64');
      reply({
        code: 0,
        data: '',
        log: `${tx.length} bytes`,
        codespace: '',
        hash: hex(createHash('sha256').update(tx).digest()),
      });
    } else if (m.method === 'subscribe') {
      reply({});
      for (const height of [4, 5, 6]) {
        ws.send(
          JSON.stringify({
            jsonrpc: '2.0',
            id: m.id,
            result: {
              query: m.params.query,
              data: { type: 'tendermint/event/NewBlockHeader', value: { header: header(height) } },
              events: { 'tm.event': ['NewBlockHeader'] },
            },
          }),
        );
      }
    } else if (m.method === 'unsubscribe') {
      reply({});
      unsubscribed.push(m.params.query ?? '');
    } else {
      ws.send(
        JSON.stringify({
          jsonrpc: '2.0',
          id: m.id,
          error: { code: -32603, message: 'Internal error', data: 'height 999 must be less than or equal to 6' },
        }),
      );
    }
  });
  ws.on('close', (code) => nodeClosed.push(String(code)));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('isomorphic-ws')) };
const socketErrors: unknown[] = [];
const rpc = new WebsocketClient(url, (err: unknown) => socketErrors.push(err));
const client = Comet38Client.create(rpc);
const first = await connections.next();

const info = await client.abciInfo();
result.abciInfo = [info.data, info.lastBlockHeight, hex(info.lastBlockAppHash ?? new Uint8Array())];
const query = await client.abciQuery({ path: '/store/bank/key', data: Uint8Array.from([0xca, 0xfe]) });
result.abciQuery = [Buffer.from(query.value).toString(), query.height, query.code];
const tx = Buffer.alloc(256 * 1024, 3);
const broadcast = await client.broadcastTxSync({ tx });
result.broadcast = [
  broadcast.code,
  broadcast.log,
  hex(broadcast.hash) === hex(createHash('sha256').update(tx).digest()),
];
result.rpcError = await client.block(999).then(
  () => 'succeeded',
  (err: Error) => err.message,
);

// Headers: three events, then the node drops the connection: the client reconnects (its timer) and answers calls
// again; the subscription is not renewed. Its listener removed, xstream stops the producer: an unsubscribe, sent on
// the new connection.
const headers = queue<string>();
const stream = client.subscribeNewBlockHeader();
const listener = {
  next: (h: { chainId: string; height: number; time: { toISOString(): string }; proposerAddress: Uint8Array }) =>
    headers.push(`${h.chainId} ${h.height} ${h.time.toISOString()} ${hex(h.proposerAddress).slice(0, 4)}`),
  error: (err: unknown) => headers.push(`error ${String(err)}`),
  complete: () => headers.push('complete'),
};
stream.addListener(listener);
result.headers = [await headers.next(), await headers.next(), await headers.next()];
first.terminate();
result.dropped = await nodeClosed.next();
// (Not before the client has seen the drop: a request written into the dying connection is lost, on either engine.)
await connections.next();
const again = await client.abciInfo();
result.afterReconnect = [again.data, again.lastBlockHeight];
stream.removeListener(listener);
result.unsubscribed = await unsubscribed.next();

// disconnect(): closed with 1000.
client.disconnect();
result.disconnect = await nodeClosed.next();
result.socketErrors = socketErrors.length;
result.node = nodeSaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);
// The client's reconnection timer goes on after disconnect() (it reconnects on any 'Disconnected' status).
process.exit(0);
