/**
 * `ws-stream serve --pubsub`: a pub/sub server speaking a JSON protocol (text frames, one object
 * each), over the in-memory broker, a Redis or NATS broker (`--broker`), or, with `--workers N`,
 * N node:cluster workers on one port whose topics cross through the primary (ClusterBroker).
 *
 * client → server: {"op":"subscribe","topic":T[,"since":{"offset":N,"epoch":E}]},
 *                  {"op":"unsubscribe","topic":T}, {"op":"publish","topic":T,"data":ANY}
 * server → client: {"op":"subscribed","topic":T,"offset":N,"epoch":E[,"recovered":B]},
 *                  {"op":"message","topic":T,"data":ANY,"offset":N}, {"op":"error","code":C,"message":M}
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';
import type { ResponseHeaders } from '../options.js';
import type { Broker, BrokerMessage } from '../pubsub/broker.js';
import { ClusterBroker } from '../pubsub/cluster-broker.js';
import { PubSub, checkTopic, pubSubDefaults } from '../pubsub/pubsub.js';
import { StreamGroup } from '../stream/group.js';
import { type ReceivedData, WebSocketStream } from '../stream/websocket-stream.js';
import { chatPage } from './pubsub-page.js';
import { answerPageRequest } from './serve.js';
import { stopOnSignals } from './shutdown.js';

export interface PubSubServeOptions {
  host: string;
  port: number;
  quiet: boolean;
  /** redis://H:P or nats://H:P; none: in memory (or through the cluster primary with workers). */
  broker?: string;
  /** Messages kept per topic for recovery. */
  history: number;
  /** Worker processes on one port (node:cluster); 1: this process serves. */
  workers: number;
  handshakeTimeout?: number;
  idleTimeout?: number;
  deflate?: boolean;
}

/** How long history is kept, in seconds. */
const HISTORY_TTL_SECONDS = 300;
/** Publishes of one connection waiting for the broker, past which its messages are not read until one settles. */
const MAX_PUBLISHES_IN_FLIGHT = 32;
/** A subscriber's backlog (PubSub's slowSubscriber.maxBytes): a message must fit it when it is empty. */
const SUBSCRIBER_MAX_BYTES = pubSubDefaults.slowSubscriber.maxBytes;
/** What `messageJson` and the frame header add to a message's data and quoted topic, at most. */
const MESSAGE_OVERHEAD = 96;
const AS_TEXT = Object.freeze({ binary: false });

function ignore(): void {}

/**
 * The broker a `--broker` URL names (its module, and that module its client library, loaded only
 * now). Throws at once for a URL that names no broker. Made while its server is down, it connects
 * by itself once the server is up (PubSub hears `availability` false, then true).
 */
async function loadBroker(url: string): Promise<Broker> {
  const scheme = url.slice(0, Math.max(0, url.indexOf(':')));
  if (scheme === 'redis' || scheme === 'rediss') {
    const { RedisBroker } = await import('../pubsub/redis-broker.js');
    return new RedisBroker(url);
  }
  if (scheme === 'nats') {
    const { NatsBroker } = await import('../pubsub/nats-broker.js');
    return new NatsBroker(url);
  }
  throw new Error(`--broker must be redis://HOST:PORT or nats://HOST:PORT, not ${url}`);
}

/** `{"op":"message",…}` for a message whose data is JSON text: made once per message, for all subscribers. */
function messageJson(m: BrokerMessage): string {
  return `{"op":"message","topic":${JSON.stringify(m.topic)},"data":${m.data.toString('utf8')},"offset":${m.offset}}`;
}

function errorJson(code: string, message: string): string {
  return JSON.stringify({ op: 'error', code, message });
}

const BAD = 'ERR_WS_INVALID_ARGUMENT';

