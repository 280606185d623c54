/**
 * @stomp/stompjs 7 (the STOMP client of Spring and RabbitMQ web apps; in Node it is given ws as the global
 * `WebSocket`, as its docs show, and drives it in the browser's style: subprotocols v12/v11/v10.stomp, binaryType
 * 'arraybuffer', on* properties, `close()`, and `terminate()` when it discards a socket) against stomp-broker-js 1.3
 * (a STOMP broker on `new (require('ws').Server)({ server, path })`; it requires its own ws 5), run by stomp.test.ts
 * with `ws` as installed or aliased to ws-stream/ws (both ends then run on it). The flow: CONNECT/CONNECTED, a
 * subscription receiving another client's text and binary publishes and the broker's own sends, a publish to a
 * broker-side subscriber, a socket the broker closes with 1011 (the client reconnects and subscribes again), a
 * socket the client discards with terminate() (reconnected again), and deactivate() (DISCONNECT, its receipt, the
 * close). Prints what the client and the broker saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { aliased, ours, queue, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of stomp-broker-js and @stomp/stompjs. */
interface Broker {
  socket: { on(event: 'connection', f: (ws: ServerSocket) => void): void };
  on(event: string, f: (...args: never[]) => void): void;
  send(topic: string, headers: object, body: string): void;
  subscribe(topic: string, f: (body: string, headers: Record<string, string>) => void): string;
}
interface ServerSocket {
  sessionId: string;
  protocol: string;
  on(event: 'close', f: (code: number, reason: unknown) => void): void;
  close(code?: number, reason?: string): void;
}
interface Frame {
  command: string;
  headers: Record<string, string>;
  body: string;
}
interface StompClient {
  webSocket?: { protocol: string; constructor: unknown };
  connected: boolean;
  activate(): void;
  deactivate(): Promise<void>;
  forceDisconnect(): void;
  publish(params: { destination: string; body?: string; binaryBody?: Uint8Array; headers?: object }): void;
  subscribe(destination: string, f: (message: Frame) => void): { id: string };
}
const StompServer = require('stomp-broker-js') as new (config: object) => Broker;
const { Client } = require('@stomp/stompjs') as { Client: new (config: object) => StompClient };
// As stompjs's docs say for Node: ws is the WebSocket it uses.
(globalThis as { WebSocket?: unknown }).WebSocket = require('ws');
const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('stomp-broker-js')),
  clientIsOurs: (globalThis as { WebSocket?: unknown }).WebSocket === ours.default,
};

// The broker: what it saw of each socket (its subprotocol, how it closed), and its connect/disconnect events.
const httpServer = http.createServer();
const broker = new StompServer({ server: httpServer, path: '/stomp', heartbeat: [0, 0], serverName: 'test-broker' });
const sockets = queue<{ ws: ServerSocket; closed: Promise<string> }>();
broker.socket.on('connection', (ws) => {
  const closed = new Promise<string>((resolve) =>
    ws.on('close', (code, reason) => resolve(`${code} ${String(reason)}`)),
  );
  sockets.push({ ws, closed });
});
const brokerEvents: string[] = [];
broker.on('connected', (_id: string, headers: Record<string, string>) =>
  brokerEvents.push(`connected ${headers.login} ${headers['accept-version']}`),
);
broker.on('disconnected', () => brokerEvents.push('disconnected'));
/** The broker's subscriptions to the topic as they are made (the client makes one on each connect). */
const subscribed = queue<string>();
broker.on('subscribe', (sub: { topic: string; sessionId: string }) => {
  if (sub.topic === '/topic/news') subscribed.push(sub.sessionId);
});
const serverSide = queue<string>();
broker.subscribe('/queue/server', (body) => serverSide.push(body));
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const { port } = httpServer.address() as net.AddressInfo;

// The client; it subscribes on every connect, as stompjs's docs advise.
const connects = queue<Record<string, string>>();
const news = queue<Frame>();
const wsCloses = queue<string>();
const client = new Client({
  brokerURL: `ws://127.0.0.1:${port}/stomp`,
  connectHeaders: { login: 'user', passcode: 'secret' },
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
  reconnectDelay: 20,
  // forceDisconnect() (and a lost heartbeat) terminate() the socket rather than close it.
  discardWebsocketOnCommFailure: true,
  debug: () => {},
  onConnect: (frame: Frame) => {
    client.subscribe('/topic/news', (message) => news.push(message));
    connects.push(frame.headers);
  },
  onWebSocketClose: (event: { code: number; reason: string; wasClean: boolean }) =>
    wsCloses.push(`${event.code} ${event.reason} ${event.wasClean}`),
  onStompError: (frame: Frame) => brokerEvents.push(`stomp error ${frame.headers.message}`),
});
client.activate();
const connected = await connects.next();
const s1 = await sockets.next();
await subscribed.next();
result.connected = {
  version: connected.version,
  server: connected.server,
  subprotocol: [client.webSocket?.protocol, s1.ws.protocol],
  socketIsOurs: client.webSocket instanceof ours.WebSocket,
};

/** A message as the subscriber saw it. */
const seen = async () => {
  const m = await news.next();
  return [m.headers.destination ?? null, m.body];
};
// A second client publishes to the topic (the broker sends nothing back to a message's own sender), text then binary
// (the broker passes bodies on as text); then the broker sends to it itself.
const publisherConnects = queue<string>();
const publisher = new Client({
  brokerURL: `ws://127.0.0.1:${port}/stomp`,
  connectHeaders: { login: 'publisher' },
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
  reconnectDelay: 0,
  debug: () => {},
  onConnect: () => publisherConnects.push('connected'),
});
publisher.activate();
await publisherConnects.next();
const publisherSocket = await sockets.next();
publisher.publish({ destination: '/topic/news', body: 'hello' });
const text = await seen();
publisher.publish({ destination: '/topic/news', binaryBody: new TextEncoder().encode('bin') });
const binary = await seen();
await publisher.deactivate();
const publisherClosed = await publisherSocket.closed;
broker.send('/topic/news', {}, 'from the broker');
const fromBroker = await seen();
// A publish to a broker-side subscriber (stomp-broker-js answers no receipt to a SEND: its middleware drops the
// callback that would send it).
client.publish({ destination: '/queue/server', body: 'to the broker' });
result.messages = { text, binary, fromBroker, serverSide: await serverSide.next() };

// The broker closes the socket with 1011: the client reconnects and subscribes again.
s1.ws.close(1011, 'broker restart');
const close1 = await wsCloses.next();
const s1Closed = await s1.closed;
await connects.next();
const s2 = await sockets.next();
await subscribed.next();
broker.send('/topic/news', {}, 'after the restart');
result.brokerClosed = { client: close1, broker: s1Closed, after: await seen() };

// The client discards its socket (terminate(), with discardWebsocketOnCommFailure): it reconnects.
client.forceDisconnect();
const close2 = await wsCloses.next();
const s2Closed = await s2.closed;
await connects.next();
const s3 = await sockets.next();
await subscribed.next();
broker.send('/topic/news', {}, 'after the discard');
result.discarded = { client: close2, broker: s2Closed, after: await seen() };

// deactivate(): DISCONNECT, the broker's receipt, then the socket closed.
await client.deactivate();
result.deactivated = { client: await wsCloses.next(), broker: await s3.closed, connected: client.connected };
result.publisher = publisherClosed;
result.brokerEvents = brokerEvents;
httpServer.close();
report(result);
