/**
 * `ws-stream serve --pubsub`: a pub/sub server speaking a JSON protocol (text frames, one object
 * each), over the in-memory broker, a Redis or NATS broker (`--broker`), or, with `--workers N`,
 * N node:cluster workers on one port whose topics cross through the primary (ClusterBroker).
 *
 * client → server: {"op":"subscribe","topic":T[,"since":{"offset":N,"epoch":E}]},
 *                  {"op":"unsubscribe","topic":T}, {"op":"publish","topic":T,"data":ANY}
 * server → client: {"op":"subscribed","topic":T,"offset":N,"epoch":E[,"recovered":B]} (again, without
 *                  "recovered", when the topic's epoch changes under the subscription),
 *                  {"op":"message","topic":T,"data":ANY,"offset":N}, {"op":"error","code":C,"message":M}
 */
import cluster from 'node:cluster';
import { WebSocketError } from '../errors.js';
import type { Broker, BrokerMessage, HistoryOptions } from '../pubsub/broker.js';
import { ClusterBroker } from '../pubsub/cluster-broker.js';
import { MemoryBroker } from '../pubsub/memory-broker.js';
import { PubSub, checkTopic, pubSubDefaults } from '../pubsub/pubsub.js';
import type { ReceivedData, WebSocketStream } from '../stream/websocket-stream.js';
import { chatPage } from './pubsub-page.js';
import { type RunningServer, serve } from './serve.js';
import type { BrokerUrl } from './args.js';
import { runPrimary, runServer, workerHeaders } from './workers.js';

interface PubSubServeOptions {
  host: string;
  port: number;
  quiet: boolean;
  /** redis://H:P or nats://H:P, checked (`checkBrokerUrl`); none: in memory (or through the cluster primary with workers). */
  broker?: BrokerUrl;
  /**
   * With `broker`: ms the broker may take to answer a command (a publish, a subscribe, a keep-alive
   * PING) before it counts as unavailable, and between keep-alive PINGs; default the brokers' (5000).
   */
  brokerTimeout?: number;
  /** Messages kept per topic for recovery. */
  history: number;
  /** Payload bytes of history kept per topic (the oldest go first); default PubSub's, 16 MiB. */
  historyBytes?: number;
  /**
   * Without --broker: payload bytes of history for all topics together (MemoryBroker's
   * `totalBytes`, in this process or the cluster primary); default the MemoryBroker's.
   */
  historyTotalBytes?: number;
  /** Worker processes on one port (node:cluster); 1: this process serves. */
  workers: number;
  /** Topics one connection may be subscribed to at once (more: ERR_WS_TOO_MANY_TOPICS). */
  maxTopics: number;
  /**
   * Bytes of all connections' publishes waiting for the broker in this process (each worker's own),
   * past which a publish waits, its connection unread, until they drop (see PublishBytesInFlight).
   */
  maxPublishBytesInFlight: number;
  /**
   * With `broker`: payload bytes of live messages a topic holds while it waits for a read of the
   * broker (the broker's `maxHeldBytes`); default the brokers' (4 MiB).
   */
  maxHeldBytes?: number;
  /** Payload bytes of recovered history (`since`) this process holds at once (PubSub's `recovery.maxBytes`); default PubSub's (256 MiB). */
  maxRecoveryBytes?: number;
  /**
   * Ms a client holding recovered history may take nothing while recoveries wait past
   * `maxRecoveryBytes`, before it counts as a slow subscriber (PubSub's `recovery.stallMs`; 0: never);
   * default PubSub's (30 s).
   */
  recoveryStallTimeout?: number;
  handshakeTimeout?: number;
  idleTimeout?: number;
  deflate?: boolean;
}

/** How long history is kept, in seconds. */
const HISTORY_TTL_SECONDS = 300;
/** The history bounds of `opts`. */
function historyOf(opts: PubSubServeOptions): HistoryOptions {
  return { size: opts.history, ttlSeconds: HISTORY_TTL_SECONDS, bytes: opts.historyBytes };
}
/** Publishes of one connection waiting for the broker, past which its messages are not read until one settles. */
const MAX_PUBLISHES_IN_FLIGHT = 32;
/**
 * Bytes of one connection's publishes waiting for the broker, past which its messages are not read
 * until one settles: a publish may be 4 MiB, and 32 of them (~128 MiB a connection) let a few
 * flooding clients swell the server. A publish is always taken while none is in flight, so that a
 * message larger than this never waits for ever.
 */
