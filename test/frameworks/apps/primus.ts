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
  alive: boolean;
  heartbeat(): void;
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
// Heartbeats every 1 s so that a few come within the run (each is waited for, none is timed). Primus's two zombie
// checks are off (see 'connection' and open()): on a loaded machine a stall of half a second can set either off
// between two steps, the client then reconnects out of turn, and a step would wait for counts it has passed.
const primus = new Primus(server, { transformer: 'websockets', pingInterval: 1000 });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };
const url = `http://127.0.0.1:${port}`;

/** Each connection by its client's name (a query parameter), in order, and the server-side events of each. */
const sparks = new Map<string, Spark>();
const serverLog: string[] = [];
const heartbeats = new Map<string, number>();

/**
 * The steps' waits, each for a condition on what the clients and the server saw, looked at again on each event. A
 * client's 'close' that no step asked for fails every wait at once, naming the step that waited (a spurious
 * reconnect would leave it waiting forever).
 */
const waiting: { step: string; test: () => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
const check = () => {
  for (const w of waiting.splice(0))
    if (w.test()) w.resolve();
    else waiting.push(w);
};
/** What went wrong unasked, if anything: the steps after it fail with it too. */
let failure: string | undefined;
const until = (step: string, test: () => boolean) =>
  new Promise<void>((resolve, reject) => {
    if (failure !== undefined) reject(new Error(`${failure}, before waiting for ${step}`));
    else if (test()) resolve();
    else waiting.push({ step, test, resolve, reject });
  });
const unexpected = (what: string) => {
  failure ??= what;
  for (const w of waiting.splice(0)) w.reject(new Error(`${what} while waiting for ${w.step}`));
};
primus.on('connection', (spark: Spark) => {
  const name = spark.query.name as string;
  sparks.set(name, spark);
  serverLog.push(`connection ${name}`);
  // Primus ends a spark whose pong has not come by its next ping: here it counts as alive at each ping, which Primus
  // still sends (a late pong is no fault of the socket's; that pings are answered is what is checked).
  const beat = spark.heartbeat;
  spark.heartbeat = () => {
    spark.alive = true;
    beat.call(spark);
  };
  spark.on('heartbeat', () => {
    heartbeats.set(name, (heartbeats.get(name) ?? 0) + 1);
    check();
  });
  spark.on('data', (data: unknown) => {
    spark.write({ echo: data });
  });
  spark.write(`hello ${name}`);
});
primus.on('disconnection', (spark: Spark) => {
  serverLog.push(`disconnection ${spark.query.name}`);
  check();
});

/**
 * A Primus client with what it received and the events it went through recorded from the start. Its own zombie
 * check (`pingTimeout`, 1.5 pings' interval from the server's build) is off: see the server's.
 */
function open(Socket: Socket, name: string) {
  const client = new Socket(`${url}?name=${name}`, {
    reconnect: { min: 10, max: 50, retries: 10 },
    strategy: ['disconnect'],
    pingTimeout: false,
  });
  const data: unknown[] = [];
  const events: string[] = [];
  let pongs = 0;
  /** How many 'close' events the steps have asked for and not yet seen. */
  let closing = 0;
  client.on('data', (d: unknown) => {
    data.push(d);
    check();
  });
  for (const event of ['open', 'reconnect', 'reconnected', 'close', 'end'])
    client.on(event, () => {
      events.push(event);
      if (event === 'close' && closing-- === 0)
        unexpected(`${name} closed unexpectedly (events: ${events.join(', ')})`);
      check();
    });
  // Primus's own heartbeat: the server's `primus::ping::<time>`, the client's `primus::pong::<time>` in return.
  client.on('outgoing::pong', () => {
    pongs++;
    check();
  });
  const count = (event: string) => events.filter((e) => e === event).length;
  /** Tells that the step's next action closes the client's connection. */
  const willClose = () => {
    closing++;
  };
  return { client, data, events, count, willClose, pongs: () => pongs };
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
  await until(`${clientName}'s greeting`, () => c.data.length === 1);
  seen.clientIsOurs = c.client.socket instanceof ours.WebSocket;
  // Both ways, in order: 30 small messages, a 1 MiB string and an object.
  for (let i = 0; i < 30; i++) c.client.write(i);
  c.client.write('x'.repeat(1024 * 1024));
  c.client.write({ nested: { text: 'héllo', list: [1, null, true] } });
  await until(`${clientName}'s 32 echoes`, () => c.data.length === 33);
  seen.greeting = c.data[0];
  seen.inOrder = c.data.slice(1, 31).every((d, i) => (d as { echo: number }).echo === i);
  seen.large = ((c.data[31] as { echo: string }).echo ?? '').length;
  seen.object = c.data[32];
  // Heartbeats: a few pings answered, and the server saw the pongs.
  await until(`${clientName}'s 3 pongs`, () => c.pongs() >= 3 && (heartbeats.get(clientName) ?? 0) >= 3);
  seen.heartbeats = true;
  // The server drops the connection (its WebSocket terminated): the client reconnects by itself and is served again.
  c.willClose();
  sparks.get(clientName)?.socket.terminate();
  await until(
    `${clientName}'s reconnection after terminate()`,
    () => c.count('reconnected') === 1 && c.data.length === 34,
  );
  c.client.write('after');
  await until(`${clientName}'s echo after the reconnection`, () => c.data.length === 35);
  // The server ends the spark telling the client to reconnect (its WebSocket closed with a handshake this time).
  c.willClose();
  sparks.get(clientName)?.end(undefined, { reconnect: true });
  await until(`${clientName}'s reconnection after end()`, () => c.count('reconnected') === 2 && c.data.length === 36);
  c.client.write('again');
  await until(`${clientName}'s echo after the second reconnection`, () => c.data.length === 37);
  seen.afterReconnect = c.data.slice(33);
  result[name] = seen;
}

// A client that ends itself: the server sees the spark go, the client does not reconnect.
{
  const c = open(primus.Socket, 'leaver');
  await until("the leaver's greeting", () => c.data.length === 1);
  c.willClose();
  c.client.end();
  await until(
    "the leaver's end on both sides",
    () => serverLog.includes('disconnection leaver') && c.count('end') === 1,
  );
  result.leaver = c.events;
}

// primus.destroy(): every spark ended (the client told not to reconnect), the HTTP server and ws's server closed.
for (const c of clients.values()) c.willClose();
await Promise.all([
  new Promise<void>((resolve) => primus.destroy({ close: true }, resolve)),
  until("every client's end after destroy()", () => [...clients.values()].every((c) => c.count('end') === 1)),
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
