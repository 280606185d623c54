/**
 * Run by errors.test.ts in its own process: a 'message' or 'close' listener that throws. ws lets
 * the error propagate (to 'uncaughtException'); ws-stream/ws must do the same, and never turn it
 * into an unhandled rejection. Arguments: ws | compat, message | close.
 */
import { once } from 'node:events';
import { compat, ws } from './support.js';

const impl = process.argv[2] === 'ws' ? ws : compat;
const event = process.argv[3] === 'close' ? 'close' : 'message';
process.on('unhandledRejection', (err) => console.log(`unhandled rejection: ${(err as Error).message}`));
const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0 });
await once(wss, 'listening');
const caught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve));
wss.on('connection', (sws: import('node:events').EventEmitter) => {
  sws.on(event, () => {
    throw new Error(`boom from the ${event} listener`);
  });
});
const client = new impl.WebSocket(`ws://127.0.0.1:${wss.address().port}`);
await once(client, 'open');
if (event === 'message') client.send('first');
else client.close();
const err = await caught;
console.log(`uncaught: ${err.message}`);
client.terminate();
for (const c of wss.clients) c.terminate();
wss.close();
