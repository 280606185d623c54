/**
 * The fan-out cell's ws-stream server: every connection subscribes to topic "bench" as it opens,
 * and every message a client sends is published to it (with its type) through `PubSub` on the
 * in-memory broker: framed once, the same Buffer queued to every subscriber.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketError } from '../../src/errors.js';
import { PubSub } from '../../src/pubsub/index.js';
import { type ReceivedData, WebSocketStream } from '../../src/stream/websocket-stream.js';

const port = Number(process.argv[2] ?? 0);
const pubsub = new PubSub({ history: { size: 0 } });
const AS_BINARY = Object.freeze({ binary: true });
const AS_TEXT = Object.freeze({ binary: false });
function ignore(): void {}

function serve(ws: WebSocketStream): void {
  const onMessage = (err: WebSocketError | null, msg?: ReceivedData): void => {
    if (err) return;
    pubsub.publish('bench', msg!.data, msg!.binary ? AS_BINARY : AS_TEXT).catch(ignore);
    ws.read(onMessage);
  };
  pubsub.subscribe(ws, 'bench').then(() => ws.read(onMessage), ignore);
}

const server = http.createServer();
server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
  const ws = new WebSocketStream(socket);
  ws.accept(req, { head }, (err) => {
    if (!err) serve(ws);
  });
});
// A backlog for the 1,000 connections that arrive at once (the default 511 resets some under valgrind).
server.listen({ port, host: '127.0.0.1', backlog: 2048 }, () =>
  console.log(`listening ${(server.address() as { port: number }).port}`),
);
