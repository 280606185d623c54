/**
 * A NestJS 11 app (platform-express) with a gateway on `WsAdapter` from @nestjs/platform-ws, which requires ws itself:
 * run by nestjs.test.ts with `ws` as installed or aliased to ws-stream/ws. The gateway is written as its users write it,
 * with the decorators applied by hand (`Reflect.decorate`, what TypeScript's legacy decorators compile to) since the
 * project's tsconfig has no `experimentalDecorators`. Its clients are the real ws and ws-stream/ws, both. Prints what
 * the clients and the gateway saw.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { RealWebSocket, aliased, ours, report } from './peer.js';

const require = createRequire(import.meta.url);
require('reflect-metadata');
const { Catch, Injectable, Module, UseFilters, UseGuards } =
  require('@nestjs/common') as typeof import('@nestjs/common');
const { NestFactory } = require('@nestjs/core') as typeof import('@nestjs/core');
const { SubscribeMessage, WebSocketGateway, WebSocketServer, WsException } =
  require('@nestjs/websockets') as typeof import('@nestjs/websockets');
const { WsAdapter } = require('@nestjs/platform-ws') as typeof import('@nestjs/platform-ws');
const { interval, map, range, take } = require('rxjs') as typeof import('rxjs');
type ArgumentsHost = import('@nestjs/common').ArgumentsHost;
type ExecutionContext = import('@nestjs/common').ExecutionContext;

interface Socket {
  readyState: number;
  send(data: string): void;
}
interface Server {
  clients: Set<Socket>;
}

/** What the gateway's hooks saw, in order. */
const hooks: string[] = [];

/** Lets a message through only with `{ token: 'ok' }`; otherwise Nest throws WsException('Forbidden resource'). */
class TokenGuard {
  canActivate(context: ExecutionContext): boolean {
    return (context.switchToWs().getData() as { token?: string } | undefined)?.token === 'ok';
  }
}
Reflect.decorate([Injectable()], TokenGuard);

/** Turns a WsException into an `error` message to its client (Nest's default filter emits on the socket object). */
class WsErrorFilter {
  catch(exception: InstanceType<typeof WsException>, host: ArgumentsHost): void {
    host
      .switchToWs()
      .getClient<Socket>()
      .send(JSON.stringify({ event: 'error', data: exception.getError() }));
  }
}
Reflect.decorate([Catch(WsException)], WsErrorFilter);

class EventsGateway {
  declare server: Server;
  private readonly names = new Map<Socket, string>();

  handleConnection(client: Socket, req: IncomingMessage): void {
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name') ?? '?';
    this.names.set(client, name);
    hooks.push(`connect ${name}`);
    client.send(JSON.stringify({ event: 'welcome', data: name }));
  }

  handleDisconnect(client: Socket): void {
    hooks.push(`disconnect ${this.names.get(client)}`);
  }

  /** A plain value: WsAdapter sends it as it is, in JSON. */
  onEvents(_client: Socket, data: unknown): unknown {
    return { echoed: data };
  }

  /** A WsResponse. */
  onIdentity(_client: Socket, data: unknown): unknown {
    return { event: 'identity', data };
  }

  /** An Observable: every value is a message, as it comes. */
  onStream(_client: Socket, data: { count: number }): unknown {
    return interval(2).pipe(
      take(data.count),
      map((i) => ({ event: 'stream', data: i + 1 })),
    );
  }

  /** A synchronous Observable of many: every value sent at once, in order. */
  onFlood(_client: Socket, data: { count: number }): unknown {
    return range(1, data.count).pipe(map((i) => ({ event: 'flood', data: i })));
  }

  /** To every client of the gateway's server. */
  onBroadcast(_client: Socket, data: unknown): void {
    for (const client of this.server.clients)
      if (client.readyState === 1) client.send(JSON.stringify({ event: 'broadcast', data }));
  }

  onSecret(): unknown {
    return { event: 'secret', data: 'granted' };
  }

  onFail(_client: Socket, data: unknown): never {
    throw new WsException({ code: 'bad-input', got: data });
  }
}
function decorateMethod(decorators: MethodDecorator[], target: object, key: string): void {
  const descriptor = Object.getOwnPropertyDescriptor(target, key) as PropertyDescriptor;
  Object.defineProperty(target, key, Reflect.decorate(decorators, target, key, descriptor) ?? descriptor);
}
const gateway = EventsGateway.prototype;
decorateMethod([SubscribeMessage('events')], gateway, 'onEvents');
decorateMethod([SubscribeMessage('identity')], gateway, 'onIdentity');
decorateMethod([SubscribeMessage('stream')], gateway, 'onStream');
decorateMethod([SubscribeMessage('flood')], gateway, 'onFlood');
decorateMethod([SubscribeMessage('broadcast')], gateway, 'onBroadcast');
decorateMethod([SubscribeMessage('secret'), UseGuards(TokenGuard)], gateway, 'onSecret');
decorateMethod([SubscribeMessage('fail')], gateway, 'onFail');
Reflect.decorate([WebSocketServer()], gateway, 'server');
// Options besides `path` go to ws's server: a verifyClient refusing a client without its token, a payload limit.
const gatewayOptions = {
  path: '/ws',
  verifyClient: (info: { req: IncomingMessage }) => !info.req.url?.includes('name=intruder'),
  maxPayload: 64 * 1024,
};
Reflect.decorate([WebSocketGateway(gatewayOptions), UseFilters(new WsErrorFilter())], EventsGateway);

