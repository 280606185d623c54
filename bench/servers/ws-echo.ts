/** The comparison server: `ws` (with bufferutil when installed), echoing each message with its type. */
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
// `deflate` as the second argument turns on ws's permessage-deflate (its defaults: threshold 1 KiB).
const deflate = process.argv[3] === 'deflate';
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: deflate, maxPayload: 16 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening ${(wss.address() as { port: number }).port}`));
