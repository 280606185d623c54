/**
 * bybit-api 4 (tiagosiebler's Bybit SDK: its `WebsocketClient` for the v5 streams), run by bybit.test.ts with `ws` as
 * installed or aliased to ws-stream/ws. The client makes `new WebSocket(url, protocols, wsOptions)` through
 * isomorphic-ws (its own ws 8.21 on Node) with the app's `wsOptions` (an `http.Agent` of its own, headers), sets the
 * `on*` properties, and keeps its own heartbeat: a JSON ping every `pingInterval`, and when no pong comes within
 * `pongTimeout`, `ws.close()` followed at once by `ws.terminate()`, then a reconnection that subscribes again. Against
 * a fake Bybit v5 public stream written here on the real ws (subscribe/unsubscribe with their responses, orderbook and
 * trade pushes, JSON pongs that can be stopped), the flow: topics subscribed (one refused), updates, the pongs
 * stopping (the client's close-and-terminate, 'reconnect', 'reconnected', the topics subscribed again), an
 * unsubscribe, and `closeAll()`. Prints what the client's user and the server saw.
 */
import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { WebsocketClient } from 'bybit-api';
import { aliased, CountingAgent, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

const serverSaw: string[] = [];
const serverClosed = queue<string>();
const connections = queue<number>();
let answerPings = true;
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server, path: '/v5/public/linear' });
let connectionCount = 0;
wss.on('connection', (ws, req: IncomingMessage) => {
  const n = ++connectionCount;
  serverSaw.push(`${n} connect ${req.headers['x-app']} protocol=${req.headers['sec-websocket-protocol'] ?? 'none'}`);
  connections.push(n);
  const send = (message: object) => ws.send(JSON.stringify(message));
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(String(data)) as { op: string; req_id?: string; args?: string[] };
    if (m.op === 'ping') {
      if (answerPings) send({ success: true, ret_msg: 'pong', conn_id: `c${n}`, op: 'ping' });
      return;
    }
    serverSaw.push(`${n} ${m.op} ${(m.args ?? []).join(',')}`);
    const args = m.args ?? [];
    const bad = args.find((t) => !t.startsWith('orderbook.') && !t.startsWith('publicTrade.'));
    if (bad && m.op === 'subscribe') {
      return send({ success: false, ret_msg: `Invalid topic :[${bad}]`, conn_id: `c${n}`, req_id: m.req_id, op: m.op });
    }
    send({ success: true, ret_msg: '', conn_id: `c${n}`, req_id: m.req_id, op: m.op });
    if (m.op !== 'subscribe') return;
    for (const topic of args) {
      if (topic.startsWith('orderbook.')) {
        send({
          topic,
          type: 'snapshot',
          ts: 1,
          data: { s: 'BTCUSDT', b: [['65000.5', '1.2']], a: [['65001', '0.8']], u: 1 },
        });
        send({ topic, type: 'delta', ts: 2, data: { s: 'BTCUSDT', b: [['65000.5', '0']], a: [], u: 2 } });
      } else {
        send({
          topic,
          type: 'snapshot',
          ts: 3,
          data: [{ T: 3, s: 'BTCUSDT', S: 'Buy', v: '0.01', p: '65001', i: `t${n}` }],
        });
      }
    }
  });
  ws.on('close', (code) => serverClosed.push(`${n} ${code}`));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const wsUrl = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/v5/public/linear`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('bybit-api')) };
const agent = new CountingAgent();
const silent = { trace: () => {}, info: () => {}, error: () => {} };
const client = new WebsocketClient(
  {
    wsUrl,
    pingInterval: 200,
    pongTimeout: 2000,
    reconnectTimeout: 10,
    wsOptions: { agent, headers: { 'x-app': 'fw-test' } },
  },
  silent,
);
const updates = queue<string>();
const lifecycle: string[] = [];
const reconnected = queue<string>();
const refusals = queue<string>();
const clientClosed = queue<string>();
client.on('update', (u: { topic: string; type: string; data: unknown }) =>
  updates.push(`${u.topic} ${u.type} ${JSON.stringify(u.data)}`),
);
client.on('open', () => lifecycle.push('open'));
client.on('reconnect', () => lifecycle.push('reconnect'));
client.on('reconnected', () => {
  lifecycle.push('reconnected');
  reconnected.push('reconnected');
});
client.on('close', () => {
  lifecycle.push('close');
  clientClosed.push('close');
});
client.on('exception', (e: { ret_msg?: string }) => refusals.push(e.ret_msg ?? 'exception'));

const [subscribed] = client.subscribeV5(['orderbook.1.BTCUSDT', 'publicTrade.BTCUSDT'], 'linear');
await subscribed;
result.updates = [await updates.next(), await updates.next(), await updates.next()];
const [refused] = client.subscribeV5('kline.bogus', 'linear');
// (Its promise settles once the request is sent; the refusal comes as an 'exception' event.)
await refused;
result.refused = await refusals.next();
// Dropped from the client's topics, so that the reconnection does not ask for it again.
const [dropped] = client.unsubscribeV5('kline.bogus', 'linear');
await dropped;

// The pongs stop: after pongTimeout the client closes and terminates the socket, reconnects, subscribes again.
answerPings = false;
result.heartbeatClose = await serverClosed.next();
answerPings = true;
await reconnected.next();
result.resubscribedUpdates = [await updates.next(), await updates.next(), await updates.next()].map((u) =>
  u.split(' ').slice(0, 2).join(' '),
);

const [unsubscribed] = client.unsubscribeV5('publicTrade.BTCUSDT', 'linear');
await unsubscribed;

client.closeAll();
result.closeAll = [await serverClosed.next(), await clientClosed.next()];
result.lifecycle = lifecycle;
result.agentConnections = agent.connections;
result.server = serverSaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);