const MAX_PUBLISH_BYTES_IN_FLIGHT = 8 * 1024 * 1024;
/** A subscriber's backlog by default (PubSub's slowSubscriber.maxBytes), raised to --max-held-bytes. */
const SUBSCRIBER_MAX_BYTES = pubSubDefaults.slowSubscriber.maxBytes;
/** What `messageJson` and the frame header add to a message's data and quoted topic, at most. */
const MESSAGE_OVERHEAD = 96;
const AS_TEXT = Object.freeze({ binary: false });
/** Replies (errors, `subscribed`) waiting to be written past this many buffered bytes hold the next request. */
const REPLY_HIGH_WATER = 1024 * 1024;

function ignore(): void {}

/**
 * The broker a checked `--broker` names (its module, and that module its client library, loaded
 * only now). Made while its server is down, it connects by itself once the server is up (PubSub
 * hears `availability` false, then true).
 *
 * `timeoutMs` (--broker-timeout) is each broker's `commandTimeoutMs` and its `pingIntervalMs` too:
 * a keep-alive PING is a command, and with pings further apart than the timeout a stall would be
 * seen only after the ping interval (Redis: a PING every 5 s, so a 1 s timeout still took 6 s),
 * while NATS drops a connection whose two pings go unanswered, which with pings closer than a
 * long timeout would cut a slow link that the timeout allows.
 */
async function loadBroker(
  { kind, url }: BrokerUrl,
  timeoutMs: number | undefined,
  maxHeldBytes: number | undefined,
): Promise<Broker> {
  const timing = timeoutMs === undefined ? {} : { commandTimeoutMs: timeoutMs, pingIntervalMs: timeoutMs };
  switch (kind) {
    case 'redis': {
      const { RedisBroker } = await import('../pubsub/redis-broker.js');
      return new RedisBroker({ url, ...timing, maxHeldBytes });
    }
    case 'nats': {
      const { NatsBroker } = await import('../pubsub/nats-broker.js');
      // (credentials in the URL become the client's: see NatsBrokerOptions.url)
      return new NatsBroker({ url, ...timing, maxHeldBytes });
    }
  }
}

/** `{"op":"message",…}` for a message whose data is JSON text: made once per message, for all subscribers. */
function messageJson(m: BrokerMessage): string {
  return `{"op":"message","topic":${JSON.stringify(m.topic)},"data":${m.data.toString('utf8')},"offset":${m.offset}}`;
}

/** The longest string of the client's quoted whole in an error message (a longer one is cut). */
const QUOTED_MAX = 64;

/**
 * A client's value, quoted for an error message. An array or object is named, not written out:
 * JSON.parse takes any depth, JSON.stringify overflows the stack on some thousands of levels; a
 * long string is cut, so that an error is never as large as the request that caused it.
 */
function describe(value: unknown): string {
  if (typeof value === 'string' && value.length > QUOTED_MAX) {
    return `${JSON.stringify(value.slice(0, QUOTED_MAX))}… (${value.length} characters)`;
  }
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  return Array.isArray(value) ? '(an array)' : '(an object)';
}

function errorJson(code: string, message: string): string {
  return JSON.stringify({ op: 'error', code, message });
}

const BAD = 'ERR_WS_INVALID_ARGUMENT';

/**
 * Whether `value` (parsed JSON) holds a number too large for a double, which JSON.parse reads as
 * ±Infinity and JSON.stringify writes as `null`. A walk with its own stack (`value` may be nested
 * as deep as JSON.parse takes), looking only at this value.
 */
function hasInfiniteNumber(value: unknown): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (typeof v === 'object' && v !== null) {
      for (const item of Object.values(v)) stack.push(item);
    }
  }
  return false;
}

