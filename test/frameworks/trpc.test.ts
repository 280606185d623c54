/**
 * tRPC 11 over WebSockets on each engine, as a user who swaps `ws` for `ws-stream/ws` runs it: `applyWSSHandler` from
 * @trpc/server/adapters/ws on the engine's WebSocketServer, and @trpc/client's `createWSClient` + `wsLink` with the
 * engine's WebSocket as its `WebSocket` (Node 20 has none). Every pair runs, crossed too (a ws client on a ws-stream
 * server and the reverse), with the same expectations.
 *
 * What the adapter and the client use of the ws API, and so what is checked here: the server's 'connection' (socket,
 * upgrade request), `clients`, `close()`; the socket's 'message' (a Buffer, isBinary), 'error', 'close', `send`,
 * `readyState`, `close()` without a code (1005) and `terminate()` (keepAlive); the client's `new WebSocket(url)`, the
 * OPEN/CLOSING/CLOSED constants, `binaryType = 'arraybuffer'`, `addEventListener` with the socket as `this`, the
 * MessageEvent/CloseEvent/ErrorEvent shapes. tRPC's keep-alives are text PING/PONG messages, not ping frames; it reads
 * no `bufferedAmount`. Also: TLS, a binary encoder, lazy mode, large inputs with and without permessage-deflate and
 * over maxPayload (1009), a non-UTF-8 frame (1007), ws's ping-frame heartbeat beside tRPC, the standalone HTTP adapter
 * on the same server, `broadcastReconnectNotification()` + `wss.close()` moving a live subscription to a new server,
 * and a server restarted on the same port.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { initTRPC, TRPCError, tracked, type TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import { applyWSSHandler, type CreateWSSContextFnOptions } from '@trpc/server/adapters/ws';
import {
  createTRPCClient,
  createWSClient,
  httpLink,
  splitLink,
  wsLink,
  TRPCClientError,
  type TRPCWebSocketClient,
} from '@trpc/client';
import type { WebSocketServer, WebSocket as WsWebSocket } from 'ws';
import { engines, listen, closeServer, nextEvent, type Engine } from './engines.js';

// ---------------------------------------------------------------------------------------------------------------------
// The router, the same for every engine.

interface Context {
  req: CreateWSSContextFnOptions['req'];
  res: CreateWSSContextFnOptions['res'];
  token: string | undefined;
}

/** A list of events kept by the server (what a database would hold): a subscription replays it from `lastEventId`. */
class Feed {
  readonly events: string[] = [];
  readonly #waiters = new Set<() => void>();
  publish(event: string): void {
    this.events.push(event);
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }
  /** Resolves once an event is published or `signal` aborts. */
  next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.add(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}

const errorCodes: TRPC_ERROR_CODE_KEY[] = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PRECONDITION_FAILED',
  'TOO_MANY_REQUESTS',
  'INTERNAL_SERVER_ERROR',
];

/** Checks an input without a schema library: tRPC takes any function that returns the input or throws. */
const object =
  <T>(check: (v: Record<string, unknown>) => boolean) =>
  (v: unknown): T => {
    if (typeof v !== 'object' || v === null || !check(v as Record<string, unknown>)) throw new Error('invalid input');
    return v as T;
  };

/**
 * The router and what its procedures let a test observe: `log` (the mutations, in the order the server ran them) and
 * `events` ('feed-start' with the `lastEventId` a feed subscription began from, 'feed-end' when one was stopped).
 */
function makeRouter(feed: Feed) {
  const log: number[] = [];
  const events = new EventEmitter();
  const t = initTRPC.context<Context>().create();
  const router = t.router({
    greet: t.procedure
      .input(object<{ name: string }>((v) => typeof v.name === 'string'))
      .query(({ input }) => `hello ${input.name}`),
    whoami: t.procedure.query(({ ctx }) => ({
      tenant: ctx.req.headers['x-tenant'] ?? null,
      host: ctx.req.headers.host,
      url: ctx.req.url,
      token: ctx.token ?? null,
      resIsOpen: ctx.res.readyState === ctx.res.OPEN,
      encrypted: (ctx.req.socket as { encrypted?: boolean }).encrypted === true,
      ip: ctx.req.socket.remoteAddress,
    })),
    append: t.procedure
      .input((v) => {
        if (typeof v !== 'number') throw new Error('a number');
        return v;
      })
      .mutation(({ input }) => {
        log.push(input);
        return log.length;
      }),
    fail: t.procedure
      .input(object<{ code: TRPC_ERROR_CODE_KEY }>((v) => typeof v.code === 'string'))
      .query(({ input }) => {
        throw new TRPCError({ code: input.code, message: `failed with ${input.code}` });
      }),
    crash: t.procedure.query(() => {
      throw new Error('an unexpected failure');
    }),
    digest: t.procedure
      .input((v) => {
        if (typeof v !== 'string') throw new Error('a string');
        return v;
      })
      .mutation(({ input }) => ({ length: input.length, sha256: createHash('sha256').update(input).digest('hex') })),
    text: t.procedure
      .input(object<{ length: number }>((v) => typeof v.length === 'number'))
      .query(({ input }) => pattern(input.length)),
    count: t.procedure
      .input(object<{ to: number; failAt?: number; lastEventId?: string }>((v) => typeof v.to === 'number'))
      .subscription(async function* ({ input }) {
        for (let i = Number(input.lastEventId ?? 0) + 1; i <= input.to; i++) {
          if (i === input.failAt) throw new TRPCError({ code: 'CONFLICT', message: `failed at ${i}` });
          yield tracked(String(i), i * i);
        }
      }),
    burst: t.procedure
      .input(object<{ n: number; size: number }>((v) => typeof v.n === 'number' && typeof v.size === 'number'))
      .subscription(async function* ({ input }) {
        const text = pattern(input.size);
        for (let i = 0; i < input.n; i++) yield `${i} ${text}`;
      }),
    feed: t.procedure.input(object<{ lastEventId?: string | null }>(() => true)).subscription(async function* ({
      input,
      signal,
    }) {
      events.emit('feed-start', input.lastEventId ?? null);
      try {
        let i = Number(input.lastEventId ?? 0);
        while (!signal!.aborted) {
          for (; i < feed.events.length; i++) yield tracked(String(i + 1), feed.events[i]!);
          await feed.next(signal!);
        }
      } finally {
        events.emit('feed-end');
      }
    }),
  });
  return { router, log, events };
}
type AppRouter = ReturnType<typeof makeRouter>['router'];

