/**
 * @discordjs/ws 2 (discord.js's gateway client: `new WebSocket(url, [], { handshakeTimeout })` from `ws`, binaryType
 * 'arraybuffer', driven through onopen/onmessage/onerror/onclose, `close(code, reason)` on destroy), run by
 * discord.test.ts with `ws` as installed or aliased to ws-stream/ws, against a local gateway written with
 * ws-stream/ws's own WebSocketServer (the same in both runs) and the REST route it asks first (GET
 * /api/v10/gateway/bot, through @discordjs/rest). The gateway speaks Discord's protocol with zlib-stream transport
 * compression (one deflate context per connection, each payload ending in a sync flush, a large one split across two
 * binary messages): HELLO, IDENTIFY then READY, dispatches, a presence update from the bot, a heartbeat asked for and
 * acknowledged, RECONNECT (the shard closes with 4200 and RESUMEs at resume_gateway_url, missed events replayed), a
 * close with 4000 (resumed again), INVALID_SESSION (a new IDENTIFY on the gateway's URL, after an upgrade left
 * unanswered until the shard's handshakeTimeout), and destroy(). Prints what the bot and the gateway saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import zlib from 'node:zlib';
import { aliased, ours, queue, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of @discordjs/ws and @discordjs/rest. */
interface Manager {
  connect(): Promise<void>;
  destroy(options?: { code?: number; reason?: string }): Promise<void>;
  send(shardId: number, payload: { op: number; d: unknown }): Promise<void>;
  on(event: string, f: (...args: never[]) => void): void;
}
const { WebSocketManager, CompressionMethod } = require('@discordjs/ws') as {
  WebSocketManager: new (options: object) => Manager;
  CompressionMethod: { ZlibNative: number };
};
const { REST } = require('@discordjs/rest') as { REST: new (options: object) => { setToken(token: string): object } };
const result: Record<string, unknown> = { aliased: aliased(require.resolve('@discordjs/ws')) };

const TOKEN = 'bot-token';
const Op = { Dispatch: 0, Heartbeat: 1, Identify: 2, Presence: 3, Resume: 6, Reconnect: 7, Invalid: 9, Hello: 10 };

// The gateway. Each connection: its path and query, the payloads the bot sent (not the heartbeats it sends on its
// own timer, which start at a random time), its close code and reason.
interface Payload {
  op: number;
  d: unknown;
  s?: number;
  t?: string;
}
interface Connection {
  request: string;
  /** Sends a payload, compressed, in order; `split` sends it as two binary messages. */
  send(payload: Payload, split?: boolean): Promise<void>;
  /** The next payload the bot sent that is not an unasked heartbeat. */
  next(): Promise<Payload>;
  /** The sequence in the bot's next heartbeat from now (each is acknowledged). */
  heartbeat(): Promise<unknown>;
  closed: Promise<[number, string]>;
  close(code: number): void;
}
const httpServer = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/api/v10/gateway/bot' && req.headers.authorization === `Bot ${TOKEN}`) {
    res.end(
      JSON.stringify({
        url: gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 3_600_000, max_concurrency: 1 },
      }),
    );
  } else {
    res.statusCode = 404;
    res.end('{"message":"404: Not Found","code":0}');
  }
});
// Upgrades go to the gateway, but for one that `stall` holds unanswered (the bot's handshake timeout ends it).
const gateway = new ours.WebSocketServer({ noServer: true });
let stall: ((socket: net.Socket) => void) | undefined;
httpServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  if (stall) {
    stall(socket);
    stall = undefined;
    return;
  }
  gateway.handleUpgrade(req, socket, head, (ws) => gateway.emit('connection', ws, req));
});
const connections = queue<Connection>();
gateway.on('connection', (ws, req) => {
  const deflate = zlib.createDeflate();
  let sending = Promise.resolve();
  const payloads = queue<Payload>();
  let beat: ((d: unknown) => void) | undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const payload = JSON.parse(String(data)) as Payload;
    if (isBinary) payloads.push({ op: -1, d: 'a binary message' });
    if (payload.op === Op.Heartbeat) {
      void send({ op: 11, d: null });
      beat?.(payload.d);
      beat = undefined;
    } else payloads.push(payload);
  });
  const send = (payload: Payload, split = false): Promise<void> => {
    sending = sending.then(
      () =>
        new Promise<void>((resolve) => {
          const chunks: Buffer[] = [];
          const onData = (chunk: Buffer) => chunks.push(chunk);
          deflate.on('data', onData);
          deflate.write(JSON.stringify(payload));
          deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            deflate.off('data', onData);
            const all = Buffer.concat(chunks);
            if (split) {
              ws.send(all.subarray(0, all.length >> 1));
              ws.send(all.subarray(all.length >> 1));
            } else ws.send(all);
            resolve();
          });
        }),
    );
    return sending;
  };
  const closed = new Promise<[number, string]>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => {
      deflate.close();
      resolve([code, String(reason)]);
    }),
  );
  connections.push({
    request: req.url ?? '',
    send,
    next: payloads.next,
    heartbeat: () => new Promise((resolve) => (beat = resolve)),
    closed,
    close: (code) => ws.close(code),
  });
  void send({ op: Op.Hello, d: { heartbeat_interval: 60_000 } });
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const base = `127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;
const gatewayUrl = `ws://${base}`;

