/**
 * centrifuge 5 (Centrifugo's JavaScript client), given `websocket: WebSocket` from `ws` as its docs show for Node,
 * against a small server speaking Centrifugo's JSON protocol (commands and replies as newline-separated JSON objects,
 * several in one frame) written on `ws`'s WebSocketServer, run by centrifuge.test.ts with `ws` as installed or aliased
 * to ws-stream/ws (so the engine under test on both sides). The client connects, subscribes (publications pushed in
 * the reply's frame), publishes, calls RPCs (a result, an error, 1 MiB), sends an async message, gets a server
 * message and a server ping (which it answers), is refused a subscription, reconnects after a close with code 3001
 * (re-subscribing), stays disconnected after 3501, connects again and disconnects. Prints what the client and the
 * server saw.
 */
import type { AddressInfo } from 'node:net';
import { Centrifuge } from 'centrifuge';
import { WebSocket, WebSocketServer } from 'ws';
import { ours, report } from './peer.js';

type Command = { id?: number } & Record<string, Record<string, unknown> | number | undefined>;

const serverSaw: string[] = [];
const serverClosed: Promise<string>[] = [];
const connections: WebSocket[] = [];
let onPong: () => void = () => {};
let onSend: () => void = () => {};

/** Writes replies and pushes in one frame, newline-separated, as Centrifugo does. */
function write(ws: WebSocket, ...frames: object[]): void {
  ws.send(frames.map((f) => JSON.stringify(f)).join('\n'));
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws: WebSocket) => {
  const n = connections.push(ws);
  serverClosed.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${n}: ${code} ${reason}`))));
  ws.on('message', (data, isBinary) => {
    for (const line of String(data).split('\n')) {
      const command = JSON.parse(line) as Command;
      const kind = Object.keys(command).find((k) => k !== 'id') ?? 'pong';
      const body = (command[kind] ?? {}) as Record<string, unknown>;
      serverSaw.push(`${n}: ${isBinary ? 'binary ' : ''}${kind}${body.channel ? ` ${body.channel}` : ''}`);
      const id = command.id;
      switch (kind) {
        case 'pong':
          onPong();
          break;
        case 'connect':
          write(ws, { id, connect: { client: `client-${n}`, version: 'fake', data: { n }, ping: 25, pong: true } });
          if (n === 1) write(ws, {}); // A server ping, answered with an empty command.
          break;
        case 'subscribe':
          if (body.channel === 'secret') write(ws, { id, error: { code: 103, message: 'permission denied' } });
          // The reply and two publications in one frame.
          else
            write(
              ws,
              { id, subscribe: {} },
              { push: { channel: body.channel, pub: { data: { seq: `${n}.1` } } } },
              { push: { channel: body.channel, pub: { data: { seq: `${n}.2` } } } },
            );
          break;
        case 'publish':
          write(ws, { id, publish: {} }, { push: { channel: body.channel, pub: { data: body.data } } });
          break;
        case 'rpc':
          if (body.method === 'sum') {
            const { a, b } = body.data as { a: number; b: number };
            write(ws, { id, rpc: { data: { sum: a + b } } });
          } else if (body.method === 'big') write(ws, { id, rpc: { data: 'Ξ'.repeat(512 * 1024) } });
          else write(ws, { id, error: { code: 108, message: 'not available' } });
          break;
        case 'send':
          serverSaw[serverSaw.length - 1] += ` ${JSON.stringify(body.data)}`;
          write(ws, { push: { message: { data: { echo: body.data } } } });
          onSend();
          break;
      }
    }
  });
});
const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/connection/websocket`;

const events: string[] = [];
const centrifuge = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 1, maxReconnectDelay: 2 });
centrifuge.on('connecting', (ctx) => events.push(`connecting ${ctx.code} ${ctx.reason}`));
centrifuge.on('connected', (ctx) => events.push(`connected ${ctx.client} ${JSON.stringify(ctx.data)}`));
centrifuge.on('disconnected', (ctx) => events.push(`disconnected ${ctx.code} ${ctx.reason}`));
centrifuge.on('error', (ctx) => events.push(`error ${ctx.type} ${ctx.error.code}`));
centrifuge.on('message', (ctx) => events.push(`message ${JSON.stringify(ctx.data)}`));

const subEvents: string[] = [];
const publications: unknown[] = [];
const sub = centrifuge.newSubscription('news');
sub.on('subscribing', (ctx) => subEvents.push(`subscribing ${ctx.code} ${ctx.reason}`));
sub.on('subscribed', () => subEvents.push('subscribed'));
sub.on('unsubscribed', (ctx) => subEvents.push(`unsubscribed ${ctx.code} ${ctx.reason}`));
sub.on('publication', (ctx) => publications.push(ctx.data));

const result: Record<string, unknown> = {
  serverIsOurs: wss instanceof ours.WebSocketServer,
  clientIsOurs: (WebSocket as unknown) === ours.WebSocket,
};
const pong = new Promise<void>((resolve) => (onPong = resolve));
sub.subscribe();
centrifuge.connect();
await sub.ready();
await pong;
await sub.publish({ text: 'hi' });
result.sum = await centrifuge.rpc('sum', { a: 2, b: 3 });
result.failed = await centrifuge.rpc('nope', {}).then(
  () => 'resolved',
  (err: { code?: number; message?: string }) => [err.code, err.message],
);
const big = (await centrifuge.rpc('big', {})).data as string;
result.big = `${big.length}:${big === 'Ξ'.repeat(512 * 1024)}`;
const sent = new Promise<void>((resolve) => (onSend = resolve));
await centrifuge.send({ hello: 1 });
await sent;
await centrifuge.ready();

// A subscription the server refuses: unsubscribed with its code.
const secret = centrifuge.newSubscription('secret');
const refused = new Promise<{ code: number; reason: string }>((resolve) => secret.once('unsubscribed', resolve));
secret.subscribe();
result.secret = await refused;
centrifuge.removeSubscription(secret);

// The server closes with 3001 (reconnect): the client reconnects and subscribes again, with its publications.
const resubscribed = new Promise<void>((resolve) => sub.once('subscribed', () => resolve()));
connections[0]?.close(3001, 'shutdown');
await resubscribed;
// The server closes with 3501 (do not reconnect): disconnected.
const disconnected = new Promise<void>((resolve) => centrifuge.once('disconnected', () => resolve()));
connections[1]?.close(3501, 'bad request');
await disconnected;
result.stateAfter3501 = centrifuge.state;
// connect() again, then disconnect(): the socket closes (no code: 1005 at the server).
const again = new Promise<void>((resolve) =>
  sub.on('publication', (ctx) => (ctx.data as { seq?: string }).seq === '3.2' && resolve()),
);
centrifuge.connect();
await again;
centrifuge.disconnect();
result.serverClosed = await Promise.all(serverClosed);
result.events = events;
result.subEvents = subEvents;
result.publications = publications;
result.serverSaw = serverSaw;
await new Promise<void>((resolve) => wss.close(() => resolve()));
report(result);
