/**
 * The ASP.NET Core SignalR client (@microsoft/signalr 11, whose Node build requires `ws` for its WebSockets
 * transport: its own ws 7 here), run by signalr.test.ts with `ws` as installed or aliased to ws-stream/ws, against a
 * small local hub written here on the real ws that speaks SignalR's hub protocols: the negotiate POST, the
 * handshake, invocations (type 1), stream items (2), completions (3), stream invocations (4), pings (6) and close (7),
 * several of them batched in one frame: JSON records ended by 0x1e in text frames, or (SIGNALR_PROTOCOL=messagepack,
 * with @microsoft/signalr-protocol-msgpack on the client) MessagePack arrays each after a varint length, in binary
 * frames. The flow, as an app uses the client:
 * `HubConnectionBuilder` with an access token and automatic reconnect; `invoke` (a result, a hub error, 200 kB
 * echoed), `send` answered by a server-to-client invocation, `stream` (items then completion, and a stream that
 * errors), a close message that allows reconnecting, an abrupt drop (1006), the server closing with 1011 and a reason,
 * and with a clean 1000 (each reported to `onreconnecting` with the client's own words for the close), `stop()`, and
 * a restart. The negotiate sets an affinity cookie, which the client's jar sends with the upgrade. Prints what the
 * client and the hub saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import type WsDefault from 'ws';
import { aliased, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of @microsoft/signalr. */
interface Subscriber {
  next(item: unknown): void;
  complete(): void;
  error(err: Error): void;
}
interface HubConnection {
  connectionId: string | null;
  state: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  invoke(method: string, ...args: unknown[]): Promise<unknown>;
  send(method: string, ...args: unknown[]): Promise<void>;
  stream(method: string, ...args: unknown[]): { subscribe(s: Subscriber): void };
  on(method: string, f: (...args: never[]) => void): void;
  onreconnecting(f: (err?: Error) => void): void;
  onreconnected(f: (id?: string) => void): void;
  onclose(f: (err?: Error) => void): void;
}
interface HubConnectionBuilder {
  withUrl(url: string, options: object): HubConnectionBuilder;
  withAutomaticReconnect(delays: number[]): HubConnectionBuilder;
  configureLogging(level: number): HubConnectionBuilder;
  withHubProtocol(protocol: object): HubConnectionBuilder;
  build(): HubConnection;
}
const signalR = require('@microsoft/signalr') as {
  HubConnectionBuilder: new () => HubConnectionBuilder;
  HttpTransportType: { WebSockets: number };
  LogLevel: { None: number };
  JsonHubProtocol: new () => object;
};

const RS = '\x1e';
/** The hub protocol this run uses: SIGNALR_PROTOCOL=messagepack, or JSON. */
const messagePack = process.env.SIGNALR_PROTOCOL === 'messagepack';
const msgpack = require('@msgpack/msgpack') as { encode(v: unknown): Uint8Array; decode(b: Uint8Array): unknown };
const { MessagePackHubProtocol } = require('@microsoft/signalr-protocol-msgpack') as {
  MessagePackHubProtocol: new () => object;
};
const result: Record<string, unknown> = { aliased: aliased(require.resolve('@microsoft/signalr')) };

// The hub: negotiate over HTTP, then the hub protocol over the real ws.
let negotiations = 0;
const httpServer = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url?.startsWith('/hub/negotiate?negotiateVersion=1')) {
    negotiations++;
    res.setHeader('content-type', 'application/json');
    // A load balancer's affinity cookie: the client's cookie jar sends it with the upgrade.
    res.setHeader('set-cookie', `affinity=node-${negotiations}; Path=/hub`);
    res.end(
      JSON.stringify({
        negotiateVersion: 1,
        connectionId: `conn-${negotiations}`,
        connectionToken: `token-${negotiations}`,
        availableTransports: [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }],
      }),
    );
  } else {
    res.statusCode = 404;
    res.end();
  }
});
const wss = new RealWebSocket.WebSocketServer({ server: httpServer });
const hubSaw: { connections: string[]; calls: string[] } = { connections: [], calls: [] };
const sockets = queue<WsDefault>();
const closedOnServer = queue<string>();