// The bot.
const manager = new WebSocketManager({
  token: TOKEN,
  intents: 513,
  rest: new REST({ api: `http://${base}/api`, version: '10' }).setToken(TOKEN),
  compression: CompressionMethod.ZlibNative,
  // No wait between identifies (the default throttler spaces them 5 s apart, as Discord asks).
  buildIdentifyThrottler: () => ({ waitForIdentify: async () => {} }),
  handshakeTimeout: 1000,
});
const events = queue<string>();
const dispatches = queue<{ t: string; s: number; d: unknown }>();
const closes: number[] = [];
const errors: string[] = [];
manager.on('ready', (data: { session_id: string }) => events.push(`ready ${data.session_id}`));
manager.on('resumed', () => events.push('resumed'));
manager.on('dispatch', (payload: { t: string; s: number; d: unknown }) => dispatches.push(payload));
manager.on('closed', (code: number) => closes.push(code));
manager.on('error', (err: Error) => errors.push(err.message));
manager.on('socketError', (err: Error) => errors.push(`socket ${err?.message}`));

/** A dispatch as the bot saw it. */
const seen = async () => {
  const p = await dispatches.next();
  return [p.t, p.s, p.d];
};

// IDENTIFY, then READY.
const connected = manager.connect();
const c1 = await connections.next();
const identify = (await c1.next()) as { op: number; d: Record<string, unknown> };
await c1.send({
  op: Op.Dispatch,
  t: 'READY',
  s: 1,
  d: { v: 10, session_id: 's1', resume_gateway_url: `ws://${base}/resume`, shard: [0, 1], user: { id: '1' } },
});
await connected;
result.identify = {
  request: c1.request,
  op: identify.op,
  token: identify.d.token,
  intents: identify.d.intents,
  shard: identify.d.shard,
  compress: identify.d.compress,
};
const ready = await dispatches.next();
result.ready = [await events.next(), ready.t, ready.s, (ready.d as { session_id: string }).session_id];
// The shard's socket: ws-stream/ws's WebSocket when aliased.
const shards = (manager as unknown as { strategy: { shards: Map<number, { connection: unknown }> } }).strategy.shards;
result.clientIsOurs = shards.get(0)?.connection instanceof ours.WebSocket;

// Dispatches, one large and split in two messages; the bot's presence update; a heartbeat asked for.
await c1.send({ op: Op.Dispatch, t: 'MESSAGE_CREATE', s: 2, d: { content: 'héllo' } });
await c1.send({ op: Op.Dispatch, t: 'GUILD_CREATE', s: 3, d: { members: 'm'.repeat(300_000) } }, true);
const message = await seen();
const guild = await dispatches.next();
await manager.send(0, { op: Op.Presence, d: { status: 'idle', since: null, activities: [], afk: true } });
const beat = c1.heartbeat();
const acked = new Promise<string>((resolve) =>
  manager.on('heartbeat', (stats: { latency: number }) => resolve(`acknowledged ${stats.latency >= 0}`)),
);
await c1.send({ op: Op.Heartbeat, d: null });
result.running = {
  message,
  guild: [guild.t, guild.s, (guild.d as { members: string }).members.length],
  presence: await c1.next(),
  heartbeat: [await beat, await acked],
};

// RECONNECT: the shard closes with 4200 and resumes at the resume URL; the gateway replays what it missed.
await c1.send({ op: Op.Reconnect, d: null });
const c1Closed = await c1.closed;
const c2 = await connections.next();
const resume = await c2.next();
await c2.send({ op: Op.Dispatch, t: 'MESSAGE_CREATE', s: 4, d: { content: 'missed' } });
await c2.send({ op: Op.Dispatch, t: 'RESUMED', s: 5, d: null });
result.reconnect = {
  closed: c1Closed,
  request: c2.request,
  resume,
  replayed: await seen(),
  event: await events.next(),
};
await seen(); // RESUMED is a dispatch too

// The gateway closes with 4000 (unknown error): resumed again, with the latest sequence.
c2.close(4000);
await c2.closed;
const c3 = await connections.next();
const resume2 = await c3.next();
await c3.send({ op: Op.Dispatch, t: 'RESUMED', s: 6, d: null });
result.closed4000 = { request: c3.request, resume: resume2, event: await events.next() };
await seen();

// INVALID_SESSION, not resumable: the shard closes (1000) and identifies anew on the gateway's URL; the first
// attempt's upgrade is left unanswered until the bot's handshakeTimeout ends it, and it tries again.
const stalled = new Promise<string>((resolve) => {
  stall = (socket) => {
    socket.on('error', () => {});
    // Read on (an upgrade's socket comes paused) to see the bot's end of it (half-open: ours is ended then).
    socket.resume();
    socket.on('end', () => {
      socket.destroy();
      resolve('left unanswered, then ended by the bot');
    });
  };
});
await c3.send({ op: Op.Invalid, d: false });
const c3Closed = await c3.closed;
result.stalled = await stalled;
const c4 = await connections.next();
const identify2 = (await c4.next()) as { op: number; d: Record<string, unknown> };
await c4.send({
  op: Op.Dispatch,
  t: 'READY',
  s: 1,
  d: { v: 10, session_id: 's2', resume_gateway_url: `ws://${base}/resume2`, shard: [0, 1], user: { id: '1' } },
});
result.invalid = { closed: c3Closed, request: c4.request, op: identify2.op, event: await events.next() };
await seen();

// destroy(): the shard closes with the code and reason given.
await manager.destroy({ code: 1000, reason: 'shutting down' });
result.destroyed = await c4.closed;
result.closes = closes;
result.errors = errors;
gateway.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);
