/**
 * livereload 0.10 (its server is ws's WebSocketServer on its own HTTP server), run by livereload.test.ts with `ws` as
 * installed or aliased to ws-stream/ws, as its README shows: `createServer({ port })`, `watch(dir)`. A client of the
 * real ws speaks the LiveReload protocol (hello both ways, info) and waits for `reload` after a file is written, a
 * second one for `alert`; then the clients leave and the server closes. Prints what the clients saw.
 */
import fs from 'node:fs/promises';
import type http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { aliased, client, ours, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of livereload (it ships no types). */
interface LiveReload {
  config: { server: http.Server };
  server: { clients: Set<unknown> };
  watch(dir: string): { once(event: 'ready', f: () => void): void };
  alert(message: string): void;
  close(): void;
}
const livereload = require('livereload') as {
  createServer(config: { port: number; host: string }, callback: () => void): LiveReload;
};
const result: Record<string, unknown> = { aliased: aliased(require.resolve('livereload')) };

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'livereload-'));
let listened: () => void = () => {};
const listening = new Promise<void>((resolve) => {
  listened = resolve;
});
const lr = livereload.createServer({ port: 0, host: '127.0.0.1' }, () => listened());
await listening;
const httpServer = lr.config.server as http.Server;
result.serverIsOurs = lr.server instanceof ours.WebSocketServer;
const { port } = httpServer.address() as net.AddressInfo;
const watcher = lr.watch(dir);
await new Promise<void>((resolve) => watcher.once('ready', resolve));

// The script it serves to pages, on the same port.
const script = await fetch(`http://127.0.0.1:${port}/livereload.js`);
result.script = [script.status, script.headers.get('content-type'), (await script.text()).length > 1000];

const url = `ws://127.0.0.1:${port}/livereload`;
const a = client(url);
const b = client(url);
await Promise.all([a.opened, b.opened]);
for (const c of [a, b]) {
  c.ws.send(JSON.stringify({ command: 'hello', protocols: ['http://livereload.com/protocols/official-7'] }));
  c.ws.send(JSON.stringify({ command: 'info', plugins: {}, url: 'http://localhost/' }));
}
await Promise.all([a.got.until(1), b.got.until(1)]);
result.hello = JSON.parse(a.got.messages[0]);

// A watched extension: both clients get `reload` with the path; a .txt file changes nothing.
await fs.writeFile(path.join(dir, 'notes.txt'), 'ignored');
await fs.writeFile(path.join(dir, 'index.html'), '<p>hi</p>');
await Promise.all([a.got.until(2), b.got.until(2)]);
result.reload = [JSON.parse(a.got.messages[1]), JSON.parse(b.got.messages[1])].map((m) => ({
  ...m,
  path: path.relative(dir, m.path),
}));
lr.alert('built');
await Promise.all([a.got.until(3), b.got.until(3)]);
result.alert = [a.got.messages[2], b.got.messages[2]].map((m) => JSON.parse(m));

// Clients leave, then the server closes: its HTTP server closes with nothing left open.
a.ws.close(1000, 'page left');
b.ws.close(1001);
result.clientsClosed = [await a.closed, await b.closed];
const httpClosed = new Promise((resolve) => httpServer.once('close', resolve));
lr.close();
await httpClosed;
result.clientsLeft = lr.server.clients.size;
await fs.rm(dir, { recursive: true });
report(result);
