/**
 * webpack-dev-server 5 (its HMR socket is ws's WebSocketServer in noServer mode, fed by its own 'upgrade' listener
 * through shouldHandle and handleUpgrade, with clientTracking off and a ping/terminate heartbeat), run by
 * webpack-dev-server.test.ts with `ws` as installed or aliased to ws-stream/ws, on a real webpack compiler over a
 * one-file project in a temporary folder. Clients of the real ws speak to /ws as webpack-dev-server's browser client
 * does (with the page's Origin). Prints what they saw: the greeting and stats of a connection, a rejected Origin, the
 * invalid/hash/ok (or errors) of rebuilds after the source is written, the bundle served over HTTP, stop() ending
 * every client; then on a second dev server over HTTPS, the rejected Origin's message before its close, and the
 * heartbeat ending a client that does not answer pings while one that does stays.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import type http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { aliased, type Client, client, ours, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of webpack and webpack-dev-server. */
interface Compiler {
  hooks: { done: { tap(name: string, f: (stats: { hash?: string }) => void): void } };
}
interface DevServer {
  server: http.Server;
  webSocketServer: { implementation: object; clients: unknown[] } | null;
  middleware: { waitUntilValid(callback: () => void): void };
  start(): Promise<void>;
  stop(): Promise<void>;
}
const webpack = require('webpack') as (config: object) => Compiler;
const WebpackDevServer = require('webpack-dev-server') as new (options: object, compiler: Compiler) => DevServer;
const WebsocketServer = require('webpack-dev-server/lib/servers/WebsocketServer') as { heartbeatInterval: number };
const cert = readFileSync(new URL('../../../../test/fixtures/cert.pem', import.meta.url));
const key = readFileSync(new URL('../../../../test/fixtures/key.pem', import.meta.url));
const result: Record<string, unknown> = { aliased: aliased(require.resolve('webpack-dev-server')) };

interface Message {
  type: string;
  data?: unknown;
}
const parse = (m: string): Message => JSON.parse(m) as Message;

/** A dev server over a fresh one-file project, on HTTP or HTTPS; resolves once the first build is done. */
async function devServer(source: string, https = false) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wds-'));
  const entry = path.join(dir, 'index.js');
  await fs.writeFile(entry, source);
  const compiler = webpack({
    mode: 'development',
    context: dir,
    entry: './index.js',
    output: { path: path.join(dir, 'dist'), filename: 'main.js' },
    infrastructureLogging: { level: 'none' },
    stats: 'none',
  });
  /** Every build's hash, in order. */
  const builds: string[] = [];
  compiler.hooks.done.tap('app', (stats) => builds.push(stats.hash ?? ''));
  const server = new WebpackDevServer(
    {
      host: '127.0.0.1',
      port: 0,
      hot: true,
      static: false,
      setupExitSignals: false,
      open: false,
      server: https ? { type: 'https', options: { key, cert } } : 'http',
    },
    compiler,
  );
  await server.start();
  await new Promise<void>((resolve) => server.middleware.waitUntilValid(resolve));
  const { port } = server.server.address() as net.AddressInfo;
  return { dir, entry, server, port, builds };
}

// Pings only when the heartbeat part below asks for them: a build that holds the event loop for longer than an
// interval would otherwise let the timer run before a pong that has arrived is read.
WebsocketServer.heartbeatInterval = 3_600_000;
const a = await devServer('console.log("one");\n');
result.serverIsOurs = a.server.webSocketServer?.implementation instanceof ours.WebSocketServer;
const origin = `http://127.0.0.1:${a.port}`;
const url = `ws://127.0.0.1:${a.port}/ws`;

/** The messages of `c` from `from` on, up to and including the first of type ok or errors. */
async function untilBuilt(c: Client, from: number): Promise<Message[]> {
  for (let n = from + 1; ; n++) {
    const all = (await c.got.until(n)).map(parse);
    if (all[n - 1].type === 'ok' || all[n - 1].type === 'errors') return all.slice(from, n);
  }
}
/** A build's messages as the test compares them: types, the hash checked against the compiler's. */
function summary(messages: Message[], hash: string) {
  return messages.map((m) => {
    if (m.type === 'hash') return `hash ${m.data === hash ? 'of the build' : String(m.data)}`;
    if (m.type === 'errors') {
      const errors = m.data as { message: string }[];
      return `errors ${errors.length} ${errors[0]?.message.includes('Module parse failed')}`;
    }
    return m.data === undefined ? m.type : `${m.type} ${JSON.stringify(m.data)}`;
  });
}

