/**
 * The `ws` fan-out program on ws-stream's engine: the same code as fanout-ws.ts, importing `ws-stream/ws`
 * (src/compat) instead of `ws`. Every message a client sends goes to every connected client,
 * `for (const c of wss.clients) c.send(msg)`. CLI as fanout-ws.ts: PORT.
 */
import { WebSocket, WebSocketServer } from '../../src/compat/index.js';

const port = Number(process.argv[2] ?? 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, backlog: 2048 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening ${(wss.address() as { port: number }).port}`));
