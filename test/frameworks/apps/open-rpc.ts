/**
 * The OpenRPC JSON-RPC client (@open-rpc/client-js 2, whose WebSocketTransport makes `new WS(uri)` with isomorphic-ws,
 * that is `ws` on Node), run by open-rpc.test.ts with `ws` as installed or aliased to ws-stream/ws, against a JSON-RPC
 * server written here on the real ws. The transport uses only the EventTarget API: `addEventListener('open')` removed
 * again with `removeEventListener` once open, and `message` events whose `data` it hands to `JSON.parse` (a text
 * frame's string, a binary frame's Buffer). The flow: requests with results, a JSON-RPC error with its code and data,
 * a response sent as a binary frame, a 1 MiB result, a notification each way, a batch, responses with ids nobody
 * asked for (a result, dropped; an error, to `onError`) and one that is not JSON (to `onError`), and `close()`. The
 * transport arms a 5 s timer per request that it never clears: the app's process lingers that long. Prints what the client and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Client, RequestManager, WebSocketTransport } from '@open-rpc/client-js';
import { aliased, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

interface Call {
  id?: number | string;
  method: string;
  params?: unknown[];
}
const serverSaw: string[] = [];
const serverClosed = queue<string>();
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server: httpServer });
wss.on('connection', (ws) => {
  const answer = ({ id, method, params = [] }: Call): object | undefined => {
    if (id === undefined) {
      serverSaw.push(`notification ${method} ${JSON.stringify(params)}`);
      if (method === 'subscribe') ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'tick', params: [1, 'one'] }));
      if (method === 'stray') {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 998, result: 'for nobody' })); // dropped
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 999, error: { code: -32000, message: 'late failure' } }));
      }
      if (method === 'garble') ws.send('{ not json');
      return undefined;
    }
    serverSaw.push(`request ${method}`);
    if (method === 'add') return { jsonrpc: '2.0', id, result: (params as number[]).reduce((a, b) => a + b, 0) };
    if (method === 'big') return { jsonrpc: '2.0', id, result: 'x'.repeat(1024 * 1024) };
    if (method === 'binary') return { jsonrpc: '2.0', id, result: 'sent as a binary frame' };
    if (method === 'echo') return { jsonrpc: '2.0', id, result: params };
    return { jsonrpc: '2.0', id, error: { code: -32601, message: 'Method not found', data: { method } } };
  };
  ws.on('message', (data: Buffer) => {
    const call = JSON.parse(String(data)) as Call | Call[];
    if (Array.isArray(call)) {
      serverSaw.push(`batch of ${call.length}`);
      return ws.send(JSON.stringify(call.map(answer)));
    }
    const response = answer(call);
    // The answer to `binary` goes out as a binary frame.
    if (response) ws.send(JSON.stringify(response), { binary: call.method === 'binary' });
  });
  ws.on('close', (code: number) => serverClosed.push(`close ${code}`));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/rpc`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('isomorphic-ws')) };
const transport = new WebSocketTransport(url);
result.socketIsOurs = transport.connection instanceof ours.WebSocket;
const requestManager = new RequestManager([transport]);
const client = new Client(requestManager);
const notifications = queue<string>();
const errors = queue<string>();
client.onNotification((n) => notifications.push(`${n.method} ${JSON.stringify(n.params)}`));
client.onError((err) => errors.push(`${err.code} ${err.message}`));

result.add = await client.request({ method: 'add', params: [1, 2, 39] });
result.unknown = await client.request({ method: 'nope', params: [] }).then(
  () => 'resolved',
  (err: { code: number; message: string; data: unknown }) => ({ code: err.code, message: err.message, data: err.data }),
);
result.binary = await client.request({ method: 'binary', params: [] });
result.echo = await client.request({ method: 'echo', params: ['héllo', { n: 1 }, [true, null]] });
result.bigLength = ((await client.request({ method: 'big', params: [] })) as string).length;

await client.notify({ method: 'subscribe', params: ['ticks'] });
result.notification = await notifications.next();

// (the manager's own `request` joins the batch at once; the client's waits a turn for the connection first)
requestManager.startBatch();
const batch = Promise.all([
  requestManager.request({ method: 'add', params: [2, 2] }),
  requestManager.request({ method: 'echo', params: ['in a batch'] }),
]);
requestManager.stopBatch();
result.batch = await batch;

await client.notify({ method: 'stray', params: [] });
result.stray = await errors.next();
await client.notify({ method: 'garble', params: [] });
result.garbled = await errors.next();

client.close();
result.closed = await serverClosed.next();
result.serverSaw = serverSaw;
wss.close();
httpServer.close();
report(result);