/** Where a topic stands as a connection was last told (`subscribed`): the first answer, or a new epoch's. */
interface Told {
  offset: number;
  epoch: string;
  /** The first answer's `recovered` (undefined: it had no `since`). */
  recovered: boolean | undefined;
}

/**
 * Per connection and topic, the last `subscribed` sent, so that a repeated subscribe answers it:
 * after a new epoch was announced, the first answer names a history that is gone.
 */
const toldOf = new WeakMap<WebSocketStream, Map<string, Told>>();

/**
 * The bytes of publishes waiting for the broker in this process, and the connections whose next
 * publish waits for them to drop below `max` (--max-publish-bytes-in-flight, 64 MiB), woken in the
 * order they began to wait: many connections each under their own bound
 * (MAX_PUBLISH_BYTES_IN_FLIGHT) do not add up to more. A publish is taken whenever none is in
 * flight, so that one larger than `max` never waits for ever.
 */
class PublishBytesInFlight {
  bytes = 0;
  /** Each waiting connection's `resume` (a Set keeps the order of insertion and adds each once). */
  readonly #waiting = new Set<() => void>();

  constructor(readonly max: number) {}

  get full(): boolean {
    return this.bytes >= this.max;
  }

  /** `resume` is called once the bytes are below the bound. */
  wait(resume: () => void): void {
    this.#waiting.add(resume);
  }

  taken(bytes: number): void {
    this.bytes += bytes;
  }

  settled(bytes: number): void {
    this.bytes -= bytes;
    // One at a time while below the bound: each woken connection sends its publish at once.
    for (const resume of this.#waiting) {
      if (this.full) break;
      this.#waiting.delete(resume);
      resume();
    }
  }
}

/** The limits of one connection (the command line's). */
interface ConnectionLimits {
  /** Topics one connection may be subscribed to at once. */
  maxTopics: number;
  /** This process's publishes waiting for the broker, shared by its connections. */
  inFlight: PublishBytesInFlight;
  /** Each subscriber's backlog (PubSub's slowSubscriber.maxBytes): a published message must fit it empty. */
  subscriberMaxBytes: number;
}

