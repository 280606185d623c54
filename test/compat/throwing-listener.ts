/**
 * Run by errors.test.ts in its own process: a 'message' listener that throws. ws lets the error
 * propagate (to 'uncaughtException'); ws-stream/ws must do the same. Argument: ws | compat.
 */
import { once } from 'node:events';
import { compat, ws } from './support.js';

const impl = process.argv[2] === 'ws' ? ws : compat;
const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0 });
await once(wss, 'listening');
const caught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve));
wss.on('connection', (sws: import('node:events').EventEmitter) => {
  sws.on('message', () => {
    throw new Error('boom from the listener');
  });
});
const client = new impl.WebSocket(`ws://127.0.0.1:${wss.address().port}`);
await once(client, 'open');
client.send('first');
const err = await caught;
console.log(`uncaught: ${err.message}`);
client.terminate();
for (const c of wss.clients) c.terminate();
wss.close();