/** A hub message, as the JSON protocol writes it (the MessagePack one as an array: see below). */
interface HubMessage {
  type: number;
  invocationId?: string | null;
  target?: string;
  arguments?: unknown[];
  item?: unknown;
  result?: unknown;
  error?: string;
  allowReconnect?: boolean;
}

/** A varint length before each message, as SignalR's binary message format has it. */
function lengthPrefixed(bytes: Uint8Array): Buffer {
  const prefix: number[] = [];
  let size = bytes.length;
  do {
    prefix.push((size & 0x7f) | (size > 0x7f ? 0x80 : 0));
    size >>= 7;
  } while (size > 0);
  return Buffer.concat([Buffer.from(prefix), bytes]);
}

/** The MessagePack protocol's array for a message: [type, headers, invocationId, …]. */
function toArray(m: HubMessage): unknown[] {
  if (m.type === 1) return [1, {}, m.invocationId ?? null, m.target, m.arguments, []];
  if (m.type === 2) return [2, {}, m.invocationId, m.item];
  if (m.type === 3) {
    if (m.error !== undefined) return [3, {}, m.invocationId, 1, m.error];
    return 'result' in m ? [3, {}, m.invocationId, 3, m.result] : [3, {}, m.invocationId, 2];
  }
  if (m.type === 7) return [7, m.error ?? null, m.allowReconnect ?? false];
  return [m.type];
}

/** One frame holding `messages`: JSON records ended by 0x1e in a text frame, or length-prefixed MessagePack. */
const frame = (...messages: HubMessage[]): string | Buffer =>
  messagePack
    ? Buffer.concat(messages.map((m) => lengthPrefixed(msgpack.encode(toArray(m)))))
    : messages.map((m) => JSON.stringify(m) + RS).join('');

/** The records of a frame after the handshake. */
function parse(data: Buffer): HubMessage[] {
  if (!messagePack)
    return String(data)
      .split(RS)
      .filter(Boolean)
      .map((r) => JSON.parse(r) as HubMessage);
  const messages: HubMessage[] = [];
  for (let offset = 0; offset < data.length; ) {
    let size = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = data[offset++];
      size |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    const a = msgpack.decode(data.subarray(offset, offset + size)) as unknown[];
    offset += size;
    messages.push({
      type: a[0] as number,
      invocationId: a[2] as string,
      target: a[3] as string,
      arguments: a[4] as unknown[],
    });
  }
  return messages;
}

wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://x');
  hubSaw.connections.push(
    `${url.pathname}?id=${url.searchParams.get('id')} ${req.headers.authorization} ${String(req.headers['user-agent']).split(' (')[0]} ${req.headers.cookie}`,
  );
  let handshaken = false;
  ws.on('message', (data: Buffer, isBinary) => {
    if (!handshaken) {
      // The handshake is JSON in both protocols; the answer goes in the frames the protocol uses.
      handshaken = true;
      const { protocol } = JSON.parse(String(data).split(RS)[0]) as { protocol: string };
      hubSaw.calls.push(`handshake ${protocol} ${isBinary ? 'binary' : 'text'}`);
      ws.send(messagePack ? Buffer.from(`{}${RS}`) : `{}${RS}`);
      sockets.push(ws);
      return;
    }
    for (const m of parse(data)) {
      if (m.type === 6) continue;
      hubSaw.calls.push(`${isBinary ? 'binary' : 'text'} ${m.type} ${m.target ?? ''}`.trim());
      const id = m.invocationId;
      const args = m.arguments ?? [];
      if (m.target === 'Add')
        ws.send(frame({ type: 3, invocationId: id, result: (args[0] as number) + (args[1] as number) }));
      else if (m.target === 'Fail') ws.send(frame({ type: 3, invocationId: id, error: 'HubException: nope' }));
      else if (m.target === 'Echo') ws.send(frame({ type: 6 }, { type: 3, invocationId: id, result: args[0] }));
      else if (m.target === 'Broadcast')
        ws.send(frame({ type: 1, target: 'ReceiveMessage', arguments: ['ada', args[0]] }));
      else if (m.target === 'Counter') {
        const items = Array.from({ length: args[0] as number }, (_, i) => ({ type: 2, invocationId: id, item: i }));
        // The items batched in one frame, the completion in the next.
        ws.send(frame(...items));
        ws.send(frame({ type: 3, invocationId: id }));
      } else if (m.target === 'Broken') {
        ws.send(
          frame({ type: 2, invocationId: id, item: 'first' }, { type: 3, invocationId: id, error: 'stream broke' }),
        );
      }
    }
  });
  ws.on('close', (code, reason) => closedOnServer.push(`${code} ${String(reason)}`));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const port = (httpServer.address() as net.AddressInfo).port;