class AppModule {}
Reflect.decorate([Module({ providers: [EventsGateway] })], AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
app.useWebSocketAdapter(new WsAdapter(app));
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address() as { port: number };
const base = `ws://127.0.0.1:${port}`;

interface Message {
  event?: string;
  data?: unknown;
}
/** A client of either library, with its parsed messages, its close and its error recorded from the start. */
function connect(WebSocket: typeof RealWebSocket, url: string) {
  const ws = new WebSocket(url);
  const messages: Message[] = [];
  const waiting: { test: (m: Message[]) => boolean; resolve: () => void }[] = [];
  ws.on('message', (data: Buffer) => {
    messages.push(JSON.parse(String(data)) as Message);
    for (const w of waiting.splice(0))
      if (w.test(messages)) w.resolve();
      else waiting.push(w);
  });
  let error: { code?: string; message: string } | undefined;
  ws.on('error', (err: Error & { code?: string }) => {
    error = { code: err.code, message: err.message };
  });
  const closed = new Promise<{ code: number; error?: typeof error }>((resolve) =>
    ws.once('close', (code: number) => resolve({ code, error })),
  );
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  /** The messages of `event` once `count` of them are in. */
  const events = (event: string, count: number) =>
    new Promise<unknown[]>((resolve) => {
      const test = (m: Message[]) => m.filter((x) => x.event === event).length >= count;
      const done = () => resolve(messages.filter((x) => x.event === event).map((x) => x.data));
      if (test(messages)) done();
      else waiting.push({ test, resolve: done });
    });
  /** The next message, whatever it is. */
  const next = () => {
    const count = messages.length + 1;
    return new Promise<Message>((resolve) => {
      const test = (m: Message[]) => m.length >= count;
      const done = () => resolve(messages[count - 1] as Message);
      waiting.push({ test, resolve: done });
    });
  };
  const send = (event: string, data?: unknown) => ws.send(JSON.stringify({ event, data }));
  return { ws, messages, closed, opened, events, next, send };
}

const result: Record<string, unknown> = { aliased: aliased(require.resolve('@nestjs/platform-ws')) };
const libraries = { ws: RealWebSocket, 'ws-stream/ws': ours.WebSocket as unknown as typeof RealWebSocket };
const clients = [];
for (const [library, WebSocket] of Object.entries(libraries)) {
  const c = connect(WebSocket, `${base}/ws?name=${library}`);
  await c.events('welcome', 1);
  clients.push(c);
  const seen: Record<string, unknown> = {};
  const reply = c.next();
  c.send('events', { n: 1, text: 'héllo' });
  seen.events = await reply;
  const identity = c.next();
  c.send('identity', [1, 2, 3]);
  seen.identity = await identity;
  c.send('stream', { count: 5 });
  seen.stream = await c.events('stream', 5);
  c.send('flood', { count: 3000 });
  const flood = await c.events('flood', 3000);
  seen.flood = flood.length === 3000 && flood.every((n, i) => n === i + 1);
  const denied = c.next();
  c.send('secret', {});
  seen.denied = await denied;
  const granted = c.next();
  c.send('secret', { token: 'ok' });
  seen.granted = await granted;
  const failed = c.next();
  c.send('fail', 'x');
  seen.failed = await failed;
  // A message in a binary frame is parsed the same; one that is no JSON, or names no handler, is dropped.
  const binary = c.next();
  c.ws.send('not json');
  c.send('nobody', 1);
  c.ws.send(Buffer.from(JSON.stringify({ event: 'identity', data: 'bin' })));
  seen.binary = await binary;
  result[library] = seen;
}
result.serverIsOurs = app.get(EventsGateway).server instanceof ours.WebSocketServer;

// A broadcast from one client reaches both.
const [first, second] = clients as [ReturnType<typeof connect>, ReturnType<typeof connect>];
first.send('broadcast', 'to all');
result.broadcast = await Promise.all([first.events('broadcast', 1), second.events('broadcast', 1)]);

// A client on a path no gateway serves: WsAdapter destroys the socket in the upgrade.
const refused: Record<string, unknown> = {};
for (const [library, WebSocket] of Object.entries(libraries)) {
  const c = connect(WebSocket, `${base}/other?name=${library}`);
  refused[library] = await c.closed;
}
result.refused = refused;

// verifyClient's refusal (401 in the upgrade), and a message over maxPayload (1009), for each library.
const limits: Record<string, unknown> = {};
for (const [library, WebSocket] of Object.entries(libraries)) {
  const intruder = new WebSocket(`${base}/ws?name=intruder`);
  const status = await new Promise((resolve) => {
    intruder.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    intruder.once('open', () => resolve('opened'));
  });
  intruder.on('error', () => {});
  const big = connect(WebSocket, `${base}/ws?name=big-${library}`);
  await big.events('welcome', 1);
  big.ws.send(JSON.stringify({ event: 'events', data: 'x'.repeat(64 * 1024) }));
  limits[library] = { verifyClient: status, overLimit: (await big.closed).code };
}
result.limits = limits;

// app.close(): WsAdapter terminates every client and closes its server; the gateway sees each one go.
const closed = Promise.all(clients.map((c) => c.closed));
await app.close();
result.closed = await closed;
// Connections in order; the disconnections in whatever order the terminated sockets' closes come.
result.hooks = [
  ...hooks.filter((h) => h.startsWith('connect')),
  ...hooks.filter((h) => h.startsWith('disconnect')).sort(),
];
report(result);