// A page's connection: its greeting and the current stats.
const page = client(url, { origin });
await page.opened;
result.greeting = summary(await untilBuilt(page, 0), a.builds[0]);

// Another site's page: told why, then closed without a code.
const foreign = client(url, { origin: 'http://evil.example' });
await foreign.opened;
result.foreign = [(await foreign.got.until(1)).map(parse), await foreign.closed];

// A second page, then edits: every page is told of each rebuild.
const page2 = client(url, { origin });
await page2.opened;
await untilBuilt(page2, 0);
const rebuilds: Record<string, unknown>[] = [];
for (const source of ['console.log("two");\n', 'console.log("three" ;\n', 'console.log("four");\n']) {
  const from = [page.got.messages.length, page2.got.messages.length];
  const builds = a.builds.length;
  await fs.writeFile(a.entry, source);
  const [m1, m2] = await Promise.all([untilBuilt(page, from[0]), untilBuilt(page2, from[1])]);
  const hash = a.builds[a.builds.length - 1];
  // A build the watcher ran for a write it saw late (the first one's own) ends in still-ok: left out.
  const drop = (ms: Message[]) => ms.filter((m) => m.type !== 'still-ok');
  const bundle = await (await fetch(`http://127.0.0.1:${a.port}/main.js`)).text();
  rebuilds.push({
    newBuild: a.builds.length > builds,
    page: summary(drop(m1).slice(-3), hash),
    samePage2: JSON.stringify(drop(m2).slice(-3)) === JSON.stringify(drop(m1).slice(-3)),
    bundleHas: ['one', 'two', 'four'].filter((w) => bundle.includes(`console.log(\\"${w}\\")`)),
  });
}
result.rebuilds = rebuilds;

// stop(): every client is terminated, then the HTTP server closes.
await a.server.stop();
result.stopped = [await page.closed, await page2.closed, a.server.webSocketServer];
await fs.rm(a.dir, { recursive: true });

// Over HTTPS: the greeting; a foreign page's error message is sent before the close (webpack-dev-server closes
// rather than terminates there, as the TLS write is asynchronous).
WebsocketServer.heartbeatInterval = 1000;
const b = await devServer('console.log("b");\n', true);
const burl = `wss://127.0.0.1:${b.port}/ws`;
const borigin = `https://127.0.0.1:${b.port}`;
const foreignTls = client(burl, { origin: 'https://evil.example', ca: cert });
await foreignTls.opened;
result.foreignTls = [(await foreignTls.got.until(1)).map(parse), await foreignTls.closed];

// The heartbeat at its default interval: a client that does not answer pings is terminated, one that does stays.
const silent = client(burl, { origin: borigin, autoPong: false, ca: cert });
const alive = client(burl, { origin: borigin, ca: cert });
let silentPings = 0;
silent.ws.on('ping', () => silentPings++);
let alivePings = 0;
let pinged: { count: number; resolve: () => void } | undefined;
alive.ws.on('ping', () => {
  alivePings++;
  if (pinged && alivePings >= pinged.count) pinged.resolve();
});
await Promise.all([silent.opened, alive.opened]);
result.greetingTls = summary(await untilBuilt(alive, 0), b.builds[0]);
const silentClosed = await silent.closed;
// Two more pings for the live one: the second comes a heartbeat after the one that ended the silent client, whose
// close the server has seen by then; only the live one is left in its list.
const count = alivePings + 2;
await new Promise<void>((resolve) => {
  pinged = { count, resolve };
});
const clientsAfter = b.server.webSocketServer?.clients.length;
result.heartbeat = {
  silent: silentClosed,
  silentPings,
  clientsAfter,
  aliveOpen: alive.ws.readyState === alive.ws.OPEN,
};
await b.server.stop();
result.aliveStopped = await alive.closed;
await fs.rm(b.dir, { recursive: true });
report(result);
