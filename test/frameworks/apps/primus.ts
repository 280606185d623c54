/**
 * A Primus 8 server with `transformer: 'websockets'` (its server and its Node client both require ws themselves), run
 * by primus.test.ts with `ws` as installed or aliased to ws-stream/ws. Its clients are Primus's own Node client, built
 * both ways its users build it (`primus.Socket` and `Primus.createSocket`). Prints what the clients and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { aliased, ours, report } from './peer.js';

const require = createRequire(import.meta.url);

interface Emitter {
  on(event: string, f: (...args: never[]) => void): unknown;
  once(event: string, f: (...args: never[]) => void): unknown;
}
interface Spark extends Emitter {
  id: string;
  query: Record<string, string>;
  socket: { terminate(): void };
  write(data: unknown): boolean;
  end(data?: unknown, options?: { reconnect?: boolean }): void;
}
interface Client extends Emitter {
  socket: unknown;
  write(data: unknown): boolean;
  end(): void;
}
type Socket = new (url: string, options?: object) => Client;
interface PrimusServer extends Emitter {
  Socket: Socket;
  transformer: { service: unknown };
  destroy(options: { close?: boolean }, fn: () => void): void;
}
const Primus = require('primus') as {
  new (server: http.Server, options: object): PrimusServer;
  createSocket(options: object): Socket;
};

const server = http.createServer();
// Heartbeats every 1 s so that a few come within the run (each is waited for, none is timed); a spark whose pong
// has not come by the next ping is ended, hence not shorter on a loaded machine.
const primus = new Primus(server, { transformer: 'websockets', pingInterval: 1000 });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };
const url = `http://127.0.0.1:${port}`;

/** Each connection by its client's name (a query parameter), in order, and the server-side events of each. */
const sparks = new Map<string, Spark>();
const serverLog: string[] = [];
const heartbeats = new Map<string, number>();
/** Resolves with the next connection of the named client. */
const connections = new Map<string, (spark: Spark) => void>();
const connection = (name: string) => new Promise<Spark>((resolve) => connections.set(name, resolve));
primus.on('connection', (spark: Spark) => {
  const name = spark.query.name as string;
  sparks.set(name, spark);
  serverLog.push(`connection ${name}`);
  spark.on('heartbeat', () => heartbeats.set(name, (heartbeats.get(name) ?? 0) + 1));
  spark.on('data', (data: unknown) => {
    spark.write({ echo: data });
  });
  spark.write(`hello ${name}`);
  connections.get(name)?.(spark);
});
primus.on('disconnection', (spark: Spark) => serverLog.push(`disconnection ${spark.query.name}`));

/** A Primus client with what it received and the events it went through recorded from the start. */
function open(Socket: Socket, name: string) {
  const client = new Socket(`${url}?name=${name}`, {
    reconnect: { min: 10, max: 50, retries: 10 },
    strategy: ['disconnect'],
  });
  const data: unknown[] = [];
  const events: string[] = [];
  let pongs = 0;
  const waiting: { test: () => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (const w of waiting.splice(0))
      if (w.test()) w.resolve();
      else waiting.push(w);
  };
  const until = (test: () => boolean) =>
    new Promise<void>((resolve) => {
      if (test()) resolve();
      else waiting.push({ test, resolve });
    });
  client.on('data', (d: unknown) => {
    data.push(d);
    check();
  });
  for (const event of ['open', 'reconnect', 'reconnected', 'close', 'end'])
    client.on(event, () => {
      events.push(event);
      check();
    });
  // Primus's own heartbeat: the server's `primus::ping::<time>`, the client's `primus::pong::<time>` in return.
  client.on('outgoing::pong', () => {
    pongs++;
    check();
  });
  const count = (event: string) => events.filter((e) => e === event).length;
  return { client, data, events, until, count, pongs: () => pongs };
}

