/**
 * Run by throwing-callback.test.ts in its own process (its uncaught exceptions are the point): send callbacks that
 * throw. Arguments: ws | compat, then `sends` (three sends to an echoing server, the first callback throws; then a
 * close) or `terminate` (three large sends to a server that does not read, every callback throws, then
 * `terminate()`). Prints one JSON object: the callbacks in the order they came (number and result), the messages of
 * the uncaught exceptions, the echoes, and the client's 'close' (code and readyState).
 */
import { once } from 'node:events';
import { compat, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

const impl = process.argv[2] === 'ws' ? ws : compat;
const scenario = process.argv[3] === 'terminate' ? 'terminate' : 'sends';
const record = { callbacks: [] as string[], uncaught: [] as string[], echoes: [] as string[], close: '' };
process.on('uncaughtException', (err) => record.uncaught.push(err.message));
process.on('unhandledRejection', (err) => record.uncaught.push(`unhandled rejection: ${(err as Error).message}`));

const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0 });
await once(wss, 'listening');
wss.on('connection', (sws: Any) => {
  if (scenario === 'terminate')
    sws._socket.pause(); // its sends pile up in the client's socket
  else sws.on('message', (data: Buffer) => sws.send(data));
});
const client = new impl.WebSocket(`ws://127.0.0.1:${wss.address().port}`);
await once(client, 'open');
const closed = new Promise<void>((resolve) =>
  client.on('close', (code: number) => {
    record.close = `${code} readyState ${client.readyState}`;
    resolve();
  }),
);
const echoed = new Promise<void>((resolve) =>
  client.on('message', (data: Buffer) => {
    if (record.echoes.push(String(data)) === 3) resolve();
  }),
);
const data = (i: number): string | Buffer => (scenario === 'terminate' ? Buffer.alloc(8 * 1024 * 1024, i) : String(i));
for (const i of [1, 2, 3]) {
  client.send(data(i), (err: (Error & { code?: string }) | null) => {
    record.callbacks.push(`${i} ${err === null ? 'null' : (err.code ?? err.message)}`);
    if (scenario === 'terminate' || i === 1) throw new Error(`thrown by callback ${i}`);
  });
}
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
if (scenario === 'terminate') {
  const socketClosed = once(client._socket, 'close');
  client.terminate();
  // Not 'close' itself: without it (as before the fix) the record says so rather than the process waiting for ever.
  await socketClosed;
  await turn();
} else {
  await echoed;
  client.close(1000);
  await closed;
}
// The exceptions rethrown after 'close' (a tick later) are counted too.
await turn();
console.log(JSON.stringify(record));
for (const c of wss.clients) c.terminate();
wss.close();