const connection = new signalR.HubConnectionBuilder()
  .withUrl(`http://127.0.0.1:${port}/hub`, {
    transport: signalR.HttpTransportType.WebSockets,
    accessTokenFactory: () => 'secret-token',
  })
  .withAutomaticReconnect([0, 0, 0, 0])
  .withHubProtocol(messagePack ? new MessagePackHubProtocol() : new signalR.JsonHubProtocol())
  .configureLogging(signalR.LogLevel.None)
  .build();
const received = queue<string>();
connection.on('ReceiveMessage', ((user: string, text: string) => received.push(`${user}: ${text}`)) as never);
const reconnecting = queue<string>();
const reconnected = queue<string>();
connection.onreconnecting((err) => reconnecting.push(err?.message ?? 'no error'));
connection.onreconnected((id) => reconnected.push(id ?? 'no id'));
const closedOnClient = queue<string>();
connection.onclose((err) => closedOnClient.push(err?.message ?? 'no error'));

await connection.start();
let server = await sockets.next();
result.connectionId = connection.connectionId;

result.add = await connection.invoke('Add', 1, 2);
result.fail = await connection.invoke('Fail').then(
  () => 'resolved',
  (err: Error) => err.message,
);
const big = `é${'x'.repeat(200_000)}`;
result.echo = (await connection.invoke('Echo', big)) === big;
await connection.send('Broadcast', 'hello hub');
result.received = await received.next();

/** The items of a stream and how it ended. */
const streamed = (method: string, ...args: unknown[]) =>
  new Promise<unknown[]>((resolve) => {
    const items: unknown[] = [];
    connection.stream(method, ...args).subscribe({
      next: (item) => items.push(item),
      complete: () => resolve([...items, 'complete']),
      error: (err) => resolve([...items, `error: ${err.message}`]),
    });
  });
result.stream = await streamed('Counter', 5);
result.brokenStream = await streamed('Broken');

// Three losses, each followed by an automatic reconnect (a new negotiate, a new socket, a new handshake).
const losses: Record<string, unknown>[] = [];
const lose = async (how: (ws: WsDefault) => void) => {
  how(server);
  const error = await reconnecting.next();
  const onServer = await closedOnServer.next();
  const id = await reconnected.next();
  server = await sockets.next();
  losses.push({ error, onServer, reconnected: id, state: connection.state });
};
await lose((ws) => ws.send(frame({ type: 7, error: 'Server is restarting', allowReconnect: true })));
await lose((ws) => ws.terminate());
await lose((ws) => ws.close(1011, 'boom'));
// Even a clean close (1000, without a close message) is a loss to a connection with automatic reconnect.
await lose((ws) => ws.close(1000, 'bye'));
result.losses = losses;
// Still usable after all that.
result.afterReconnects = await connection.invoke('Add', 20, 22);

await connection.stop();
result.stopped = { client: await closedOnClient.next(), server: await closedOnServer.next(), state: connection.state };

// Started again by the app (a new negotiate, the jar's newest cookie), then stopped by it.
await connection.start();
await sockets.next();
result.restarted = { id: connection.connectionId, add: await connection.invoke('Add', 2, 2) };
await connection.stop();
result.stoppedAgain = { client: await closedOnClient.next(), server: await closedOnServer.next() };
result.hub = { negotiations, ...hubSaw };
wss.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);