const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('primus')),
  serverIsOurs: primus.transformer.service instanceof ours.WebSocketServer,
};
const builds = {
  'primus.Socket': primus.Socket,
  'Primus.createSocket': Primus.createSocket({ transformer: 'websockets' }),
};
const clients = new Map<string, ReturnType<typeof open>>();
for (const [name, Socket] of Object.entries(builds)) {
  const clientName = name.replace('.', '-');
  const c = open(Socket, clientName);
  clients.set(name, c);
  const seen: Record<string, unknown> = {};
  await c.until(() => c.data.length === 1);
  seen.clientIsOurs = c.client.socket instanceof ours.WebSocket;
  // Both ways, in order: 30 small messages, a 1 MiB string and an object.
  for (let i = 0; i < 30; i++) c.client.write(i);
  c.client.write('x'.repeat(1024 * 1024));
  c.client.write({ nested: { text: 'héllo', list: [1, null, true] } });
  await c.until(() => c.data.length === 33);
  seen.greeting = c.data[0];
  seen.inOrder = c.data.slice(1, 31).every((d, i) => (d as { echo: number }).echo === i);
  seen.large = ((c.data[31] as { echo: string }).echo ?? '').length;
  seen.object = c.data[32];
  // Heartbeats: a few pings answered, and the server saw the pongs.
  await c.until(() => c.pongs() >= 3);
  while ((heartbeats.get(clientName) ?? 0) < 3)
    await new Promise((resolve) => sparks.get(clientName)?.once('heartbeat', resolve));
  seen.heartbeats = true;
  // The server drops the connection (its WebSocket terminated): the client reconnects by itself and is served again.
  const again = connection(clientName);
  sparks.get(clientName)?.socket.terminate();
  await again;
  await c.until(() => c.count('reconnected') === 1 && c.data.length === 34);
  c.client.write('after');
  await c.until(() => c.data.length === 35);
  // The server ends the spark telling the client to reconnect (its WebSocket closed with a handshake this time).
  const third = connection(clientName);
  sparks.get(clientName)?.end(undefined, { reconnect: true });
  await third;
  await c.until(() => c.count('reconnected') === 2 && c.data.length === 36);
  c.client.write('again');
  await c.until(() => c.data.length === 37);
  seen.afterReconnect = c.data.slice(33);
  result[name] = seen;
}

// A client that ends itself: the server sees the spark go, the client does not reconnect.
{
  const c = open(primus.Socket, 'leaver');
  await c.until(() => c.data.length === 1);
  const gone = new Promise<void>((resolve) => sparks.get('leaver')?.once('end', () => resolve()));
  c.client.end();
  await gone;
  await c.until(() => c.count('end') === 1);
  result.leaver = c.events;
}

// primus.destroy(): every spark ended (the client told not to reconnect), the HTTP server and ws's server closed.
await Promise.all([
  new Promise<void>((resolve) => primus.destroy({ close: true }, resolve)),
  ...[...clients.values()].map((c) => c.until(() => c.count('end') === 1)),
]);
result.clientEvents = Object.fromEntries([...clients].map(([name, c]) => [name, c.events]));
result.serverLog = serverLog;
result.listening = server.listening;

// `compression` and `maxLength` become ws's perMessageDeflate and maxPayload: the extension is agreed, a message over
// the limit is refused with 1009 (the spark's error says why) and the client does not reconnect.
const limited = http.createServer();
const small = new Primus(limited, {
  transformer: 'websockets',
  compression: true,
  maxLength: 1000,
  pingInterval: false,
});
await new Promise<void>((resolve) => limited.listen(0, '127.0.0.1', resolve));
const limitedLog: string[] = [];
small.on('connection', (spark: Spark) => {
  spark.on('data', (d: unknown) => {
    limitedLog.push(`server got ${String(d).length}`);
    spark.write('x'.repeat(5000));
  });
  spark.on('error', (err: Error) => limitedLog.push(`server error ${err.message}`));
  spark.on('end', () => limitedLog.push('server end'));
});
const limitedClient = new small.Socket(`http://127.0.0.1:${(limited.address() as { port: number }).port}`, {
  strategy: false,
});
limitedClient.on('open', () => {
  const ws = limitedClient.socket as { extensions: string; on(e: 'close', f: (code: number) => void): void };
  limitedLog.push(`client open ${ws.extensions}`);
  ws.on('close', (code) => limitedLog.push(`client WebSocket closed ${code}`));
  limitedClient.write('small');
});
limitedClient.on('data', (d: string) => {
  limitedLog.push(`client got ${d.length}`);
  limitedClient.write('y'.repeat(5000));
});
await new Promise((resolve) => limitedClient.on('end', resolve));
await new Promise<void>((resolve) => small.destroy({ close: true }, resolve));
// Which of the two ends sees its close first is up to the sockets.
const isEnd = (entry: string) => entry === 'server end' || entry.startsWith('client WebSocket closed');
result.limited = [...limitedLog.filter((e) => !isEnd(e)), ...limitedLog.filter(isEnd).sort()];
report(result);