/** Serves the protocol on one connection until it closes. */
function servePubSubConnection(ws: WebSocketStream, ps: PubSub, limits: ConnectionLimits): void {
  let publishing = 0;
  /** The bytes of the publishes counted by `publishing`. */
  let publishingBytes = 0;
  const { inFlight } = limits;
  /** A publish read while this process had too many bytes in flight: sent once they drop; nothing is read meanwhile. */
  let deferred: (() => void) | null = null;
  /** A subscribe not answered yet: the next request waits for it (requests act in the order sent). */
  let subscribing = false;
  /**
   * A subscribe with `since` whose recovered history is not yet handed to the socket: the next
   * request waits for it, so that one connection holds one recovery at a time.
   */
  let recovering = false;
  /** Replies written and not yet handed on: with a backlog, the next request waits for them. */
  let replying = 0;
  let held = false;
  /** The topics this connection is subscribed to (answered `subscribed`, not unsubscribed since). */
  const topics = new Set<string>();
  const told = new Map<string, Told>();
  toldOf.set(ws, told);
  /**
   * An unsubscribe that waits for this connection's publishes sent before it to be taken, so that
   * they reach it first (the in-memory and cluster brokers hand a message to this process's
   * subscribers before its publisher hears its offset); nothing more is read meanwhile.
   */
  let leaving: string | null = null;
  const leave = (topic: string): void => {
    topics.delete(topic);
    told.delete(topic);
    ps.unsubscribe(ws, topic);
  };
  const mustWait = (): boolean =>
    leaving !== null ||
    subscribing ||
    recovering ||
    publishing >= MAX_PUBLISHES_IN_FLIGHT ||
    publishingBytes >= MAX_PUBLISH_BYTES_IN_FLIGHT ||
    deferred !== null ||
    // A client that sends requests and does not read their replies stops being read, as the echo
    // server's does: its replies never pile up in memory.
    (replying > 0 && ws.bufferedAmount > REPLY_HIGH_WATER) ||
    answersBytes > REPLY_HIGH_WATER;
  const resume = (): void => {
    if (deferred !== null) {
      if (inFlight.full) return inFlight.wait(resume);
      const start = deferred;
      deferred = null;
      start();
    }
    if (held && !mustWait()) {
      held = false;
      ws.read(onMessage);
    }
  };
  const replied = (): void => {
    replying--;
    resume();
  };
  const write = (text: string): void => {
    replying++;
    ws.write(text, AS_TEXT, replied);
  };
  /**
   * The publishes in flight, in the order read, each with the replies of the requests read after
   * it: replies go out in the order of the requests they answer, so that a publish's error comes
   * before the reply of anything sent after it (an `error` names no request: its place tells which).
   * Before, a subscribe refused at once (a bad `since`, the broker known down) was answered before
   * the error of a publish sent ahead of it that waited for the broker.
   */
  const answers: { settled: boolean; error: string | null; after: string[] }[] = [];
  /** The bytes of the replies held in `answers`: past REPLY_HIGH_WATER, nothing more is read. */
  let answersBytes = 0;
  const send = (text: string): void => {
    const last = answers.at(-1);
    if (!last) return write(text);
    last.after.push(text);
    answersBytes += text.length;
  };
  const errorText = (err: unknown): string => {
    const e = err instanceof WebSocketError ? err : new WebSocketError('ERR_WS_BROKER_UNAVAILABLE', String(err));
    return errorJson(e.code, e.message);
  };
  const fail = (err: unknown): void => send(errorText(err));
  /** A subscribe read while publishes were in flight: made once they settled (its reply follows theirs). */
  let subscribeNext: (() => void) | null = null;
  const published = (bytes: number): void => {
    publishing--;
    publishingBytes -= bytes;
    inFlight.settled(bytes);
    while (answers[0]?.settled) {
      const { error, after } = answers.shift()!;
      if (error !== null) write(error);
      for (const text of after) {
        answersBytes -= text.length;
        write(text);
      }
    }
    if (leaving !== null && publishing === 0) {
      leave(leaving);
      leaving = null;
    }
    if (subscribeNext !== null && answers.length === 0) {
      const start = subscribeNext;
      subscribeNext = null;
      start();
    }
    resume();
  };
  const handle = (msg: ReceivedData): void => {
    if (msg.binary) return send(errorJson(BAD, 'binary frame: send text frames, one JSON object each'));
    const text = msg.data.toString('utf8');
    let req: unknown;
    try {
      req = JSON.parse(text);
    } catch {
      return send(errorJson(BAD, 'not JSON'));
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return send(errorJson(BAD, 'not a JSON object'));
    }
    const r = req as { op?: unknown; topic?: unknown; since?: unknown; data?: unknown };
    if (r.op !== 'subscribe' && r.op !== 'unsubscribe' && r.op !== 'publish') {
      return send(errorJson(BAD, r.op === undefined ? 'missing op' : `unknown op ${describe(r.op)}`));
    }
    if (r.topic === undefined) return send(errorJson(BAD, 'missing topic'));
    try {
      checkTopic(r.topic);
    } catch (err) {
      return fail(err);
    }
    const topic = r.topic;
    if (r.op === 'subscribe') {
      if (topics.size >= limits.maxTopics && !topics.has(topic)) {
        return send(
          errorJson(
            'ERR_WS_TOO_MANY_TOPICS',
            `not subscribed to ${JSON.stringify(topic)}: a connection may be subscribed to at most ${limits.maxTopics} topics; unsubscribe from one first`,
          ),
        );
      }
      const since = r.since as { offset: number; epoch: string } | undefined;
      subscribing = true;
      // Made once the publishes before it settled: its reply must follow theirs, and its messages
      // follow its reply.
      const start = (): unknown =>
        ps
          .subscribe(ws, topic, since === undefined ? {} : { since })
          .then((s) => {
            topics.add(topic);
            let t = told.get(topic);
            if (!t) told.set(topic, (t = { offset: s.offset, epoch: s.epoch, recovered: s.recovered }));
            const reply: Record<string, unknown> = { op: 'subscribed', topic, offset: t.offset, epoch: t.epoch };
            // A repeated subscribe answers as the first one did: without `since`, nothing was recovered.
            if (since !== undefined) reply.recovered = t.recovered ?? false;
            send(JSON.stringify(reply));
            if (since === undefined) return;
            recovering = true;
            ps._replayed(ws, topic).then(() => {
              recovering = false;
              resume();
            });
          }, fail)
          .finally(() => {
            subscribing = false;
            resume();
          });
      if (answers.length === 0) start();
      else subscribeNext = start;
    } else if (r.op === 'unsubscribe') {
      if (publishing > 0 && topics.has(topic)) leaving = topic;
      else leave(topic);
    } else {
      if (r.data === undefined) return send(errorJson(BAD, 'missing data'));
      let data: string;
      try {
        data = JSON.stringify(r.data);
      } catch {
        // JSON.parse takes any depth; JSON.stringify recurses, and overflows the stack first.
        return send(errorJson(BAD, 'data nested too deeply'));
      }
      const size = Buffer.byteLength(data) + Buffer.byteLength(JSON.stringify(topic)) + MESSAGE_OVERHEAD;
      if (size > limits.subscriberMaxBytes) {
        // Larger than any subscriber's backlog: it would close every subscriber (slow-subscriber policy).
        // (Told as counted: data just under the bound is refused too, the envelope being counted.)
        return send(
          errorJson(
            'ERR_WS_MESSAGE_TOO_BIG',
            `a message may be at most ${limits.subscriberMaxBytes} bytes, its data as JSON, its topic and about ${MESSAGE_OVERHEAD} bytes of envelope counted: this one would be ${size}`,
          ),
        );
      }
      // (A number no double holds is written as null: without a null, there is none to look for.)
      if (data.includes('null') && hasInfiniteNumber(r.data)) {
        return send(errorJson(BAD, 'a number in data is too large for a double (it would arrive as null)'));
      }
      const start = (): void => {
        publishing++;
        publishingBytes += size;
        inFlight.taken(size);
        const answer = { settled: false, error: null as string | null, after: [] as string[] };
        answers.push(answer);
        ps.publish(topic, data).then(
          () => {
            answer.settled = true;
            published(size);
          },
          (err) => {
            answer.settled = true;
            answer.error = errorText(err);
            published(size);
          },
        );
      };
      if (!inFlight.full) return start();
      deferred = start;
      inFlight.wait(resume);
    }
  };
  const onMessage = (err: WebSocketError | null, msg?: ReceivedData): void => {
    if (err) return;
    try {
      handle(msg!);
    } catch (e) {
      // A request this code did not foresee: answered, never the end of the process.
      send(errorJson(BAD, `request not handled: ${e instanceof Error ? e.message : String(e)}`));
    }
    // A subscribe is answered before the next request is read, so a publish sent right after it
    // comes back to its sender; a publisher faster than its broker is not read until a publish settles.
    if (mustWait()) held = true;
    else ws.read(onMessage);
  };
  ws.read(onMessage);
}

