/**
 * Socket.IO echo with acknowledgement over the websocket transport (no long-polling): every `echo` event is
 * acknowledged with its own arguments. `--engine ws-stream` runs it on ws-stream/ws's WebSocketServer, the default
 * is Socket.IO's own (the `ws` package). Usage: node dist/bench/servers/socketio-echo.js [port] [--engine ws-stream|ws]
 */
import http from 'node:http';
import type net from 'node:net';
import { Server } from 'socket.io';

const args = process.argv.slice(2);
const at = args.indexOf('--engine');
const engine = at >= 0 ? args.splice(at, 2)[1] : 'ws';
if (engine !== 'ws' && engine !== 'ws-stream') throw new Error(`--engine ws-stream or --engine ws, not ${engine}`);
const port = Number(args[0] ?? 0);

const { WebSocketServer } = engine === 'ws-stream' ? await import('../../src/compat/index.js') : await import('ws');
const httpServer = http.createServer();
const io = new Server(httpServer, {
  wsEngine: WebSocketServer,
  transports: ['websocket'],
  maxHttpBufferSize: 16 * 1024 * 1024,
});
io.on('connection', (socket) => {
  socket.on('echo', (...a: unknown[]) => {
    const ack = a.pop() as (...r: unknown[]) => void;
    ack(...a);
  });
});
httpServer.listen(port, '127.0.0.1', () => console.log(`listening ${(httpServer.address() as net.AddressInfo).port}`));
