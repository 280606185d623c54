/**
 * The Azure Web PubSub client (@azure/web-pubsub-client 1.0, whose Node build imports `ws`: binaryType
 * 'arraybuffer', the `on*` handlers, `event.error` of its errors, and `send`'s completion callback), run by
 * webpubsub.test.ts with `ws` as installed or aliased to ws-stream/ws, against a small local service written here on
 * the real ws that speaks the `json.reliable.webpubsub.azure.v1` subprotocol: the connected system message with a
 * reconnection token, acks, group and server messages with sequence ids, the client's sequence acks, recovery of a
 * dropped connection by its id and token (a duplicate message after it dropped by the client), and a policy close
 * (1008) after a `disconnected` message, which ends recovery: the client reconnects afresh and rejoins its group.
 * Also a start refused with 401, and one to a port nobody listens on (the socket's error as the ErrorEvent carries
 * it). Prints what the client and the service saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from '@azure/web-pubsub-client';
import type WsDefault from 'ws';
import { aliased, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);
const subprotocol = 'json.reliable.webpubsub.azure.v1';

/** The service: connections, what it got (sequence acks aside), and the latest sequence id acked. */
const serviceSaw: string[] = [];
let ackedUpTo = 0;
let ackWaiter: { upTo: number; resolve: () => void } | undefined;
/** Resolves once the client has acked the sequence up to `upTo` (it acks once a second). */
const acked = (upTo: number) =>
  new Promise<void>((resolve) => {
    if (ackedUpTo >= upTo) resolve();
    else ackWaiter = { upTo, resolve };
  });