/** Serves the protocol on one connection until it closes. */
export function servePubSubConnection(ws: WebSocketStream, ps: PubSub): void {
  let publishing = 0;
  /** A subscribe not answered yet: the next request waits for it (requests act in the order sent). */
  let subscribing = false;
  let held = false;
  const send = (text: string): void => ws.write(text, AS_TEXT, ignore);
  const fail = (err: unknown): void => {
    const e = err instanceof WebSocketError ? err : new WebSocketError('ERR_WS_BROKER_UNAVAILABLE', String(err));
    send(errorJson(e.code, e.message));
  };
  const resume = (): void => {
    if (held && !subscribing && publishing < MAX_PUBLISHES_IN_FLIGHT) {
      held = false;
      ws.read(onMessage);
    }
  };
  const published = (): void => {
    publishing--;
    resume();
  };
  const handle = (msg: ReceivedData): void => {
    if (msg.binary) return send(errorJson(BAD, 'binary frame: send text frames, one JSON object each'));
    let req: unknown;
    try {
      req = JSON.parse(msg.data.toString('utf8'));
    } catch {
      return send(errorJson(BAD, 'not JSON'));
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return send(errorJson(BAD, 'not a JSON object'));
    }
    const r = req as { op?: unknown; topic?: unknown; since?: unknown; data?: unknown };
    if (r.op !== 'subscribe' && r.op !== 'unsubscribe' && r.op !== 'publish') {
      return send(errorJson(BAD, r.op === undefined ? 'missing op' : `unknown op ${JSON.stringify(r.op)}`));
    }
    if (r.topic === undefined) return send(errorJson(BAD, 'missing topic'));
    try {
      checkTopic(r.topic);
    } catch (err) {
      return fail(err);
    }
    const topic = r.topic;
    if (r.op === 'subscribe') {
      const since = r.since as { offset: number; epoch: string } | undefined;
      subscribing = true;
      ps.subscribe(ws, topic, since === undefined ? {} : { since })
        .then((s) => {
          const reply: Record<string, unknown> = { op: 'subscribed', topic, offset: s.offset, epoch: s.epoch };
          // A repeated subscribe resolves as the first one did: without `since`, nothing was recovered.
          if (since !== undefined) reply.recovered = s.recovered ?? false;
          send(JSON.stringify(reply));
        }, fail)
        .finally(() => {
          subscribing = false;
          resume();
        });
    } else if (r.op === 'unsubscribe') {
      ps.unsubscribe(ws, topic);
    } else {
      if (!('data' in r) || r.data === undefined) return send(errorJson(BAD, 'missing data'));
      let data: string;
      try {
        data = JSON.stringify(r.data);
      } catch {
        // JSON.parse takes any depth; JSON.stringify recurses, and overflows the stack first.
        return send(errorJson(BAD, 'data nested too deeply'));
      }
      const size = Buffer.byteLength(data) + Buffer.byteLength(JSON.stringify(topic)) + MESSAGE_OVERHEAD;
      if (size > SUBSCRIBER_MAX_BYTES) {
        // Larger than any subscriber's backlog: it would close every subscriber (slow-subscriber policy).
        return send(errorJson('ERR_WS_MESSAGE_TOO_BIG', `a message may be at most ${SUBSCRIBER_MAX_BYTES} bytes`));
      }
      publishing++;
      ps.publish(topic, data).then(published, (err) => {
        published();
        fail(err);
      });
    }
  };
  const onMessage = (err: WebSocketError | null, msg?: ReceivedData): void => {
    if (err) return;
    handle(msg!);
    // A subscribe is answered before the next request is read, so a publish sent right after it
    // comes back to its sender; a publisher faster than its broker is not read until a publish settles.
    if (subscribing || publishing >= MAX_PUBLISHES_IN_FLIGHT) held = true;
    else ws.read(onMessage);
  };
  ws.read(onMessage);
}

export interface RunningPubSubServer {
  url: string;
  shutdown(): Promise<void>;
}

/** One process serving the protocol on host:port (a cluster worker shares the port with the others). */
export async function servePubSub(opts: PubSubServeOptions, broker?: Broker): Promise<RunningPubSubServer> {
  const ps = new PubSub({
    broker: broker ?? (opts.broker ? await loadBroker(opts.broker) : undefined),
    history: { size: opts.history, ttlSeconds: HISTORY_TTL_SECONDS },
    format: messageJson,
  });
  ps.on('availability', (up) => {
    if (!opts.quiet) console.error(`broker ${up ? 'available again' : 'unavailable'}`);
  });
  const open = new StreamGroup();
  const streamOptions = {
    handshakeTimeout: opts.handshakeTimeout,
    idleTimeout: opts.idleTimeout,
    perMessageDeflate: opts.deflate ? { serverNoContextTakeover: true } : false,
  };
  const workerId = cluster.isWorker ? String(cluster.worker!.id) : undefined;
  const decorator = (h: ResponseHeaders): void => {
    h.Server = 'ws-stream';
    if (workerId !== undefined) h['X-Ws-Stream-Worker'] = workerId;
  };
  const server = http.createServer((req, res) => {
    answerPageRequest(req, res, chatPage);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const ws = new WebSocketStream(socket, streamOptions);
    ws.accept(req, { head, decorator }, (err) => {
      if (err) {
        if (!opts.quiet) console.error(`handshake refused: ${err.code} ${err.message}`);
        return;
      }
      servePubSubConnection(open.add(ws), ps);
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `ws://${host}:${port}/`,
    shutdown: async () => {
      await open.shutdown({ server, code: 1001, reason: 'server shutting down', deadline: 2000 });
      server.closeAllConnections();
      await ps.close();
    },
  };
}

/**
 * The `serve --pubsub` command: one process, or a cluster primary that forks `workers` workers
 * (each runs this same command and serves) and, without --broker, carries their topics. Prints
 * the URL once every worker listens; SIGINT/SIGTERM close every connection with 1001 and exit 0.
 */
export async function runPubSubServe(opts: PubSubServeOptions): Promise<number> {
  const label = 'ws-stream pub/sub server';
  if (opts.workers > 1 && cluster.isPrimary) {
    const primary = opts.broker
      ? null
      : ClusterBroker.servePrimary({ size: opts.history, ttlSeconds: HISTORY_TTL_SECONDS });
    let stopping = false;
    let listening = 0;
    let url = '';
    const fork = (): void => {
      const w = cluster.fork();
      w.once('listening', (address) => {
        const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
        url = `ws://${host}:${address.port}/`;
        if (++listening === opts.workers) console.log(`${label} listening on ${url} (${opts.workers} workers)`);
      });
    };
    cluster.on('exit', (w, code) => {
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          void primary?.close();
          process.exit(0);
        }
        return;
      }
      if (!opts.quiet) console.error(`worker ${w.id} exited (${code}); starting another`);
      fork();
    });
    for (let i = 0; i < opts.workers; i++) fork();
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      console.log('shutting down');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      setTimeout(() => process.exit(0), 5000).unref();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return -1;
  }
  const broker = cluster.isWorker && !opts.broker ? new ClusterBroker() : undefined;
  const running = await servePubSub(opts, broker);
  if (!cluster.isWorker) console.log(`${label} listening on ${running.url}`);
  const stop = stopOnSignals(running, !cluster.isWorker);
  if (cluster.isWorker) process.once('disconnect', stop); // the primary is gone
  return -1;
}