/** A deterministic text of `length` characters, not all ASCII. */
function pattern(length: number): string {
  const unit = 'tRPC ✓ ws-stream 0123456789 ';
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

// ---------------------------------------------------------------------------------------------------------------------
// Servers and clients.

interface Served {
  url: string;
  port: number;
  httpServer: http.Server;
  wss: WebSocketServer;
  handler: ReturnType<typeof applyWSSHandler>;
  /** The server-side sockets, in the order they connected. */
  sockets: WsWebSocket[];
  /** The close code of a server-side socket, once it is closed. */
  closeCode(ws: WsWebSocket): Promise<number>;
  /** tRPC's onError calls. */
  errors: TRPCError[];
  router: ReturnType<typeof makeRouter>;
  /** Closes every connection, the WebSocketServer and the HTTP server. */
  stop(): Promise<void>;
}

type HandlerOptions = Partial<Omit<Parameters<typeof applyWSSHandler<AppRouter>>[0], 'wss' | 'router'>>;

/** `applyWSSHandler` on `engine`'s WebSocketServer, on its own HTTP server (at `port`, or a free one). */
async function serve(
  engine: Engine,
  feed: Feed,
  options: { wss?: Record<string, unknown>; handler?: HandlerOptions; port?: number; tls?: boolean } = {},
): Promise<Served> {
  const { server: httpServer, port } = options.port
    ? await listenOn(options.port)
    : await listen(
        options.tls ? https.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') }) : undefined,
      );
  const wss = new engine.WebSocketServer({ server: httpServer, ...options.wss });
  const router = makeRouter(feed);
  const sockets: WsWebSocket[] = [];
  const errors: TRPCError[] = [];
  const closeCodes = new Map<WsWebSocket, number>();
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.once('close', (code) => closeCodes.set(ws, code));
  });
  const handler = applyWSSHandler<AppRouter>({
    wss,
    router: router.router,
    createContext: ({ req, res, info }) => {
      const token = (info.connectionParams as { token?: string } | null)?.token;
      if (token === 'refused') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'bad token' });
      return { req, res, token };
    },
    onError: ({ error }) => void errors.push(error),
    ...options.handler,
  });
  let stopped = false;
  return {
    url: `${options.tls ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    port,
    httpServer,
    wss,
    handler,
    sockets,
    closeCode: (ws) => {
      const code = closeCodes.get(ws);
      return code === undefined ? nextEvent<number>(ws, 'close') : Promise.resolve(code);
    },
    errors,
    router,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await closeServer(httpServer);
    },
  };
}

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url)));

/** An HTTP server listening on 127.0.0.1 at `port` (a port a stopped server used). */
function listenOn(port: number): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, port }));
  });
}

/**
 * The engine's WebSocket, opened with `options` (request headers, TLS trust): createWSClient calls `new WebSocket(url)`,
 * so a subclass is how a user passes them.
 */
function withOptions(
  engine: Engine,
  options: ConstructorParameters<Engine['WebSocket']>[2],
): typeof globalThis.WebSocket {
  const Base = engine.WebSocket;
  return class extends Base {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, options);
    }
  } as unknown as typeof globalThis.WebSocket;
}

type ClientOptions = Omit<Parameters<typeof createWSClient>[0], 'url' | 'WebSocket'> & {
  url?: string | (() => string);
  WebSocket?: typeof globalThis.WebSocket;
};

/** The close codes tRPC's client reported through onClose. */
interface Client {
  ws: TRPCWebSocketClient;
  trpc: ReturnType<typeof createTRPCClient<AppRouter>>;
  closes: EventEmitter;
}

/** Waits for the next `event` of `emitter` whose first argument satisfies `test`. */
function eventWhere<T>(emitter: EventEmitter, event: string, test: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const on = (value: T) => {
      if (!test(value)) return;
      emitter.off(event, on);
      resolve(value);
    };
    emitter.on(event, on);
  });
}

/** Calls `f` and collects what a subscription delivers: data, and the 'started'/'stopped'/'complete' marks. */
class Collector<T> {
  readonly data: T[] = [];
  readonly marks: string[] = [];
  readonly events = new EventEmitter();
  readonly errors: unknown[] = [];
  readonly handlers = {
    onStarted: () => this.#mark('started'),
    onStopped: () => this.#mark('stopped'),
    onComplete: () => this.#mark('complete'),
    onError: (err: unknown) => {
      this.errors.push(err);
      this.#mark('error');
    },
    onData: (value: T) => {
      this.data.push(value);
      this.events.emit('data', this.data.length);
    },
  };
  #mark(what: string): void {
    this.marks.push(what);
    this.events.emit(what);
  }
  /** Resolves once `n` values arrived in all. */
  until(n: number): Promise<void> {
    if (this.data.length >= n) return Promise.resolve();
    return eventWhere<number>(this.events, 'data', (count) => count >= n).then(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

const pairs = engines.flatMap((server) => engines.map((client) => ({ server, client })));

for (const { server: serverEngine, client: clientEngine } of pairs) {
  describe(`tRPC 11 (ws adapter, wsLink): server on ${serverEngine.name}, client on ${clientEngine.name}`, () => {
    const feed = new Feed();
    let main: Served;
    /** Everything to close once the suite is done, in reverse order. */
    const cleanups: (() => Promise<void> | void)[] = [];

    before(async () => {
      main = await serve(serverEngine, feed);
      cleanups.push(() => main.stop());
    });
    after(async () => {
      for (const f of cleanups.reverse()) await f();
    });

    function client(options: ClientOptions = {}): Client {
      const closes = new EventEmitter();
      const ws = createWSClient({
        WebSocket: clientEngine.WebSocket as unknown as typeof globalThis.WebSocket,
        ...options,
        url: options.url ?? main.url,
        onClose: (cause) => {
          options.onClose?.(cause);
          closes.emit('close', cause?.code);
        },
      });
      cleanups.push(() => ws.close());
      return { ws, trpc: createTRPCClient<AppRouter>({ links: [wsLink<AppRouter>({ client: ws })] }), closes };
    }

    /** A server made for one test, stopped with the suite. */
    async function extraServer(options: Parameters<typeof serve>[2] = {}): Promise<Served> {
      const s = await serve(serverEngine, feed, options);
      cleanups.push(() => s.stop());
      return s;
    }

    it('queries and mutations: results, input validation, and the server runs mutations in call order', async () => {
      const { trpc } = client();
      assert.equal(await trpc.greet.query({ name: 'ws-stream ✓' }), 'hello ws-stream ✓');
      const before = main.router.log.length;
      assert.equal(await trpc.append.mutate(7), before + 1);
      assert.equal(await trpc.append.mutate(8), before + 2);
      assert.deepEqual(main.router.log.slice(before), [7, 8]);
      const invalid = await trpc.greet.query({ name: 42 } as never).then(
        () => assert.fail('an invalid input was accepted'),
        (e: unknown) => e,
      );
      assert.ok(invalid instanceof TRPCClientError);
      assert.equal(invalid.data?.code, 'BAD_REQUEST');
    });

    it('TRPCError codes reach the client with their message; a plain Error is INTERNAL_SERVER_ERROR', async () => {
      const { trpc } = client();
      await trpc.greet.query({ name: 'open' });
      const before = main.errors.length;
      for (const code of errorCodes) {
        const err = await trpc.fail.query({ code }).then(
          () => assert.fail(`${code}: no error`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof TRPCClientError, code);
        assert.equal(err.data?.code, code);
        assert.equal(err.message, `failed with ${code}`);
        assert.equal(err.data?.path, 'fail');
      }
      const crash = await trpc.crash.query().then(
        () => assert.fail('no error'),
        (e: unknown) => e as TRPCClientError<AppRouter>,
      );
      assert.equal(crash.data?.code, 'INTERNAL_SERVER_ERROR');
      assert.equal(crash.message, 'an unexpected failure');
      // The server's onError saw each, in order.
      assert.deepEqual(
        main.errors.slice(before).map((e) => e.code),
        [...errorCodes, 'INTERNAL_SERVER_ERROR'],
      );
    });

    it('createContext gets the upgrade request (headers, host, url) and the server-side WebSocket as res', async () => {
      const { trpc } = client({ WebSocket: withOptions(clientEngine, { headers: { 'x-tenant': 'acme' } }) });
      const port = new URL(main.url).port;
      assert.deepEqual(await trpc.whoami.query(), {
        tenant: 'acme',
        host: `127.0.0.1:${port}`,
        url: '/',
        token: null,
        resIsOpen: true,
        encrypted: false,
        ip: '127.0.0.1',
      });
    });

    it('over TLS (wss://): createContext sees an encrypted request, calls and subscriptions work', async () => {
      const secure = await extraServer({ tls: true });
      const { trpc } = client({ url: secure.url, WebSocket: withOptions(clientEngine, { ca: fixture('cert.pem') }) });
      const who = await trpc.whoami.query();
      assert.equal(who.encrypted, true);
      const sub = new Collector<{ id: string; data: number }>();
      const done = nextEvent(sub.events, 'complete');
      trpc.count.subscribe({ to: 10 }, sub.handlers);
      await done;
      assert.deepEqual(
        sub.data.map((e) => e.data),
        Array.from({ length: 10 }, (_, i) => (i + 1) ** 2),
      );
    });

    it('connectionParams: sent as the first message (?connectionParams=1), seen by createContext', async () => {
      const { trpc } = client({ connectionParams: async () => ({ token: 'sesame' }) });
      const who = await trpc.whoami.query();
      assert.equal(who.token, 'sesame');
      assert.equal(who.url, '/?connectionParams=1');
    });

    it('createContext throwing UNAUTHORIZED: the raw client gets the id:null error, then close 1005', async () => {
      const raw = new clientEngine.WebSocket(`${main.url}/?connectionParams=1`);
      const messages: string[] = [];
      raw.on('message', (data, isBinary) => messages.push(`${isBinary ? 'binary' : 'text'} ${String(data)}`));
      await nextEvent(raw, 'open', 'error');
      raw.send(JSON.stringify({ method: 'connectionParams', data: { token: 'refused' } }));
      const [code] = await new Promise<[number, string]>((resolve) =>
        raw.once('close', (c, r) => resolve([c, String(r)])),
      );
      assert.equal(code, 1005);
      assert.equal(messages.length, 1);
      assert.match(messages[0]!, /^text /);
      const reply = JSON.parse(messages[0]!.slice(5)) as {
        id: null;
        error: { data: { code: string }; message: string };
      };
      assert.equal(reply.id, null);
      assert.equal(reply.error.data.code, 'UNAUTHORIZED');
      assert.equal(reply.error.message, 'bad token');
    });

    it('malformed messages: PARSE_ERROR with id null, and the connection stays usable', async () => {
      const raw = new clientEngine.WebSocket(main.url);
      cleanups.push(() => raw.terminate());
      await nextEvent(raw, 'open', 'error');
      const reply = () => nextEvent<Buffer>(raw, 'message').then(String);
      let next = reply();
      raw.send('{not json');
      const parseError = JSON.parse(await next) as { id: null; error: { data: { code: string } } };
      assert.equal(parseError.id, null);
      assert.equal(parseError.error.data.code, 'PARSE_ERROR');
      next = reply();
      raw.send('PING');
      assert.equal(await next, 'PONG');
      next = reply();
      raw.send(JSON.stringify({ id: 5, method: 'query', params: { path: 'greet', input: { name: 'raw' } } }));
      assert.deepEqual(JSON.parse(await next), { id: 5, result: { type: 'data', data: 'hello raw' } });
    });

    it('1000 calls in one tick travel as one batch; results arrive in call order and the server ran them in order', async () => {
      const { trpc } = client();
      await trpc.greet.query({ name: 'warm up' });
      let messages = 0;
      const counter = (_data: unknown, isBinary: boolean) => void (isBinary || messages++);
      const serverSide = main.sockets.at(-1)!;
      serverSide.on('message', counter);
      const start = main.router.log.length;
      const order: number[] = [];
      const calls = Array.from({ length: 1000 }, (_, i) =>
        (i % 2 ? trpc.append.mutate(i) : trpc.greet.query({ name: String(i) })).then((r) => {
          order.push(i);
          return r;
        }),
      );
      const results = await Promise.all(calls);
      serverSide.off('message', counter);
      assert.equal(messages, 1, 'one batch message');
      assert.deepEqual(
        order,
        Array.from({ length: 1000 }, (_, i) => i),
      );
      for (const [i, r] of results.entries()) {
        assert.equal(r, i % 2 ? start + (i + 1) / 2 : `hello ${i}`, `call ${i}`);
      }
      assert.deepEqual(
        main.router.log.slice(start),
        Array.from({ length: 500 }, (_, i) => 2 * i + 1),
      );
    });

    it('large inputs and outputs (8 MB in, 4 MB out) and a 2000-event burst, with and without permessage-deflate', async () => {
      const zipped = await extraServer({ wss: { perMessageDeflate: { threshold: 0 } } });
      for (const [served, extensions] of [
        [main, ''],
        [zipped, 'permessage-deflate'],
      ] as const) {
        const { trpc, ws } = client({ url: served.url });
        const input = pattern(8 * 1024 * 1024);
        assert.deepEqual(await trpc.digest.mutate(input), {
          length: input.length,
          sha256: createHash('sha256').update(input).digest('hex'),
        });
        assert.equal((ws.connection!.ws as unknown as { extensions: string }).extensions, extensions);
        assert.equal(served.sockets.at(-1)!.extensions, extensions);
        assert.equal(await trpc.text.query({ length: 4 * 1024 * 1024 }), pattern(4 * 1024 * 1024));
        // Calls and a burst of events interleaved on one connection, each compressed on its own.
        const sub = new Collector<string>();
        const done = nextEvent(sub.events, 'complete');
        trpc.burst.subscribe({ n: 2000, size: 512 }, sub.handlers);
        const calls = Array.from({ length: 100 }, (_, i) => trpc.greet.query({ name: String(i) }));
        assert.deepEqual(
          await Promise.all(calls),
          calls.map((_, i) => `hello ${i}`),
        );
        await done;
        const text = pattern(512);
        assert.deepEqual(
          sub.data,
          Array.from({ length: 2000 }, (_, i) => `${i} ${text}`),
        );
      }
    });

    it("an input over the server's maxPayload: the server fails the connection with 1009, the call fails", async () => {
      const small = await extraServer({ wss: { maxPayload: 64 * 1024 } });
      // Lazy: opened by the first call, and not reopened after the close (no subscription is pending).
      const { trpc, closes } = client({ url: small.url, lazy: { enabled: true, closeMs: 60_000 } });
      assert.equal(await trpc.greet.query({ name: 'small' }), 'hello small');
      const closed = nextEvent<number>(closes, 'close');
      const err = await trpc.digest.mutate('x'.repeat(100 * 1024)).then(
        () => assert.fail('accepted'),
        (e: unknown) => e as TRPCClientError<AppRouter>,
      );
      assert.ok(err instanceof TRPCClientError);
      // tRPC fails the call with the WebSocket's close event as its cause.
      const event = err.cause as unknown as { type: string; code: number };
      assert.deepEqual([event.type, event.code], ['close', 1009]);
      assert.equal(await closed, 1009);
      // tRPC's 'error' listener on the server-side socket reported ws's error.
      const cause = small.errors.at(-1)?.cause as { code?: string } | undefined;
      assert.equal(cause?.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    });

    it("a text frame that is not UTF-8: tRPC's onError gets ws's WS_ERR_INVALID_UTF8, the client sees 1007", async () => {
      const raw = new clientEngine.WebSocket(main.url);
      await nextEvent(raw, 'open', 'error');
      const closed = nextEvent<number>(raw, 'close');
      const before = main.errors.length;
      raw.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
      assert.equal(await closed, 1007);
      assert.equal(await main.closeCode(main.sockets.at(-1)!), 1006);
      const reported = main.errors.slice(before).map((e) => (e.cause as { code?: string } | undefined)?.code);
      assert.deepEqual(reported, ['WS_ERR_INVALID_UTF8']);
    });

    it('subscriptions: an async generator of 100 tracked() events, then stopped and complete', async () => {
      const { trpc } = client();
      const sub = new Collector<{ id: string; data: number }>();
      const done = nextEvent(sub.events, 'complete');
      trpc.count.subscribe({ to: 100 }, sub.handlers);
      await done;
      assert.deepEqual(
        sub.data,
        Array.from({ length: 100 }, (_, i) => ({ id: String(i + 1), data: (i + 1) ** 2 })),
      );
      assert.deepEqual(sub.marks, ['started', 'stopped', 'complete']);
    });

    it('a subscription that throws a TRPCError: the events before it, then onError with its code', async () => {
      const { trpc } = client();
      const sub = new Collector<{ id: string; data: number }>();
      const failed = nextEvent(sub.events, 'error');
      trpc.count.subscribe({ to: 10, failAt: 4 }, sub.handlers);
      await failed;
      assert.deepEqual(
        sub.data.map((e) => e.id),
        ['1', '2', '3'],
      );
      const err = sub.errors[0] as TRPCClientError<AppRouter>;
      assert.ok(err instanceof TRPCClientError);
      assert.equal(err.data?.code, 'CONFLICT');
      assert.equal(err.message, 'failed at 4');
      assert.equal(await trpc.greet.query({ name: 'after' }), 'hello after');
    });

    it('100 subscriptions at once on one connection, their events interleaved: each gets its own, in order', async () => {
      const { trpc } = client();
      const subs = Array.from({ length: 100 }, (_, i) => {
        const sub = new Collector<{ id: string; data: number }>();
        const done = nextEvent(sub.events, 'complete');
        trpc.count.subscribe({ to: 20 + i }, sub.handlers);
        return { sub, done, to: 20 + i };
      });
      await Promise.all(subs.map((s) => s.done));
      for (const { sub, to } of subs) {
        assert.deepEqual(
          sub.data,
          Array.from({ length: to }, (_, i) => ({ id: String(i + 1), data: (i + 1) ** 2 })),
        );
        assert.deepEqual(sub.marks, ['started', 'stopped', 'complete']);
      }
    });

    it('a burst of 10,000 events of 1 KiB from a generator that never waits: all arrive, in order', async () => {
      const { trpc } = client();
      const sub = new Collector<string>();
      const done = nextEvent(sub.events, 'complete');
      trpc.burst.subscribe({ n: 10_000, size: 1024 }, sub.handlers);
      await done;
      assert.equal(sub.data.length, 10_000);
      const text = pattern(1024);
      for (const [i, event] of sub.data.entries()) {
        if (event !== `${i} ${text}`) assert.fail(`event ${i}: ${event.slice(0, 20)}`);
      }
    });

    it('unsubscribe stops the server-side generator (subscription.stop); the connection goes on', async () => {
      const { trpc } = client();
      const sub = new Collector<{ id: string; data: string }>();
      const started = nextEvent(main.router.events, 'feed-start');
      const s = trpc.feed.subscribe({}, sub.handlers);
      await started;
      feed.publish('one');
      await sub.until(feed.events.length);
      const ended = nextEvent(main.router.events, 'feed-end');
      s.unsubscribe();
      await ended;
      assert.equal(await trpc.greet.query({ name: 'after' }), 'hello after');
      assert.deepEqual(sub.data.at(-1), { id: String(feed.events.length), data: 'one' });
    });

    for (const [how, cut, expectedCode] of [
      ['terminate()', (ws: WsWebSocket) => ws.terminate(), 1006],
      ["close(4001, 'moving')", (ws: WsWebSocket) => ws.close(4001, 'moving'), 4001],
    ] as const) {
      it(`the server-side socket's ${how} mid-subscription: the client sees ${expectedCode}, reconnects, resumes from lastEventId`, async () => {
        const { trpc, closes } = client({ retryDelayMs: () => 0 });
        const sub = new Collector<{ id: string; data: string }>();
        const starts: (string | null)[] = [];
        const onStart = (id: string | null) => starts.push(id);
        main.router.events.on('feed-start', onStart);
        try {
          const firstStart = nextEvent(main.router.events, 'feed-start');
          trpc.feed.subscribe({}, sub.handlers);
          await firstStart;
          const base = feed.events.length;
          for (let i = 1; i <= 3; i++) feed.publish(`before ${i}`);
          await sub.until(base + 3);
          const closed = nextEvent<number>(closes, 'close');
          const firstEnded = nextEvent(main.router.events, 'feed-end');
          const secondStart = nextEvent<string | null>(main.router.events, 'feed-start');
          cut(main.sockets.at(-1)!);
          assert.equal(await closed, expectedCode);
          await firstEnded;
          for (let i = 1; i <= 3; i++) feed.publish(`after ${i}`);
          assert.equal(await secondStart, String(base + 3));
          await sub.until(base + 6);
          assert.deepEqual(
            sub.data,
            feed.events.map((data, i) => ({ id: String(i + 1), data })),
          );
          assert.deepEqual(starts, [null, String(base + 3)]);
          assert.equal(await main.closeCode(main.sockets.at(-2)!), expectedCode);
          assert.equal(sub.errors.length, 0);
        } finally {
          main.router.events.off('feed-start', onStart);
        }
      });
    }

    it("server keepAlive: the client answers the server's PINGs with PONG and stays connected", async () => {
      const ka = await extraServer({ handler: { keepAlive: { enabled: true, pingMs: 10, pongWaitMs: 60_000 } } });
      const { trpc } = client({ url: ka.url });
      assert.equal(await trpc.greet.query({ name: 'alive' }), 'hello alive');
      const serverSide = ka.sockets.at(-1)!;
      let pongs = 0;
      await new Promise<void>((resolve) =>
        serverSide.on('message', (data, isBinary) => {
          if (!isBinary && String(data) === 'PONG' && ++pongs === 3) resolve();
        }),
      );
      assert.equal(serverSide.readyState, serverSide.OPEN);
      assert.equal(await trpc.greet.query({ name: 'still' }), 'hello still');
    });

    it('server keepAlive: a client that does not answer PING is terminated after pongWaitMs (1006 on both sides)', async () => {
      const ka = await extraServer({ handler: { keepAlive: { enabled: true, pingMs: 10, pongWaitMs: 10 } } });
      const raw = new clientEngine.WebSocket(ka.url);
      const received: string[] = [];
      raw.on('message', (data, isBinary) => received.push(`${isBinary ? 'binary' : 'text'} ${String(data)}`));
      const serverClosed = nextEvent<WsWebSocket>(ka.wss, 'connection').then((ws) => nextEvent<number>(ws, 'close'));
      const clientClosed = nextEvent<number>(raw, 'close');
      assert.equal(await clientClosed, 1006);
      assert.equal(await serverClosed, 1006);
      assert.deepEqual(received, ['text PING']);
    });

    it("ws's README heartbeat (ping frames, terminate who did not pong) beside tRPC: the tRPC client stays, a mute one goes", async () => {
      const hb = await extraServer();
      const alive = new Map<WsWebSocket, boolean>();
      const pongs = new EventEmitter();
      hb.wss.on('connection', (ws) => {
        alive.set(ws, true);
        ws.on('pong', (data) => {
          alive.set(ws, true);
          pongs.emit('pong', ws, String(data));
        });
      });
      /** One round of the heartbeat: what ws's README runs on an interval. */
      const beat = () => {
        for (const ws of hb.wss.clients) {
          if (alive.get(ws) === false) {
            ws.terminate();
            continue;
          }
          alive.set(ws, false);
          ws.ping('hb');
        }
      };
      const { trpc } = client({ url: hb.url });
      const sub = new Collector<{ id: string; data: number }>();
      assert.equal(await trpc.greet.query({ name: 'hb' }), 'hello hb');
      const trpcSide = hb.sockets.at(-1)!;
      const muteConnected = nextEvent<WsWebSocket>(hb.wss, 'connection');
      const mute = new clientEngine.WebSocket(hb.url, { autoPong: false });
      await nextEvent(mute, 'open', 'error');
      cleanups.push(() => mute.terminate());
      const muteClosed = nextEvent<number>(mute, 'close');
      const muteSide = await muteConnected;
      const muteSideClosed = nextEvent<number>(muteSide, 'close');
      const pongFrom = (ws: WsWebSocket) =>
        new Promise<string>((resolve) => {
          const on = (from: WsWebSocket, data: string) => {
            if (from !== ws) return;
            pongs.off('pong', on);
            resolve(data);
          };
          pongs.on('pong', on);
        });
      for (let round = 1; round <= 3; round++) {
        const pong = pongFrom(trpcSide);
        const muted = round === 1 ? nextEvent<Buffer>(mute, 'ping') : null;
        beat();
        assert.equal(await pong, 'hb', `round ${round}`);
        if (muted) assert.equal(String(await muted), 'hb');
      }
      assert.equal(await muteClosed, 1006);
      assert.equal(await muteSideClosed, 1006);
      assert.deepEqual([...hb.wss.clients], [trpcSide]);
      const done = nextEvent(sub.events, 'complete');
      trpc.count.subscribe({ to: 3 }, sub.handlers);
      await done;
      assert.equal(sub.data.length, 3);
    });

    it("client keepAlive: the server answers the client's PINGs; one that does not is closed by the client", async () => {
      const { trpc, ws } = client({ keepAlive: { enabled: true, intervalMs: 10, pongTimeoutMs: 60_000 } });
      assert.equal(await trpc.greet.query({ name: 'ka' }), 'hello ka');
      const own = ws.connection!.ws as unknown as WsWebSocket;
      let pongs = 0;
      await new Promise<void>((resolve) =>
        own.on('message', (data) => {
          if (String(data) === 'PONG' && ++pongs === 3) resolve();
        }),
      );
      assert.equal(own.readyState, own.OPEN);

      const mute = await extraServer({ handler: { dangerouslyDisablePong: true } });
      const serverClosed = nextEvent<WsWebSocket>(mute.wss, 'connection').then((s) => nextEvent<number>(s, 'close'));
      const silent = client({
        url: mute.url,
        lazy: { enabled: true, closeMs: 60_000 },
        keepAlive: { enabled: true, intervalMs: 10, pongTimeoutMs: 10 },
      });
      const closed = nextEvent<number>(silent.closes, 'close');
      // Opens the lazy client; whether its answer comes before the close does not matter here.
      silent.trpc.greet.query({ name: 'mute' }).catch(() => undefined);
      assert.equal(await closed, 1005);
      assert.equal(await serverClosed, 1005);
    });

    it('a binary encoder (experimental_encoder): binary frames both ways, ArrayBuffers on the client, Buffers on the server', async () => {
      const seen = { server: new Set<string>(), client: new Set<string>() };
      const binary = (side: 'server' | 'client') => ({
        encode: (data: unknown) => new TextEncoder().encode(JSON.stringify(data)),
        decode: (data: string | ArrayBuffer | Uint8Array) => {
          seen[side].add(
            typeof data === 'string' ? 'string' : Buffer.isBuffer(data) ? 'Buffer' : data.constructor.name,
          );
          return JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as unknown;
        },
      });
      const bin = await extraServer({ handler: { experimental_encoder: binary('server') } });
      const { trpc } = client({
        url: bin.url,
        experimental_encoder: binary('client'),
        connectionParams: { token: 'binary' },
      });
      assert.equal((await trpc.whoami.query()).token, 'binary');
      const sub = new Collector<{ id: string; data: number }>();
      const done = nextEvent(sub.events, 'complete');
      trpc.count.subscribe({ to: 5 }, sub.handlers);
      await done;
      assert.equal(sub.data.length, 5);
      assert.deepEqual([...seen.server], ['Buffer']);
      assert.deepEqual([...seen.client], ['ArrayBuffer']);
    });

    it('lazy mode: the client closes the idle connection (the server sees 1005) and opens a new one for the next call', async () => {
      const lazy = await extraServer();
      const { trpc, closes } = client({ url: lazy.url, lazy: { enabled: true, closeMs: 10 } });
      assert.equal(lazy.sockets.length, 0, 'nothing opened before the first call');
      const closed = nextEvent<number>(closes, 'close');
      assert.equal(await trpc.greet.query({ name: 'one' }), 'hello one');
      assert.equal(await closed, 1005);
      assert.equal(await trpc.greet.query({ name: 'two' }), 'hello two');
      assert.equal(lazy.sockets.length, 2);
      assert.equal(await lazy.closeCode(lazy.sockets[0]!), 1005);
    });

    it('an onOpen callback that throws: the client closes the socket with 3000 (seen by the server), the next call reopens', async () => {
      const failing = await extraServer();
      let opens = 0;
      const { trpc, closes } = client({
        url: failing.url,
        lazy: { enabled: true, closeMs: 60_000 },
        onOpen: () => {
          if (++opens === 1) throw new Error('onOpen failed');
        },
      });
      const closed = nextEvent<number>(closes, 'close');
      const first = trpc.greet.query({ name: 'first' }).then(
        () => assert.fail('answered on a socket closed in onOpen'),
        (e: unknown) => e,
      );
      const connected = await nextEvent<WsWebSocket>(failing.wss, 'connection');
      assert.equal(await failing.closeCode(connected), 3000);
      assert.equal(await closed, 3000);
      // close(3000) made the socket CLOSING at once (as in ws), so the call queued behind the open was not sent on it.
      const err = await first;
      assert.ok(err instanceof TRPCClientError);
      assert.equal(err.message, 'Active connection is not open');
      assert.equal(await trpc.greet.query({ name: 'second' }), 'hello second');
      assert.equal(opens, 2);
    });

    it('an upgrade refused by verifyClient (401): onError gets the error event, subscriptions see the state', async () => {
      const refusing = await extraServer({ wss: { verifyClient: () => false } });
      const errors = new EventEmitter();
      const { trpc } = client({
        url: refusing.url,
        retryDelayMs: () => 10,
        onError: (event) => errors.emit('error-event', event),
      });
      const errorEvent = (await nextEvent(errors, 'error-event')) as unknown as { type: string; message: string };
      assert.equal(errorEvent.type, 'error');
      assert.equal(errorEvent.message, 'Unexpected server response: 401');
      // A subscription sees the client connecting, with an error whose cause is the close event (1006) of the refused
      // attempt.
      type Chain = { cause?: Chain; type?: string; code?: number; message?: string } | undefined;
      const closeEventIn = (error: Chain): Chain => {
        for (let c = error; c; c = c.cause) if (c.type === 'close') return c;
        return undefined;
      };
      const state = await new Promise<{ state: string; error: Chain }>((resolve) =>
        trpc.count.subscribe(
          { to: 1 },
          {
            onConnectionStateChange: (s) => {
              if (closeEventIn(s.error as Chain)) resolve(s as { state: string; error: Chain });
            },
          },
        ),
      );
      assert.equal(state.state, 'connecting');
      assert.equal(state.error?.message, 'WebSocket closed');
      assert.equal(closeEventIn(state.error)?.code, 1006);
      assert.equal(refusing.sockets.length, 0);
    });

    it("the standalone adapter's HTTP server shared with the WebSocketServer: calls over HTTP, subscriptions over WS", async () => {
      const { router } = makeRouter(feed);
      const httpServer = createHTTPServer({
        router,
        createContext: ({ req }) => ({ req, res: null as never, token: undefined }),
      });
      const { port } = await listen(httpServer);
      const wss = new serverEngine.WebSocketServer({ server: httpServer });
      applyWSSHandler({ wss, router, createContext: ({ req, res }) => ({ req, res, token: undefined }) });
      cleanups.push(async () => {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await closeServer(httpServer);
      });
      const ws = createWSClient({
        url: `ws://127.0.0.1:${port}`,
        WebSocket: clientEngine.WebSocket as unknown as typeof globalThis.WebSocket,
      });
      cleanups.push(() => ws.close());
      const trpc = createTRPCClient<AppRouter>({
        links: [
          splitLink({
            condition: (op) => op.type === 'subscription',
            true: wsLink<AppRouter>({ client: ws }),
            false: httpLink({ url: `http://127.0.0.1:${port}` }),
          }),
        ],
      });
      assert.equal(await trpc.greet.query({ name: 'over http' }), 'hello over http');
      const sub = new Collector<{ id: string; data: number }>();
      const done = nextEvent(sub.events, 'complete');
      trpc.count.subscribe({ to: 3 }, sub.handlers);
      await done;
      assert.deepEqual(
        sub.data.map((e) => e.data),
        [1, 4, 9],
      );
      assert.equal(wss.clients.size, 1);
      assert.equal(await trpc.append.mutate(1), 1);
    });

    it("wss.close() on a server made with { port }: open connections go on, new ones are refused, 'close' after the last", async () => {
      const wss = new serverEngine.WebSocketServer({ port: 0, host: '127.0.0.1' });
      await nextEvent(wss, 'listening');
      const { router } = makeRouter(feed);
      applyWSSHandler({ wss, router, createContext: ({ req, res }) => ({ req, res, token: undefined }) });
      const wssClosed = nextEvent(wss, 'close');
      cleanups.push(async () => {
        for (const ws of wss.clients) ws.terminate();
        await wssClosed;
      });
      const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
      const { trpc, ws } = client({ url });
      assert.equal(await trpc.greet.query({ name: 'before' }), 'hello before');
      let closeEmitted = false;
      void wssClosed.then(() => {
        closeEmitted = true;
      });
      wss.close();
      assert.equal(await trpc.greet.query({ name: 'during' }), 'hello during');
      const late = new clientEngine.WebSocket(url);
      const refused = await nextEvent<Error & { code?: string }>(late, 'error');
      assert.equal(refused.code, 'ECONNREFUSED');
      assert.equal(closeEmitted, false, "'close' waits for the open connection");
      await ws.close();
      await wssClosed;
    });

    it('broadcastReconnectNotification() + wss.close(): a live subscription moves to the new server without a gap', async () => {
      const oldServer = await extraServer();
      const newServer = await extraServer();
      let target = oldServer.url;
      const { trpc } = client({ url: () => target, retryDelayMs: () => 0 });
      const sub = new Collector<{ id: string; data: string }>();
      const started = nextEvent(oldServer.router.events, 'feed-start');
      trpc.feed.subscribe({}, sub.handlers);
      await started;
      const base = feed.events.length;
      feed.publish('deploy 1');
      await sub.until(base + 1);
      // The deploy: the new instance is up, the old one asks its clients to reconnect and stops accepting.
      target = newServer.url;
      const movedFrom = nextEvent<string | null>(newServer.router.events, 'feed-start');
      const oldEnded = nextEvent(oldServer.router.events, 'feed-end');
      const oldClosed = nextEvent(oldServer.wss, 'close');
      oldServer.handler.broadcastReconnectNotification();
      oldServer.wss.close();
      assert.equal(await movedFrom, String(base + 1));
      await oldEnded;
      // The client closes the old socket once the move is done; the old server's 'close' follows its last client.
      await oldClosed;
      assert.equal(await oldServer.closeCode(oldServer.sockets[0]!), 1005);
      assert.equal(oldServer.wss.clients.size, 0);
      feed.publish('deploy 2');
      await sub.until(base + 2);
      assert.deepEqual(sub.data.slice(-2), [
        { id: String(base + 1), data: 'deploy 1' },
        { id: String(base + 2), data: 'deploy 2' },
      ]);
      assert.equal(sub.data.length, feed.events.length);
      assert.equal(oldServer.sockets.length, 1);
      assert.equal(newServer.sockets.length, 1);
      assert.equal(await trpc.greet.query({ name: 'new' }), 'hello new');
    });

    it('the server stopped and started again on the same port: the client reconnects, the subscription resumes', async () => {
      const first = await extraServer();
      const { trpc, closes } = client({ url: first.url, retryDelayMs: () => 20 });
      const sub = new Collector<{ id: string; data: string }>();
      const started = nextEvent(first.router.events, 'feed-start');
      trpc.feed.subscribe({}, sub.handlers);
      await started;
      const base = feed.events.length;
      feed.publish('restart 1');
      await sub.until(base + 1);
      const closed = nextEvent<number>(closes, 'close');
      await first.stop();
      assert.equal(await closed, 1006);
      // While the server is down, queries wait for the connection.
      const pending = trpc.greet.query({ name: 'waited' });
      feed.publish('restart 2');
      const second = await extraServer({ port: first.port });
      assert.equal(await nextEvent(second.router.events, 'feed-start'), String(base + 1));
      await sub.until(base + 2);
      assert.deepEqual(sub.data.slice(base), [
        { id: String(base + 1), data: 'restart 1' },
        { id: String(base + 2), data: 'restart 2' },
      ]);
      assert.equal(await pending, 'hello waited');
      assert.equal(sub.errors.length, 0);
    });
  });
}
