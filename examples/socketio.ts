/**
 * Socket.IO on ws-stream: the only change from a stock Socket.IO server is `wsEngine`, the WebSocketServer of
 * `ws-stream/ws` in place of the `ws` package's. Clients connect with socket.io-client and
 * `transports: ['websocket']` (the HTTP long-polling transport does not use the WebSocket engine).
 * Run: node dist/examples/socketio.js (PORT=0 picks a free port).
 */
import http from 'node:http';
import { Server } from 'socket.io';
import { WebSocketServer } from 'ws-stream/ws';

const httpServer = http.createServer((_req, res) => res.end('a Socket.IO endpoint lives at /socket.io/\n'));
const io = new Server(httpServer, { wsEngine: WebSocketServer, transports: ['websocket'] });

io.on('connection', (socket) => {
  // Echo with an acknowledgement: the ack callback is the last argument.
  socket.on('echo', (message: unknown, ack: (reply: unknown) => void) => ack(message));
  // A tiny chat: join a room, then everyone else in it gets what is said there.
  socket.on('join', (room: string, ack: () => void) => {
    void socket.join(room);
    ack();
  });
  socket.on('say', (room: string, text: string) => socket.to(room).emit('said', socket.id, text));
});

httpServer.listen(Number(process.env.PORT ?? 8083), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(httpServer.address() as { port: number }).port}`);
});
