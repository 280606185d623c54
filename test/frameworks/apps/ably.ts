/**
 * Ably's realtime client (ably 2, which requires `ws` on Node), run by ably.test.ts with `ws` as installed or aliased
 * to ws-stream/ws, against a fake Ably realtime endpoint written here on the real ws, speaking Ably's protocol in its
 * JSON format. The client makes `new WebSocket(uri)`, sets `binaryType` to 'nodebuffer', uses the `on*` handlers
 * beside a `ws.on('ping')` listener (ws ping frames are its heartbeats on Node: `heartbeats=false`), reads `wasClean`
 * and `code` from the CloseEvent, and closes the socket on the next tick once the transport is disposed. The flow:
 * CONNECTED with the connection details, a channel attached and subscribed, messages published (text, JSON, binary as
 * base64) and ACKed and delivered back, a publish refused with NACK, a channel refused with ERROR, ws pings
 * answered, the server dropping the socket and the client resuming the connection, and `close()` (CLOSE/CLOSED, then
 * 1005 on the server). Prints what the client and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type WsDefault from 'ws';
import { aliased, ours, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** An Ably protocol message, as much of it as this server reads and writes. */
interface ProtocolMessage {
  action: number;
  id?: string;
  channel?: string;
  msgSerial?: number;
  count?: number;
  flags?: number;
  messages?: { id?: string; name?: string; data?: unknown; encoding?: string; clientId?: string }[];
  error?: { code: number; statusCode: number; message: string };
  connectionId?: string;
  connectionDetails?: object;
}
const HEARTBEAT = 0;
const ACK = 1;
const NACK = 2;
const CONNECTED = 4;
const CLOSE = 7;
const CLOSED = 8;
const ERROR = 9;
const ATTACH = 10;
const ATTACHED = 11;
const MESSAGE = 15;

/** The fake realtime endpoint: what each connection saw. */
const connections: string[][] = [];
const serverSockets = queue<WsDefault>();
const closedOnServer: Promise<unknown>[] = [];
const pongs = queue<string>();
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server: httpServer });
let messageIds = 0;
wss.on('connection', (ws, req) => {
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const saw = [
    ['key', 'clientId', 'format', 'heartbeats', 'resume'].map((name) => `${name}=${query.get(name)}`).join(' '),
  ];
  connections.push(saw);
  serverSockets.push(ws);
  closedOnServer.push(new Promise((resolve) => ws.on('close', (code: number) => resolve(saw.push(`close ${code}`)))));
  ws.on('pong', (data: Buffer) => pongs.push(`pong ${data}`));
  const send = (message: ProtocolMessage) => ws.send(JSON.stringify(message));
  send({
    action: CONNECTED,
    connectionId: 'conn-1',
    connectionDetails: {
      clientId: query.get('clientId'),
      connectionKey: 'conn-key-1',
      maxMessageSize: 65_536,
      maxIdleInterval: 0,
      connectionStateTtl: 120_000,
      serverId: 'fake',
    },
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const message = JSON.parse(String(data)) as ProtocolMessage;
    const { action, channel } = message;
    saw.push(`${isBinary ? 'binary' : 'text'} action ${action}${channel ? ` ${channel}` : ''}`);
    if (action === HEARTBEAT) send({ action: HEARTBEAT, id: message.id });
    else if (action === ATTACH) {
      if (channel === 'locked') {
        send({ action: ERROR, channel, error: { code: 40160, statusCode: 401, message: 'channel denied' } });
      } else send({ action: ATTACHED, channel, flags: 0 });
    } else if (action === MESSAGE) {
      if (channel === 'read-only') {
        const error = { code: 40160, statusCode: 401, message: 'publish denied' };
        return send({ action: NACK, msgSerial: message.msgSerial, count: 1, error });
      }
      send({ action: ACK, msgSerial: message.msgSerial, count: message.messages?.length ?? 1 });
      const id = `msg-${++messageIds}`;
      const messages = (message.messages ?? []).map((m, i) => ({ ...m, id: `${id}:${i}`, clientId: 'ada' }));
      send({ action: MESSAGE, channel, id, connectionId: 'conn-1', messages });
    } else if (action === CLOSE) send({ action: CLOSED });
  });
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const port = (httpServer.address() as AddressInfo).port;

/** What this app uses of ably. */
interface Message {
  name: string;
  data: unknown;
  clientId: string;
  id: string;
}
interface Channel {
  state: string;
  attach(): Promise<unknown>;
  subscribe(listener: (message: Message) => void): Promise<unknown>;
  publish(name: string, data: unknown): Promise<void>;
}
interface Realtime {
  connection: {
    id: string;
    state: string;
    on(listener: (change: { current: string; previous: string; reason?: { code: number } }) => void): void;
    once(state: string): Promise<unknown>;
  };
  channels: { get(name: string): Channel };
  close(): void;
}
const Ably = require('ably') as { Realtime: new (options: object) => Realtime };

const result: Record<string, unknown> = { aliased: aliased(require.resolve('ably')) };
const realtime = new Ably.Realtime({
  key: 'app.key:secret',
  clientId: 'ada',
  realtimeHost: '127.0.0.1',
  restHost: '127.0.0.1',
  port,
  tls: false,
  useBinaryProtocol: false,
  logLevel: 0,
});
const states: string[] = [];
realtime.connection.on((change) => states.push(`${change.previous}->${change.current}`));
await realtime.connection.once('connected');
const transport = (
  realtime as unknown as {
    connection: { connectionManager: { activeProtocol: { transport: { wsConnection: unknown } } } };
  }
).connection.connectionManager.activeProtocol.transport;
result.socket = {
  isOurs: transport.wsConnection instanceof ours.WebSocket,
  binaryType: (transport.wsConnection as { binaryType: string }).binaryType,
};
result.connectionId = realtime.connection.id;

const chat = realtime.channels.get('chat');
const received = queue<string>();
await chat.subscribe((m) =>
  received.push(`${m.name} ${Buffer.isBuffer(m.data) ? `bytes ${[...m.data]}` : JSON.stringify(m.data)} ${m.clientId}`),
);
result.attached = chat.state;
await chat.publish('greeting', 'héllo');
await chat.publish('json', { n: 1, list: [true, null] });
await chat.publish('binary', Buffer.from([1, 2, 3]));
result.received = [await received.next(), await received.next(), await received.next()];

result.nack = await realtime.channels
  .get('read-only')
  .publish('x', 'y')
  .then(
    () => 'acked',
    (err: { code: number; statusCode: number; message: string }) => `${err.code} ${err.statusCode} ${err.message}`,
  );
const locked = realtime.channels.get('locked');
result.channelError = await locked.attach().then(
  () => 'attached',
  (err: { code: number; message: string }) => `${err.code} ${err.message} (${locked.state})`,
);

// ws ping frames (Ably's heartbeats on Node): the engine answers them.
const server = await serverSockets.next();
server.ping('hb');
result.wsPing = await pongs.next();

// The server drops the socket: the client resumes the connection on a new one.
const resumed = realtime.connection.once('connected');
server.terminate();
await resumed;
await serverSockets.next();
await chat.publish('after', 'resume');
result.afterResume = await received.next();

const closed = realtime.connection.once('closed');
realtime.close();
await closed;
await Promise.all(closedOnServer);
result.states = states;
result.connections = connections;
wss.close();
httpServer.close();
report(result);