interface RunningPubSubServer {
  url: string;
  shutdown(): Promise<void>;
}

/**
 * One process serving the protocol on host:port (a cluster worker shares the port with the
 * others). The HTTP side is `serve`'s, with its defences against hostile clients: the handshake
 * deadline from the TCP connection, 431 and 400 for heads it will not read, the page for GET and
 * HEAD, 405 (with Allow) for another method on it, 404 off it.
 */
async function servePubSub(opts: PubSubServeOptions, broker?: Broker): Promise<RunningPubSubServer> {
  const external = !broker && opts.broker ? await loadBroker(opts.broker, opts.brokerTimeout, opts.maxHeldBytes) : null;
  // What a topic held (up to --max-held-bytes) is let go at once, and while the broker is connected
  // it counts toward each subscriber's backlog: a backlog smaller would close a client that reads.
  const subscriberMaxBytes = Math.max(SUBSCRIBER_MAX_BYTES, opts.maxHeldBytes ?? 0);
  const ps = new PubSub({
    broker: broker ?? external ?? new MemoryBroker({ totalBytes: opts.historyTotalBytes }),
    history: historyOf(opts),
    format: messageJson,
    slowSubscriber: { maxBytes: subscriberMaxBytes },
    recovery: { maxBytes: opts.maxRecoveryBytes, stallMs: opts.recoveryStallTimeout },
  });
  // A --broker that refuses at open (Redis's WRONGPASS) ends `serve` before it listens, rather than
  // leaving a server whose every subscribe fails; a broker merely down opens and connects later.
  if (external) await ps._opened();
  // One merely down is waited for: said now, as a later outage is, so that the first line is not
  // `broker available again` (nor, while it stays down, none at all: a mistyped port said nothing).
  if (external && !ps.brokerAvailable && !opts.quiet) console.error('broker unavailable');
  // A NATS server without JetStream (nats-server's default) carries live messages only: each
  // process counts its own offsets, nothing is kept, no `since` is recovered. Said once, when the
  // broker first connects, also with --quiet: someone must start it with -js (it said nothing,
  // and a checker saw offsets that differed between processes).
  let toldCoreNats = false;
  const tellCoreNats = (): void => {
    if (toldCoreNats || !ps.brokerAvailable || (external as { jetstream?: boolean } | null)?.jetstream !== false)
      return;
    toldCoreNats = true;
    console.error(
      'the NATS server has no JetStream: each process counts its own offsets, no history is kept and no since is recovered (start nats-server with -js)',
    );
  };
  tellCoreNats();
  ps.on('availability', (up) => {
    if (!opts.quiet) console.error(`broker ${up ? 'available again' : 'unavailable'}`);
    if (up) tellCoreNats();
  });
  // Offsets a topic skipped: the clients see the jump in `offset` already; the operator hears it
  // here, and why: history no longer held them (raise --history, --history-bytes or
  // --max-held-bytes), or it could not be read then (the broker's outage, told above).
  ps.on('gap', ({ topic, epoch, from, to, reason }) => {
    if (opts.quiet) return;
    const [offsets, them] = from === to ? [`offset ${from}`, 'it'] : [`offsets ${from} to ${to}`, 'them'];
    const why =
      reason === 'read-failed'
        ? `the broker failed the history read for ${them}`
        : `neither history nor memory held ${them}`;
    console.error(`topic ${JSON.stringify(topic)}: ${offsets} of epoch ${epoch} skipped (${why})`);
  });
  // Refused since (its password changed, a permission taken away): said always, it needs someone to act.
  ps.on('refused', (err) => console.error(err.message));
  // A topic's history was lost under its subscribers (a new epoch): each hears where it stands now,
  // before the new epoch's first message, so that its next `since` names the new epoch.
  ps.on('epoch', ({ ws, topic, offset, epoch }) => {
    const t = toldOf.get(ws as WebSocketStream)?.get(topic);
    if (t) Object.assign(t, { offset, epoch });
    (ws as WebSocketStream).write(JSON.stringify({ op: 'subscribed', topic, offset, epoch }), AS_TEXT, ignore);
  });
  const limits = {
    maxTopics: opts.maxTopics,
    inFlight: new PublishBytesInFlight(opts.maxPublishBytesInFlight),
    subscriberMaxBytes,
  };
  let running: RunningServer;
  try {
    running = await serve({
      host: opts.host,
      port: opts.port,
      quiet: opts.quiet,
      handshakeTimeout: opts.handshakeTimeout,
      idleTimeout: opts.idleTimeout,
      perMessageDeflate: opts.deflate ? { serverNoContextTakeover: true } : false,
      page: chatPage,
      onOpen: (ws) => servePubSubConnection(ws, ps, limits),
      headers: workerHeaders(),
    });
  } catch (err) {
    await ps.close().catch(ignore);
    throw err;
  }
  return {
    url: running.url,
    shutdown: async () => {
      await running.shutdown();
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
      : ClusterBroker.servePrimary(historyOf(opts), { totalBytes: opts.historyTotalBytes });
    return runPrimary(opts, label, () => void primary?.close());
  }
  return runServer(() => servePubSub(opts, cluster.isWorker && !opts.broker ? new ClusterBroker() : undefined), label);
}
