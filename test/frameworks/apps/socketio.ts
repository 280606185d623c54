/**
 * Socket.IO 4 with its default WebSocket engine (engine.io requires ws itself) and socket.io-client (engine.io-client
 * requires its own ws), run by socketio-alias.test.ts with `ws` as installed or aliased to ws-stream/ws: both roles on
 * the engine under test. Prints what the clients saw.
 */
import http from 'node:http';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { createRequire } from 'node:module';
import { aliased, ours, report } from './peer.js';

const httpServer = http.createServer();
const server = new Server(httpServer, { transports: ['websocket'], maxHttpBufferSize: 4e6 });
server.on('connection', (socket) => {
  socket.join('room');
  socket.on('echo', (message: unknown, ack: (m: unknown) => void) => ack(message));
  socket.on('broadcast', (message: unknown) => server.to('room').emit('news', message));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const { port } = httpServer.address() as { port: number };
const connect = (): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
const [a, b] = await Promise.all([connect(), connect()]);
const engineWs = (server.engine as unknown as { ws: unknown }).ws;
const result: Record<string, unknown> = {
  serverIsOurs: engineWs instanceof ours.WebSocketServer,
  clientIsOurs: aliased(
    createRequire(createRequire(import.meta.url).resolve('socket.io-client')).resolve('engine.io-client'),
  ),
};
result.echo = await a.emitWithAck('echo', { text: 'héllo', bytes: Buffer.from([1, 2, 3]), big: 'z'.repeat(1_000_000) });
const echo = result.echo as { text: string; bytes: Buffer; big: string };
result.echo = { text: echo.text, bytes: [...echo.bytes], big: echo.big.length };
const news = Promise.all([a, b].map((s) => new Promise((resolve) => s.once('news', resolve))));
b.emit('broadcast', 'to all');
result.news = await news;
const gone = new Promise((resolve) => a.once('disconnect', resolve));
const bGone = new Promise((resolve) => b.once('disconnect', resolve));
server.close();
result.disconnect = [await gone, await bGone];
report(result);
