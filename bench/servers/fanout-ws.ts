/**
 * Fan-out with `ws` (with bufferutil when installed), the way its users write it: every message a
 * client sends goes to every connected client, `for (const c of wss.clients) c.send(msg)`.
 */
import { WebSocketServer, WebSocket } from 'ws';

const port = Number(process.argv[2] ?? 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, backlog: 2048 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening ${(wss.address() as { port: number }).port}`));
