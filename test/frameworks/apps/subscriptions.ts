/**
 * subscriptions-transport-ws 0.11 (the legacy GraphQL-over-WebSocket protocol, Apollo's before graphql-ws) as its
 * README shows it: `SubscriptionServer.create({ schema, execute, subscribe }, { server, path })` (its server.js does
 * `require('ws')`, its own ws 7 when installed, ws-stream/ws under the alias) and a `SubscriptionClient` given the `ws`
 * package's WebSocket as its `webSocketImpl` (the aliased one too). Run by subscriptions-transport-ws.test.ts. Prints
 * what the client and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { buildSchema, execute, subscribe } from 'graphql';
import { SubscriptionClient, SubscriptionServer } from 'subscriptions-transport-ws';
import WebSocket from 'ws';
import { aliased, closed, ours, report } from './peer.js';

const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { count(to: Int!): Int, ticks: Int }
`);
let ticksStopped!: () => void;
const ticksDone = new Promise<void>((resolve) => (ticksStopped = resolve));
// Resolvers of a schema built from SDL: the root value's fields (a `subscribe` returns an async iterator).
const rootValue = {
  hello: () => 'world',
  count: async function* ({ to }: { to: number }) {
    for (let i = 1; i <= to; i++) yield { count: i };
  },
  // Endless until the client unsubscribes: the server's return() on the iterator runs the finally.
  ticks: async function* () {
    try {
      for (let i = 0; ; i++) {
        yield { ticks: i };
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      ticksStopped();
    }
  },
};

const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const { port } = httpServer.address() as { port: number };
const completed: string[] = [];
const subscriptionServer = SubscriptionServer.create(
  {
    schema,
    rootValue,
    execute,
    subscribe,
    keepAlive: 30,
    // Refuses a connection whose connectionParams carry a bad token: the server sends connection_error, then 1011.
    onConnect: (params: { token?: string }) => {
      if (params.token === 'bad') throw new Error('bad token');
      return true;
    },
    onOperationComplete: (_socket: unknown, opId: string) => completed.push(opId),
  },
  { server: httpServer, path: '/graphql' },
);
const result: Record<string, unknown> = {
  serverIsOurs: (subscriptionServer as unknown as { wsServer: unknown }).wsServer instanceof ours.WebSocketServer,
  serverAliased: aliased(createRequire(import.meta.url).resolve('subscriptions-transport-ws')),
  clientIsOurs: WebSocket === (ours.default as unknown),
};

const client = new SubscriptionClient(`ws://127.0.0.1:${port}/graphql`, { reconnect: false }, WebSocket);
await new Promise<void>((resolve) => client.onConnected(() => resolve()));
const socket = (client as unknown as { client: WebSocket }).client;
result.protocol = socket.protocol;

// Keep-alive: the server sends 'ka' every 30 ms once connected; count two of them on the client's own socket.
result.keepAlive = await new Promise((resolve) => {
  let n = 0;
  const onMessage = (event: WebSocket.MessageEvent) => {
    if (JSON.parse(String(event.data)).type !== 'ka' || ++n < 2) return;
    socket.removeEventListener('message', onMessage);
    resolve(n);
  };
  socket.addEventListener('message', onMessage);
});

type Observed = { data: unknown[]; errors: unknown[]; complete: boolean };
/** Runs one operation to its end and returns what its observer saw. */
function run(query: string, variables?: Record<string, unknown>): Promise<Observed> {
  const seen: Observed = { data: [], errors: [], complete: false };
  return new Promise((resolve) => {
    client.request({ query, variables }).subscribe({
      next: (r) => seen.data.push(r.errors ? { errors: r.errors.map((e) => e.message) } : r.data),
      error: (e: unknown) => {
        seen.errors.push(Array.isArray(e) ? e.map((x: Error) => x.message) : String((e as Error).message ?? e));
        resolve(seen);
      },
      complete: () => {
        seen.complete = true;
        resolve(seen);
      },
    });
  });
}

result.query = await run('{ hello }');
result.count = await run('subscription Count($to: Int!) { count(to: $to) }', { to: 5 });
result.badQuery = await run('subscription { nope }');

// Unsubscribe after three results of an endless subscription: the server stops its iterator and completes the op.
const before = completed.length;
result.ticks = await new Promise((resolve) => {
  const got: unknown[] = [];
  const sub = client.request({ query: 'subscription { ticks }' }).subscribe({
    next: (r) => {
      got.push(r.data);
      if (got.length === 3) {
        sub.unsubscribe();
        resolve(got);
      }
    },
  });
});
await ticksDone;
result.completedOnServer = completed.length - before >= 1;

// A client without the graphql-ws subprotocol: the server accepts the upgrade, then closes with 1002.
const bare = new WebSocket(`ws://127.0.0.1:${port}/graphql`);
result.noProtocol = await closed(bare);

// onConnect refuses the connectionParams: the client's connectionCallback gets the error, its socket 1011.
result.refused = await new Promise((resolve) => {
  let error: unknown;
  const refused = new SubscriptionClient(
    `ws://127.0.0.1:${port}/graphql`,
    { connectionParams: { token: 'bad' }, connectionCallback: (e) => (error = (e as unknown as Error)?.message) },
    WebSocket,
  );
  const ws = (refused as unknown as { client: WebSocket }).client;
  ws.addEventListener('close', (e) => resolve({ error, code: e.code }));
});

// With reconnect, a client whose connection the server drops (terminate) reconnects by itself and re-sends its
// active subscription, which goes on streaming. (Its connect timeout, minTimeout, keeps the default 1 s: the client
// nulls onerror right after close() on a WebSocket still connecting, which throws ws's 'error' on either engine.)
const wss = (subscriptionServer as unknown as { wsServer: { clients: Set<WebSocket> } }).wsServer;
const earlier = new Set(wss.clients);
const again = new SubscriptionClient(`ws://127.0.0.1:${port}/graphql`, { reconnect: true }, WebSocket);
let reconnected = 0;
again.onReconnected(() => reconnected++);
result.resumed = await new Promise((resolve) => {
  let n = 0;
  let dropped = false;
  const sub = again.request({ query: 'subscription { ticks }' }).subscribe({
    next: () => {
      n++;
      if (n === 3) {
        dropped = true;
        for (const ws of wss.clients) if (!earlier.has(ws)) ws.terminate();
      } else if (dropped && reconnected > 0 && n >= 6) {
        sub.unsubscribe();
        resolve({ reconnected });
      }
    },
  });
});
again.close();

// The client closes: its socket closes with 1000 and the server sees the connection go.
const clientClosed = closed(socket as never);
client.close();
result.clientClose = (await clientClosed).code;
subscriptionServer.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);
