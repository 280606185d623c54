/**
 * centrifuge 5's protobuf client (`centrifuge/build/protobuf`), given `websocket: WebSocket` from `ws`: it asks for
 * the `centrifuge-protobuf` subprotocol, sets `binaryType = 'arraybuffer'` and sends length-delimited protobuf
 * commands in binary frames. The server on `ws`'s WebSocketServer speaks the same protocol with the client's own codec
 * (taken from an unconnected client: the package exports no server side). Run by centrifuge.test.ts with `ws` as
 * installed or aliased to ws-stream/ws. The client connects, subscribes (two publications in the reply's frame),
 * publishes bytes, calls an RPC on bytes, reconnects after a close with 3001 and disconnects. Prints what both saw.
 */
import type { AddressInfo } from 'node:net';
import { Centrifuge } from 'centrifuge/build/protobuf';
import { WebSocket, WebSocketServer } from 'ws';
import { ours, report } from './peer.js';

type Message = Record<string, Record<string, unknown> | number | null | undefined>;
interface Codec {
  encodeReplies(replies: object[]): Uint8Array;
  decodeCommands(data: Uint8Array): Message[];
}
const codec = (new Centrifuge('ws://127.0.0.1:1', { websocket: WebSocket }) as unknown as { _codec: Codec })._codec;
const hex = (data: unknown) => Buffer.from(data as Uint8Array).toString('hex');

const serverSaw: string[] = [];
const serverClosed: Promise<string>[] = [];
const connections: WebSocket[] = [];
const kinds = ['connect', 'subscribe', 'publish', 'rpc'];

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws: WebSocket) => {
  const n = connections.push(ws);
  serverSaw.push(`${n}: protocol ${ws.protocol}`);
  serverClosed.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${n}: ${code} ${reason}`))));
  ws.on('message', (data, isBinary) => {
    for (const command of codec.decodeCommands(new Uint8Array(data as Buffer))) {
      const kind = kinds.find((k) => command[k]) ?? 'pong';
      const body = (command[kind] ?? {}) as Record<string, unknown>;
      serverSaw.push(
        `${n}: ${isBinary ? 'binary' : 'text'} ${kind}${hex(body.data ?? []) ? ` ${hex(body.data)}` : ''}`,
      );
      const id = command.id;
      const write = (...replies: object[]) => ws.send(codec.encodeReplies(replies));
      if (kind === 'connect')
        write({ id, connect: { client: `client-${n}`, version: 'fake', data: Buffer.from([n]) } });
      else if (kind === 'subscribe')
        write(
          { id, subscribe: {} },
          { push: { channel: body.channel, pub: { data: Buffer.from([n, 1]) } } },
          { push: { channel: body.channel, pub: { data: Buffer.from([n, 2]) } } },
        );
      else if (kind === 'publish')
        write({ id, publish: {} }, { push: { channel: body.channel, pub: { data: body.data } } });
      else if (kind === 'rpc') write({ id, rpc: { data: Buffer.from(body.data as Uint8Array).reverse() } });
    }
  });
});
const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/connection/websocket?format=protobuf`;

const events: string[] = [];
const centrifuge = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 1, maxReconnectDelay: 2 });
centrifuge.on('connecting', (ctx) => events.push(`connecting ${ctx.code} ${ctx.reason}`));
centrifuge.on('connected', (ctx) => events.push(`connected ${ctx.client} ${hex(ctx.data)}`));
centrifuge.on('disconnected', (ctx) => events.push(`disconnected ${ctx.code} ${ctx.reason}`));
centrifuge.on('error', (ctx) => events.push(`error ${ctx.type} ${ctx.error.code}`));
const publications: string[] = [];
let onPublication: () => void = () => {};
const sub = centrifuge.newSubscription('bin');
sub.on('publication', (ctx) => {
  publications.push(hex(ctx.data));
  onPublication();
});
const publicationsCame = (count: number) =>
  new Promise<void>((resolve) => {
    onPublication = () => publications.length === count && resolve();
    onPublication();
  });

const result: Record<string, unknown> = {
  serverIsOurs: wss instanceof ours.WebSocketServer,
  clientIsOurs: (WebSocket as unknown) === ours.WebSocket,
};
sub.subscribe();
centrifuge.connect();
await sub.ready();
await publicationsCame(2);
await sub.publish(new Uint8Array([0xca, 0xfe]));
await publicationsCame(3);
result.rpc = hex((await centrifuge.rpc('reverse', new Uint8Array([1, 2, 3]))).data);
// 3001: reconnect, subscribe again, the new connection's publications.
connections[0]?.close(3001, 'shutdown');
await publicationsCame(5);
centrifuge.disconnect();
result.serverClosed = await Promise.all(serverClosed);
result.events = events;
result.publications = publications;
result.serverSaw = serverSaw;
await new Promise<void>((resolve) => wss.close(() => resolve()));
report(result);