let connections = 0;
let sequenceId = 0;
const sockets = queue<{ ws: WsDefault; recovered: boolean }>();
const closedOnService = queue<string>();
const httpServer = http.createServer();
const wss = new RealWebSocket.WebSocketServer({
  server: httpServer,
  handleProtocols: (protocols: Set<string>) => (protocols.has(subprotocol) ? subprotocol : false),
});
let last: object | undefined;
wss.on('connection', (ws, req) => {
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const recovering = query.get('awps_connection_id');
  const send = (m: object) => ws.send(JSON.stringify(m));
  if (recovering) {
    serviceSaw.push(`recover ${recovering} ${query.get('awps_reconnection_token')} ${ws.protocol}`);
  } else {
    connections++;
    serviceSaw.push(`connect ${query.get('access_token')} ${ws.protocol}`);
    send({
      type: 'system',
      event: 'connected',
      userId: 'ada',
      connectionId: `conn-${connections}`,
      reconnectionToken: `token-${connections}`,
    });
  }
  /** A message that counts in the client's sequence. */
  const sequenced = (m: object) => {
    last = { ...m, sequenceId: ++sequenceId };
    send(last);
  };
  ws.on('message', (data: Buffer, isBinary) => {
    const m = JSON.parse(String(data)) as Record<string, unknown>;
    if (m.type === 'sequenceAck') {
      ackedUpTo = Math.max(ackedUpTo, m.sequenceId as number);
      if (ackWaiter && ackedUpTo >= ackWaiter.upTo) ackWaiter.resolve();
      return;
    }
    serviceSaw.push(`${isBinary ? 'binary' : 'text'} ${m.type} ${m.group ?? m.event ?? ''} ${m.dataType ?? ''}`.trim());
    const ack = (success = true, error?: object) => send({ type: 'ack', ackId: m.ackId, success, error });
    if (m.type === 'joinGroup') {
      if (m.group === 'forbidden') ack(false, { name: 'Forbidden', message: 'not for you' });
      else ack();
    } else if (m.type === 'sendToGroup') {
      ack();
      sequenced({
        type: 'message',
        from: 'group',
        group: m.group,
        dataType: m.dataType,
        data: m.data,
        fromUserId: 'ada',
      });
    } else if (m.type === 'event') {
      ack();
      sequenced({ type: 'message', from: 'server', dataType: 'json', data: { event: m.event, got: m.data } });
    }
  });
  ws.on('close', (code, reason) => closedOnService.push(`${code} ${String(reason)}`));
  sockets.push({ ws, recovered: recovering !== null });
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}/client/hubs/chat?access_token=jwt`;

const result: Record<string, unknown> = { aliased: aliased(require.resolve('@azure/web-pubsub-client')) };
const client = new WebPubSubClient(url, {
  protocol: WebPubSubJsonReliableProtocol(),
  reconnectRetryOptions: { retryDelayInMs: 10 },
  messageRetryOptions: { maxRetries: 0 },
  keepAliveIntervalInMs: 0,
  keepAliveTimeoutInMs: 0,
});
const events = queue<string>();
const messages = queue<unknown>();
client.on('connected', (e) => events.push(`connected ${e.connectionId} ${e.userId}`));
client.on('disconnected', (e) =>
  events.push(`disconnected ${e.connectionId} ${(e.message as { message?: string } | undefined)?.message}`),
);
client.on('stopped', () => events.push('stopped'));
client.on('group-message', (e) => {
  const { data } = e.message;
  messages.push([
    e.message.group,
    e.message.dataType,
    data instanceof ArrayBuffer
      ? [...new Uint8Array(data)]
      : typeof data === 'string' && data.length > 100
        ? data.length
        : data,
    e.message.sequenceId,
  ]);
});
client.on('server-message', (e) => messages.push(['server', e.message.dataType, e.message.data, e.message.sequenceId]));

await client.start();
result.connected = await events.next();
let { ws: service } = await sockets.next();

result.joined = await client.joinGroup('room');
result.forbidden = await client.joinGroup('forbidden').then(
  () => 'joined',
  (err: Error & { errorDetail?: object }) => ({ name: err.name, message: err.message, detail: err.errorDetail }),
);
const sent: unknown[] = [];
sent.push(await client.sendToGroup('room', 'héllo', 'text'));
sent.push(await client.sendToGroup('room', { n: 1 }, 'json'));
sent.push(await client.sendToGroup('room', new Uint8Array([0, 1, 254, 255]).buffer, 'binary'));
sent.push(await client.sendToGroup('room', 'x'.repeat(100_000), 'text'));
sent.push(await client.sendEvent('hello', 'from ada', 'text'));
result.sent = sent;
result.messages = [
  await messages.next(),
  await messages.next(),
  await messages.next(),
  await messages.next(),
  await messages.next(),
];

// The connection drops: the client recovers it with its id and token; the service resends its last message (which
// the client has, by sequence id) and a new one.
service.terminate();
result.droppedOnService = await closedOnService.next();
const recovered = await sockets.next();
result.recovered = recovered.recovered;
service = recovered.ws;
service.send(JSON.stringify(last));
service.send(
  JSON.stringify({
    type: 'message',
    from: 'group',
    group: 'room',
    dataType: 'text',
    data: 'after',
    sequenceId: ++sequenceId,
  }),
);
result.afterRecovery = await messages.next();

// A policy close after a disconnected message: no recovery; a fresh connection that rejoins the group.
service.send(JSON.stringify({ type: 'system', event: 'disconnected', message: 'kicked' }));
service.close(1008, 'policy');
result.kicked = [await events.next(), await closedOnService.next(), await events.next()];
service = (await sockets.next()).ws;
await client.sendToGroup('room', 'still here', 'text');
result.afterKick = await messages.next();

// The client acks what it got on the new connection, on its own.
await acked(sequenceId);
result.ackedUpTo = ackedUpTo;

client.stop();
result.stopped = [await events.next(), await events.next(), await closedOnService.next()];

// A start refused in the upgrade: the engine's error, as the client passes it on.
const refusing = http.createServer();
refusing.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
const refused = new WebPubSubClient(`ws://127.0.0.1:${(refusing.address() as net.AddressInfo).port}/client`, {
  keepAliveIntervalInMs: 0,
  keepAliveTimeoutInMs: 0,
});
result.refused = await refused.start().then(
  () => 'started',
  (err: Error) => err.message,
);
await new Promise((resolve) => refusing.close(resolve));

// A start to a port nobody listens on: the socket's own error, as the engine's ErrorEvent carries it.
const nobody = http.createServer();
await new Promise<void>((resolve) => nobody.listen(0, '127.0.0.1', resolve));
const nobodyPort = (nobody.address() as net.AddressInfo).port;
await new Promise((resolve) => nobody.close(resolve));
const unreachable = new WebPubSubClient(`ws://127.0.0.1:${nobodyPort}/client`, {
  keepAliveIntervalInMs: 0,
  keepAliveTimeoutInMs: 0,
});
result.unreachable = await unreachable.start().then(
  () => 'started',
  (err: NodeJS.ErrnoException & { address?: string; port?: number }) => ({
    name: err.name,
    message: err.message.replace(String(nobodyPort), 'PORT'),
    code: err.code,
    syscall: err.syscall,
    address: err.address,
    port: err.port === nobodyPort,
  }),
);

result.service = serviceSaw;
wss.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);
