/**
 * The `ws` echo program on ws-stream's engine: the same code as ws-echo.ts, importing
 * `ws-stream/ws` (src/compat) instead of `ws`. CLI as ws-echo.ts: PORT [deflate].
 */
import { WebSocketServer } from '../../src/compat/index.js';

const port = Number(process.argv[2] ?? 0);
// `deflate` as the second argument turns on permessage-deflate (threshold 1 KiB, as ws's).
const deflate = process.argv[3] === 'deflate';
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: deflate, maxPayload: 16 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening ${(wss.address() as { port: number }).port}`));
