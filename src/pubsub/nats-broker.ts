/**
 * A `Broker` on NATS through `@nats-io/transport-node` and `@nats-io/jetstream` (v3), optional peer
 * dependencies loaded by `open()` only.
 *
 * With JetStream, each topic is one stream (named `<prefix>_<sha256(topic)>`; subjects carry the
 * topic in base64url, since topics may hold characters subjects may not). A publication goes to the
 * stream's subject `<prefix>.in.<topic>`; JetStream gives it the stream's next sequence as it
 * stores it (so offsets are contiguous per topic and assigned with publication) and republishes
 * the stored message, with its sequence in a header, on `<prefix>.out.<topic>`, in sequence order.
 * Each process subscribes to that subject on core NATS: live delivery is pushed as with Redis's
 * PUBLISH, and never waits on (nor is lost to) the history's trimming. `max_msgs` is the history
 * size, `max_bytes` its bytes (JetStream counts each message's subject and headers too, some 100
 * bytes more than its payload), `max_age` its TTL, all with discard old; the epoch is the stream's creation time (a stream lost and made again is
 * a new epoch). History is read with an ordered consumer. One stream per topic suits thousands of
 * topics, not millions. Needs nats-server ≥ 2.9 (republish).
 *
 * Without JetStream on the server, live pub/sub runs on core NATS: offsets are counted by each
 * process as it receives (core NATS orders one publisher's messages, not several publishers'), the
 * epoch is the process's own, and `history` is always `null`. That is decided once, at the first
 * connection, and only on the server's word (`noJetStream`): a JetStream API that does not answer
 * is the broker not available yet, asked again on a new connection.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { WebSocketError } from '../errors.js';
import { untrustedCertificate } from '../stream/next-layer.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import {
  brokerOptions,
  emitAvailability,
  errorText,
  emitMessage,
  OwnDeliveries,
  historyBytes,
  keepConnecting,
  MAX_HELD,
  MAX_HELD_BYTES,
  checkMaxHeldBytes,
  payloadBytes,
  emitRefused,
  isRefusal,
  maskCredentials,
  refused,
  retryPause,
  unavailable,
  untilNextMultiple,
  urlCredentials,
  warn,
  withDeadline,
} from './broker-support.js';

export interface NatsBrokerOptions {
  /**
   * `nats://host:port` or `tls://host:port`, or several, comma-separated, all of one scheme
   * (`tls://`: TLS to each; a mix is ERR_WS_INVALID_ARGUMENT unless `connectOptions.tls`). Default
   * `nats://127.0.0.1:4222`. Credentials in it (`nats://user:pass@H:P`, `nats://token@H:P`,
   * URL-encoded; one set for the whole list) become the client's `user`/`pass` or `token`.
   */
  readonly url?: string;
  /** Prefix of every stream name and subject this broker uses. Default `'ws-stream'`. */
  readonly prefix?: string;
  /** Stream storage: `'file'` (kept across server restarts) or `'memory'`. Default `'file'`. */
  readonly storage?: 'file' | 'memory';
  /** Fail `open()` when the server has no JetStream, instead of running on core NATS. Default false. */
  readonly requireJetStream?: boolean;
  /**
   * Milliseconds a request may take before it fails with `ERR_WS_BROKER_UNAVAILABLE`; also how long
   * a gap's fill waits for a message history no longer holds to be republished late (JetStream's
   * republication is not always in sequence order) before the gap is reported. Default 5000.
   */
  readonly commandTimeoutMs?: number;
  /**
   * Milliseconds between reconnection attempts (at most, for a server down when the broker opens).
   * Attempts after a lost connection fall on the clock's multiples of it (no random jitter), so that
   * the processes of a deployment come back together after a server restart. Default 250.
   */
  readonly reconnectTimeWaitMs?: number;
  /**
   * Milliseconds between the client's keep-alive PINGs (its `pingInterval`). When `maxPingOut` of
   * them are unanswered at the next one, the connection is stalled: the client drops it and
   * reconnects, as when it is lost (so a stall is noticed within `(maxPingOut + 1) × pingIntervalMs`).
   * Default 5000.
   */
  readonly pingIntervalMs?: number;
  /** Unanswered keep-alive PINGs that make the connection stalled (the client's `maxPingOut`). Default 2. */
  readonly maxPingOut?: number;
  /**
   * Payload bytes of live messages a topic holds at most (with at most 10,000 messages) while it
   * waits: for its position or a check, for its catch-up after a reconnection (past it they are
   * dropped and read back from history, and what history no longer holds of them is skipped:
   * `PubSub` emits `'gap'`), or behind a hole it waits for (past it the hole is given up).
   * Default 4 MiB. Raise it when history is small and bursts are large: what is held is this
   * process's memory, per topic.
   */
  readonly maxHeldBytes?: number;
  /**
   * Topics with no subscriber here (and no operation on them running) whose stream the broker
   * remembers (JetStream): its name, epoch and the highest offset this process saw it reach, about
   * 0.6 KB each. Past this many, the least recently used is forgotten, and learned again from the
   * server at its next use (one more request): a process whose clients use many short-lived topics
   * keeps a bounded memory. A forgotten topic's stream rolled back by a server started again with an
   * older store is not noticed by this process (see doc/pubsub.md, *NATS broker*). Default 10,000;
   * 0 forgets a topic as soon as nothing uses it.
   */
  readonly maxIdleTopics?: number;
  /**
   * More options for `connect()` of `@nats-io/transport-node` (TLS, credentials…); the above win.
   * Credentials here (`user`, `pass`, `token` or `authenticator`) replace those of `url`.
   */
  readonly connectOptions?: Readonly<Record<string, unknown>>;
}

// The little of the NATS client this file uses, declared here so that no type of the optional
// dependencies reaches ws-stream's published declarations.
interface MsgHeaders {
  get(key: string): string;
  set(key: string, value: string): void;
}
interface NatsMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: MsgHeaders;
}
interface NatsSubscription {
  unsubscribe(): void;
}
interface NatsConnection {
  publish(subject: string, data: Uint8Array, options?: { headers?: MsgHeaders }): void;
  subscribe(subject: string, options: { callback: (err: Error | null, msg: NatsMsg) => void }): NatsSubscription;
  flush(): Promise<void>;
  status(): AsyncIterable<{ type: string }>;
  close(): Promise<void>;
  /** The server's INFO (the last one, after a reconnection): `jetstream` true when it has JetStream. */
  readonly info?: { readonly max_payload: number; readonly jetstream?: boolean };
  isClosed(): boolean;
}
interface JsMsg {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly headers?: MsgHeaders;
  /** `pending`: how many messages of the stream came after this one when it was delivered. */
  readonly info: { readonly pending: number };
}
type ConsumerMessages = AsyncIterable<JsMsg> & {
  close(): Promise<unknown>;
  /** Ends the iteration of the messages. */
  stop(): void;
  /** The fetch's notifications: `heartbeat`, the server's idle heartbeat (nothing delivered for `idle_heartbeat`). */
  status(): AsyncIterable<{ type: string }>;
};
interface Consumer {
  fetch(options: { max_messages: number; expires: number; idle_heartbeat: number }): Promise<ConsumerMessages>;
  /** With `cached`, the info the consumer was made with: `num_pending`, the messages from its start sequence then. */
  info(cached: true): Promise<{ readonly num_pending: number }>;
}
interface StreamInfo {
  readonly created: string;
  readonly config: {
    readonly max_msgs: number;
    readonly max_bytes: number;
    readonly max_age: number;
    readonly duplicate_window: number;
    readonly republish?: { readonly src?: string; readonly dest?: string };
  };
  readonly state: {
    readonly first_seq: number;
    readonly last_seq: number;
    readonly num_deleted?: number;
    /** With `deleted_details` only. */
    readonly deleted?: readonly number[];
  };
}
interface JetStreamManager {
  readonly streams: {
    add(config: Record<string, unknown>): Promise<StreamInfo>;
    info(name: string, options?: { deleted_details: boolean }): Promise<StreamInfo>;
    update(name: string, config: Record<string, unknown>): Promise<StreamInfo>;
    purge(name: string, options: { seq: number }): Promise<unknown>;
  };
}
interface JetStreamClient {
  publish(
    subject: string,
    data: Uint8Array,
    options: { headers?: MsgHeaders; timeout: number; expect: { streamName: string } },
  ): Promise<{ seq: number }>;
  readonly consumers: {
    get(stream: string, options: Record<string, unknown>): Promise<Consumer>;
  };
}
interface NatsModule {
  connect(options: Record<string, unknown>): Promise<NatsConnection>;
  headers(): MsgHeaders;
}
interface JetStreamModule {
  jetstream(nc: NatsConnection, options: { timeout: number }): JetStreamClient;
  jetstreamManager(nc: NatsConnection, options: { timeout: number }): Promise<JetStreamManager>;
}

const defaults = {
  url: 'nats://127.0.0.1:4222',
  prefix: 'ws-stream',
  storage: 'file',
  requireJetStream: false,
  commandTimeoutMs: 5000,
  reconnectTimeWaitMs: 250,
  pingIntervalMs: 5000,
  maxPingOut: 2,
  maxHeldBytes: MAX_HELD_BYTES,
  maxIdleTopics: 10_000,
} as const;

/** The header that marks a binary message (text messages carry no header). */
const binaryHeader = 'Ws-Binary';
/** The header in which JetStream's republish gives a message's stream sequence. */
const sequenceHeader = 'Nats-Sequence';

/** A topic's stream, as this process knows it. */
interface StreamRef {
  readonly name: string;
  readonly subject: string;
  readonly epoch: string;
  /** The highest sequence this process knows the stream reached: a publication acknowledged at or below it went to a stream made again. */
  high: number;
  /**
   * JetStream announced a stream of this name made since this one was known (deleted and made
   * again by an operator, maybe grown past `high` by other processes): the next publication reads
   * the stream's epoch again.
   */
  renewed: boolean;
}

/** A subscribed topic on this process. */
interface Subscription {
  stream: StreamRef | undefined;
  /** The last offset delivered (JetStream), or counted (core NATS). */
  last: number;
  /** The core subscription that delivers it (restored by the client itself after a reconnection). */
  source: NatsSubscription | undefined;
  /**
   * Live messages waiting, in order of arrival: received before the stream's position was known,
   * while the topic catches up after a reconnection (`holding`), or while a check runs.
   */
  early: NatsMsg[];
  /** Their payload bytes. */
  heldBytes: number;
  /** From a disconnection until the topic has caught up after the reconnection: live messages wait in `early`. */
  holding: boolean;
  /**
   * A live message did not follow the last one (an offset at or below it, past a gap, or the first
   * of a stream that had none): the stream is read again to tell a repeat or a gap from a stream
   * deleted and made again (a new epoch, its sequence from 1), while later messages wait; then,
   * while `late` is set, a hole history no longer holds is waited for.
   */
  checking: boolean;
  /** The gap's fill waits for a late republication (see `#fillGap`); later messages wait in `early`. */
  late: LateFill | undefined;
  /**
   * Live messages were dropped (more than `MAX_HELD` waited, or more than `maxHeldBytes` of
   * payload): the topic's history after `last` is read and delivered before anything newer.
   */
  behind: boolean;
  /** How many times live messages were dropped (so a read knows whether one came after it began). */
  drops: number;
  /**
   * The server refused the core subscription (a permissions violation: the client closes it and
   * tells its callback): `#start` fails with it, instead of a subscription that never delivers.
   */
  refused: WebSocketError | undefined;
  /**
   * `subscribe` resolved: a refusal from now on (permissions reloaded) is told as a process
   * warning, and the subscription is made again until the server takes it (`#resubscribe`).
   */
  started: boolean;
  /** `#resubscribe` runs. */
  resubscribing: boolean;
}

/** A gap's fill, from what its read found in history and the live messages held (see `#fillGap`). */
interface LateFill {
  /** What the read found in history (after the last offset delivered then). */
  readonly found: readonly BrokerMessage[];
  /** The highest offset the read vouches for: a hole at or below it is no longer in history. */
  readonly covered: number;
  /** Gives the hole up once `commandTimeoutMs` have passed without its republication. */
  timer: NodeJS.Timeout | undefined;
  /**
   * Offsets at or below `covered` the stream says an operator deleted (`nats stream rmm`): no
   * republication of them is on its way (they were stored, then deleted), so they are not waited
   * for. Asked once the wait begins (`#askDeleted`).
   */
  readonly deleted: Set<number>;
  /** The deleted offsets were asked for. */
  asked: boolean;
}

/** A gap's fill of what a read found (`LateFill`). */
function lateFill(found: readonly BrokerMessage[], covered: number): LateFill {
  return { found, covered, timer: undefined, deleted: new Set(), asked: false };
}

/**
 * Times a history read whose consumer was deleted under it (by an operator) is made again with a new
 * one, from the next sequence, at once: the server is there, only that consumer is not.
 */
const HISTORY_CONSUMER_RETRIES = 3;

const toBuffer = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

export class NatsBroker implements Broker {
  readonly #options: Required<Omit<NatsBrokerOptions, 'connectOptions'>> & NatsBrokerOptions;
  /** The servers of `url`, without credentials (the client would be refused with them there). */
  readonly #servers: string[];
  /** The credentials `url` names, for the client's `connect()` (none when `connectOptions` has some). */
  readonly #credentials: Readonly<Record<string, string>>;
  /** `url` as errors quote it: its password or token masked. */
  readonly #shownUrl: string;
  /** The client's `tls` option, from `url` and `connectOptions.tls` (`tlsSetting`). */
  readonly #tls: { tls?: unknown };
  #events: BrokerEvents | undefined;
  #history: HistoryOptions = { size: 0, ttlSeconds: 0 };
  #nats: NatsModule | undefined;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  /** Streams by topic, made (or found) once per topic (forgotten with the topic: `#touch`). */
  readonly #streams = new Map<string, Promise<StreamRef>>();
  /** The topic of each stream name made or found here (for JetStream's announcements). */
  readonly #topicOfStream = new Map<string, string>();
  /**
   * The highest sequence this process saw each topic's stream reach (stored, acknowledged or read), with the
   * stream's epoch; kept across reconnections, unlike `#streams`, so that a stream found lower under the same
   * epoch is known to have been rolled back (`#rolledBack`). Forgotten with the topic (`#touch`).
   */
  readonly #reached = new Map<string, { epoch: string; seq: number }>();
  /** Streams (by name, with the epoch) found rolled back that could not be purged, told once (`#rolledBack`). */
  readonly #unpurged = new Map<string, string>();
  /**
   * The idle topics (no subscription here, no operation running) that `#streams`, `#reached` and
   * `#topicOfStream` remember, least recently used first: past `maxIdleTopics`, the first are forgotten (`#touch`).
   */
  readonly #recent = new Set<string>();
  /** Operations running per topic (publish, position, history): their topic is not forgotten meanwhile. */
  readonly #using = new Map<string, number>();
  readonly #topics = new Map<string, Subscription>();
  /** This process's publications waiting for their own delivery here. */
  readonly #own = new OwnDeliveries();
  /** Rejects each caller's JetStream request in flight on the connection (called at its loss and at close: `#untilLost`). */
  readonly #inFlight = new Set<() => void>();
  /** This process's epoch, for core NATS (no JetStream). */
  readonly #coreEpoch = `core-${randomBytes(9).toString('base64url')}`;
  #available = false;
  #closed = false;
  /**
   * Rejects each flush pending (called at `close()`): the closed connection never answers it, and
   * its deadline timer would keep the process alive for `commandTimeoutMs`. One entry per flush,
   * gone when it settles (a race with one promise settled only at close kept a reaction per flush,
   * every publish on core NATS, until then).
   */
  readonly #flushing = new Set<() => void>();
  /** Stops the background connection attempts while the first connection is not made. */
  #stopConnecting: (() => void) | undefined;
  /** Bumped on each disconnection, so a resubscription that outlived its connection stops. */
  #generation = 0;
  /**
   * The server refuses the broker since it opened (a reconnection refused its credentials, or,
   * connecting in the background, its credentials or JetStream): operations reject with this until
   * a connection is accepted.
   */
  #lateRefusal: WebSocketError | null = null;
  /**
   * The last connection made before the broker began found the JetStream API not answering and
   * no proof that the server has none (`#begin`): operations reject with this until one begins.
   */
  #jetStreamSilent: WebSocketError | null = null;
  /** The connection `#begin` asks the JetStream API on (not yet the broker's): `close()` closes it too. */
  #beginning: NatsConnection | undefined;
  /** The message of the refusal told last (`#tell`), until the broker is available again. */
  #told: string | null = null;
  /** How many refusals were met where no operation waits (so a probe knows whether one came meanwhile). */
  #refusals = 0;
  /** The client's `connect()` options for `servers` (set by `open`). */
  #clientOptions: ((servers: string[]) => Record<string, unknown>) | undefined;
  /** `#probe` runs. */
  #probing = false;
  /** Aborted by `close()`: ends the asks of the servers' first words (`firstWords`) at once. */
  readonly #closing = new AbortController();
  /**
   * Whether the client is making a connection again (it said 'reconnecting') and whether the server
   * refused that attempt: one it made without a refusal, then another, failed otherwise.
   */
  #attempt: 'none' | 'made' | 'refused' = 'none';

  constructor(urlOrOptions: string | NatsBrokerOptions = {}) {
    const options = brokerOptions<NatsBrokerOptions>('NatsBroker', urlOrOptions);
    this.#options = { ...defaults, ...options };
    this.#shownUrl = maskCredentials(this.#options.url);
    const { servers, credentials } = serversOf(this.#options.url);
    this.#servers = servers;
    const given = this.#options.connectOptions ?? {};
    const explicit = ['user', 'pass', 'token', 'authenticator'].some((key) => given[key] !== undefined);
    this.#credentials = explicit ? {} : credentials;
    this.#tls = tlsSetting(servers, given.tls);
    if (!/^[A-Za-z0-9_-]+$/.test(this.#options.prefix)) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'NatsBroker: prefix must be letters, digits, _ or -');
    }
    for (const key of ['commandTimeoutMs', 'reconnectTimeWaitMs', 'pingIntervalMs'] as const) {
      const v = this.#options[key];
      if (!Number.isFinite(v) || v <= 0) {
        throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `NatsBroker: ${key} must be a positive number`);
      }
    }
    if (!Number.isSafeInteger(this.#options.maxPingOut) || this.#options.maxPingOut < 1) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'NatsBroker: maxPingOut must be a positive integer');
    }
    checkMaxHeldBytes('NatsBroker', this.#options.maxHeldBytes);
    if (!Number.isSafeInteger(this.#options.maxIdleTopics) || this.#options.maxIdleTopics < 0) {
      throw new WebSocketError(
        'ERR_WS_INVALID_ARGUMENT',
        'NatsBroker: maxIdleTopics must be a whole number, at least 0',
      );
    }
  }

  /** Whether offsets and history come from JetStream (known once open). */
  get jetstream(): boolean {
    return this.#jsm !== undefined;
  }

  async open(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    if (this.#events) throw new WebSocketError('ERR_WS_INVALID_STATE', 'NatsBroker: already opened');
    historyBytes(history);
    this.#events = events;
    this.#history = history;
    let js: JetStreamModule;
    try {
      this.#nats = (await import('@nats-io/transport-node')) as unknown as NatsModule;
      js = (await import('@nats-io/jetstream')) as unknown as JetStreamModule;
    } catch (err) {
      throw unavailable(
        "NatsBroker needs the optional peer dependencies '@nats-io/transport-node' and '@nats-io/jetstream'",
        err,
      );
    }
    const nats = this.#nats;
    const options = (this.#clientOptions = (servers: string[]): Record<string, unknown> => ({
      // The client's own wait is `reconnectTimeWait` plus a random jitter from each process's last
      // attempt: after a server restart one process came back up to a wait later than another,
      // whose publishers meanwhile outran history (390 messages in 250 ms, history 200), and the
      // late one's subscribers lost them. On the clock's multiples, every process tries at once. The
      // client counts a wait from its last attempt, and a timer a millisecond late then moved the next
      // attempt a whole wait past the multiple (4 runs in 6, with a reconnectDelayHandler alone): so
      // the client waits nothing itself, and each reconnection attempt (a server of the list was
      // connected to: not a first connection, which goes at once) waits for the next multiple, counted
      // from the moment it is made. (Not on the INFO the handler is given: the client forgets it at each
      // attempt, and a server that took connections and dropped them was tried in a tight loop.)
      reconnectDelayHandler: () => 0,
      reconnectToServer: (pool: readonly { readonly didConnect: boolean }[]) =>
        pool.some((server) => server.didConnect)
          ? { server: pool[0], delay: untilNextMultiple(this.#options.reconnectTimeWaitMs) }
          : null,
      ...this.#options.connectOptions,
      ...this.#tls,
      ...this.#credentials,
      servers,
      maxReconnectAttempts: -1,
      // After two refusals in a row the client would stop reconnecting for good (its default): a
      // server restarted with other credentials, then put right, would never be used again.
      ignoreAuthErrorAbort: true,
      reconnectTimeWait: this.#options.reconnectTimeWaitMs,
      timeout: this.#options.commandTimeoutMs,
      pingInterval: this.#options.pingIntervalMs,
      maxPingOut: this.#options.maxPingOut,
    }));
    // The last try timed out: a server took the connection and said nothing (no NATS greeting).
    // The client leaves such a connection open for good (nats.js 3 closes only those it made), so
    // from then on a try is made only once a server greets as NATS does. So is the first: a try
    // that times out while its socket is still connecting (a port whose backlog is full) leaves that
    // socket too (nats.js tracks it only once connected), after close() as well, until the kernel
    // gives up on it (~2 minutes), keeping the process alive.
    let silent = true;
    /** What the last greeting said when it was no NATS server's (connect() returned it). */
    let notGreeted: Error | null = null;
    // `opening`: the try open() awaits, whose probe keeps the process alive (serve waits on it before it listens).
    const connect = async (opening: boolean): Promise<NatsConnection | Error> => {
      notGreeted = null;
      if (silent) {
        const greeting = await this.#greeting(opening);
        if (greeting !== true) return (notGreeted = greeting);
      }
      try {
        return await nats.connect(options(this.#servers));
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        silent = e.name === 'TimeoutError';
        return e;
      }
    };
    const first = await connect(true);
    if (!(first instanceof Error)) {
      try {
        await this.#begin(first, js);
        return;
      } catch (err) {
        // JetStream there but not answering (yet): as for a server down, below.
        if (!(err instanceof WebSocketError) || err.code !== 'ERR_WS_BROKER_UNAVAILABLE') throw err;
        if (this.#closed) return;
        this.#jetStreamSilent = err;
      }
    } else {
      // A server that is not NATS (Redis, HTTP…) at the URL: a refusal, told as such.
      const greeting = notGreeted ?? (silent ? await this.#greeting(true) : true);
      if (greeting instanceof NotNatsError) throw this.#refusal(greeting);
      // Refused (credentials, an untrusted certificate): no retry would mend it, so open fails with
      // the reason. The client tries a list's servers in random order and tells the last one's error
      // only: each is asked alone, so that one refusing is told whichever is down.
      const refusedBy = refusal(first)
        ? first
        : this.#servers.length > 1
          ? await this.#refusalOfOne(options)
          : undefined;
      if (refusedBy !== undefined) throw this.#refusal(refusedBy);
    }
    // The server is down (or its JetStream does not answer): open all the same (every operation
    // fails with ERR_WS_BROKER_UNAVAILABLE meanwhile) and connect in the background (the client's
    // own `waitOnFirstConnect` would keep the process alive); `true` is reported once connected.
    emitAvailability(events, false);
    this.#stopConnecting = keepConnecting(async () => {
      if (this.#closed) return true;
      const nc = await connect(false);
      if (nc instanceof Error) {
        // Refused (a server up at last, with other credentials): told, and tried again all the
        // same, the server may be reconfigured. Not refused (down again): an outage, unless after
        // a refusal a server still greets (one attempt lost on a flaky link): the refusal goes on.
        if (this.#closed) return true;
        this.#jetStreamSilent = null;
        if (refusal(nc) || nc instanceof NotNatsError) this.#refusedLate(this.#refusal(nc));
        else if (this.#lateRefusal === null || !(await this.#greets())) this.#refusalEnded();
        return this.#closed;
      }
      if (this.#closed) {
        await nc.close().catch(() => {});
        return true;
      }
      try {
        await this.#begin(nc, js);
      } catch (err) {
        // (JetStream refused, or required and missing: told, and tried again, the server may be
        // restarted with it. Not answering: operations say so meanwhile.)
        if (err instanceof WebSocketError && err.code === 'ERR_WS_BROKER_REFUSED') this.#refusedLate(err);
        else if (err instanceof WebSocketError) this.#jetStreamSilent = err;
        return false;
      }
      if (!this.#closed) emitAvailability(this.#events!, true);
      return true;
    }, this.#options.reconnectTimeWaitMs);
  }

  /** `err`, the server refusing a connection, as ERR_WS_BROKER_REFUSED (never the password). */
  #refusal(err: Error): WebSocketError {
    if (err instanceof NotNatsError) return refused(`NatsBroker: ${err.message}`, err);
    if (noTls(err)) {
      return refused(
        `NatsBroker: ${this.#shownUrl}: the server there speaks NATS without TLS, which the broker asks for`,
        err,
      );
    }
    return refused(`NatsBroker: NATS refused the connection to ${this.#shownUrl}: ${errorText(err)}`, err);
  }

  /** The server refuses the broker (`err`) where no operation waits: told once per reason, operations reject with it. */
  #refusedLate(err: WebSocketError): void {
    this.#refusals++;
    this.#lateRefusal = err;
    this.#tell(err);
  }

  /** The server no longer refuses (it cannot be reached): operations reject as in an outage, and a refusal after is told. */
  #refusalEnded(): void {
    this.#lateRefusal = null;
    this.#told = null;
  }

  /**
   * A reconnection failed without the server refusing it (the client tells no more): the server
   * down, or TLS on one side only (restarted with or without it), which the client does not tell
   * apart. Asked as at open: whether a server greets as NATS does, then whether one refuses a
   * connection of its own. Refused, it is told; nothing there (no greeting), any refusal before is
   * over: an outage. A server that greets is up: a refusal before goes on (one attempt lost on a
   * flaky link is no outage; the next attempt tells whether it still refuses or accepts).
   */
  #probe(): void {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    const refusals = this.#refusals;
    void (async (): Promise<Error | 'up' | undefined> => {
      const tls = this.#tlsOption();
      if (tls?.handshakeFirst !== true) {
        const answers = await this.#firstWords();
        const greeting = this.#greeted(answers);
        if (greeting !== true) return greeting instanceof NotNatsError ? greeting : undefined;
        // Without TLS asked for on either side, nothing the client does not tell can refuse it.
        // (Else a connection of its own, its CONNECT sent inside TLS if at all.)
        if (!tls && !answers.some((a) => /^INFO .*"tls_(required|available)":\s*true/.test(a))) return 'up';
        // (Only those that greeted: the client leaves a connection to a silent server open for good.)
        const greeted = this.#servers.filter((_, i) => answers[i]!.startsWith('INFO'));
        return (await this.#refusalOfOne(this.#clientOptions!, greeted)) ?? 'up';
      }
      return this.#refusalOfOne(this.#clientOptions!);
    })().then((refusedBy) => {
      this.#probing = false;
      if (this.#closed || this.#available || refusedBy === 'up') return;
      if (refusedBy !== undefined) this.#refusedLate(this.#refusal(refusedBy));
      else if (this.#refusals === refusals) this.#refusalEnded();
    }, warn);
  }

  /** A refusal met in the background (`onRefused`), unless it is the one told last since the broker was available. */
  #tell(err: unknown): void {
    if (!isRefusal(err) || err.message === this.#told) return;
    this.#told = err.message;
    emitRefused(this.#events!, err);
  }

  /**
   * Whether a server of the list greets as NATS does (`INFO {…}`, sent first on every connection;
   * true also when TLS comes first, then nothing can be seen), else why not: a `NotNatsError` when
   * one answered otherwise (Redis, HTTP: asked `PING` after half the wait), or a plain Error.
   */
  async #greeting(keepAlive = false): Promise<true | Error> {
    const tls = this.#options.connectOptions?.tls as { handshakeFirst?: boolean } | undefined;
    if (tls?.handshakeFirst === true) return true;
    return this.#greeted(await this.#firstWords(keepAlive));
  }

  /** The TLS the client is asked for (from `url` or `connectOptions`), if any. */
  #tlsOption(): { handshakeFirst?: boolean } | null | undefined {
    return this.#clientOptions!(this.#servers).tls as { handshakeFirst?: boolean } | null | undefined;
  }

  /** Whether a server of the list greets as NATS does now: up (unseen when TLS comes first: false). */
  async #greets(): Promise<boolean> {
    const tls = this.#tlsOption();
    return tls?.handshakeFirst !== true && this.#greeted(await this.#firstWords()) === true;
  }

  /** What each of `#servers` says first (`firstWords`). */
  #firstWords(keepAlive = false): Promise<string[]> {
    const ms = this.#options.commandTimeoutMs;
    return Promise.all(this.#servers.map((server) => firstWords(server, ms, this.#closing.signal, keepAlive)));
  }

  /** `#greeting` from what the servers said first (`answers`). */
  #greeted(answers: string[]): true | Error {
    const ms = this.#options.commandTimeoutMs;
    if (answers.some((a) => a.startsWith('INFO'))) return true;
    const i = answers.findIndex((a) => a !== '');
    if (i >= 0) {
      const said = JSON.stringify(answers[i]!.split(/\r?\n/)[0]!.slice(0, 64));
      return new NotNatsError(`${maskCredentials(this.#servers[i]!)} is not a NATS server: it answered ${said}`);
    }
    return new Error(`no NATS server greeted within ${ms} ms`);
  }

  /** The refusal of the first of `servers` that refuses a connection of its own (see `open`), if one does. */
  async #refusalOfOne(
    options: (servers: string[]) => Record<string, unknown>,
    servers = this.#servers,
  ): Promise<Error | undefined> {
    const nats = this.#nats!;
    const errors = await Promise.all(
      servers.map(async (server) => {
        try {
          const nc = await nats.connect({ ...options([server]), reconnect: false, maxReconnectAttempts: 0 });
          await nc.close().catch(() => {}); // (up by now: the background connection takes it)
          return undefined;
        } catch (err) {
          return refusal(err) ? (err as Error) : undefined;
        }
      }),
    );
    return errors.find((err) => err !== undefined);
  }

  /** Takes `nc` as the broker's connection, with JetStream when the server has it; then available. */
  async #begin(nc: NatsConnection, js: JetStreamModule): Promise<void> {
    const timeout = this.#options.commandTimeoutMs;
    let jsm: JetStreamManager | undefined;
    try {
      this.#beginning = nc;
      jsm = await js.jetstreamManager(nc, { timeout });
    } catch (err) {
      // JetStream there but refused to this user (its API or the replies' inbox denied by its
      // permissions): a refusal, not a server without JetStream, on which the broker would run on
      // core NATS without telling (no history, offsets per process).
      const denied = permissionViolation(err);
      const absent = !denied && noJetStream(err, nc);
      if (!absent || this.#options.requireJetStream) {
        await nc.close().catch(() => {});
        if (denied) {
          throw refused(
            `NatsBroker: NATS refused the JetStream API to this user on ${this.#shownUrl}: ${errorText(denied)}`,
            err,
          );
        }
        // The JetStream API did not answer in time (a loaded server, say) or failed otherwise: no
        // proof that there is none, and core NATS is for the broker's whole life. Not available
        // yet: asked again on a new connection.
        if (!absent) {
          throw unavailable(
            `NatsBroker: the JetStream API of ${this.#shownUrl} did not answer: ${errorText(err)}`,
            err,
          );
        }
        throw refused(`NatsBroker: no JetStream on ${this.#shownUrl} (requireJetStream)`, err);
      }
    } finally {
      this.#beginning = undefined;
    }
    if (this.#closed) {
      await nc.close().catch(() => {});
      return;
    }
    this.#nc = nc;
    if (jsm) {
      this.#jsm = jsm;
      this.#js = js.jetstream(nc, { timeout });
      // JetStream announces each stream it makes: a topic's stream made again (by an operator,
      // or by another process after it was deleted) is a new epoch, which a process that only
      // publishes would not see in its acknowledgements once the stream grew past what it knew.
      // (Restored by the client after a reconnection; refused by the server's permissions, it is
      // simply not heard, as before.)
      nc.subscribe('$JS.EVENT.ADVISORY.STREAM.CREATED.*', {
        callback: (err, m) => {
          if (err) return;
          const topic = this.#topicOfStream.get(m.subject.slice(m.subject.lastIndexOf('.') + 1));
          if (topic === undefined) return;
          this.#streams.get(topic)?.then(
            (ref) => {
              ref.renewed = true;
            },
            () => {},
          );
        },
      });
    }
    this.#available = true;
    this.#lateRefusal = null;
    this.#jetStreamSilent = null;
    this.#told = null;
    this.#watch(nc).catch(warn);
  }

  async publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    const nc = this.#ready();
    let headers: MsgHeaders | undefined;
    if (binary) {
      headers = this.#nats!.headers();
      headers.set(binaryHeader, '1');
    }
    if (!this.#js) {
      try {
        nc.publish(this.#subject(topic, 'out'), data, { headers });
        // (The client rejects the flush itself only at its first reconnection attempt.)
        await this.#untilLost(
          this.#flush(nc, 'publish'),
          'while the publish was in flight: the message may have been delivered',
        );
      } catch (err) {
        if (err instanceof WebSocketError) throw err; // (the connection lost meanwhile: `#untilLost`)
        throw this.#tooBig(err, data) ?? failure(err);
      }
      return this.#corePosition(topic);
    }
    const js = this.#js;
    // (Its topic is not forgotten while the publication is on its way: `#touch`.)
    return this.#whileUsing(topic, async () => {
      for (let attempt = 0; ; attempt++) {
        // (Its stream made first on a topic new here: nothing sent yet if the connection is lost then.)
        const stream = await this.#untilLost(this.#stream(topic), 'before the message was sent: it was not stored');
        let seq: number;
        try {
          seq = (
            await this.#untilLost(
              js.publish(stream.subject, data, {
                headers,
                timeout: this.#options.commandTimeoutMs,
                expect: { streamName: stream.name },
              }),
              'while the publish was in flight: the message may have been stored',
            )
          ).seq;
        } catch (err) {
          const big = this.#tooBig(err, data);
          if (big) throw big;
          if (err instanceof WebSocketError) throw err; // (the connection lost meanwhile: `#untilLost`)
          // No stream took it (the client says "no responders" this way): it was deleted, make it
          // again, once. Any other failure is not retried: the message may have been stored.
          this.#streams.delete(topic);
          const gone = (err as { name?: string }).name === 'JetStreamNotEnabled';
          if (!gone || attempt > 0 || !this.#available) {
            // Its acknowledgement not back in time: JetStream may have stored it all the same.
            const late = (err as { name?: string }).name === 'TimeoutError';
            throw late
              ? unavailable(
                  `no acknowledgement within ${this.#options.commandTimeoutMs} ms: the message may have been stored`,
                  err,
                )
              : failure(err);
          }
          continue;
        }
        let at: TopicPosition;
        if (seq > stream.high && !stream.renewed) {
          stream.high = seq;
          at = { offset: seq, epoch: stream.epoch };
        } else {
          // A sequence this stream had passed, or JetStream announced the stream made again: it was
          // deleted and made again since this process looked (by an operator); its epoch is read.
          // (A request of its own: released at the loss too, or it would wait out `commandTimeoutMs`.)
          try {
            const { stream: now } = await this.#untilLost(
              this.#current(topic),
              `while the epoch of the stream that stored the message was read: the message was stored (offset ${seq}), its epoch unknown`,
            );
            at = { offset: seq, epoch: now.epoch };
          } catch (err) {
            throw err instanceof WebSocketError ? err : failure(err);
          }
        }
        this.#saw(topic, at.epoch, seq);
        // Subscribed here: settled once this process delivered it (see OwnDeliveries).
        const sub = this.#topics.get(topic);
        if (sub !== undefined && !(sub.stream?.epoch === at.epoch && sub.last >= at.offset)) {
          await this.#own.wait(topic, at, this.#options.commandTimeoutMs);
        }
        return at;
      }
    });
  }

  async subscribe(topic: string): Promise<void> {
    this.#ready();
    if (this.#topics.has(topic)) return;
    const sub: Subscription = {
      stream: undefined,
      last: 0,
      source: undefined,
      early: [],
      heldBytes: 0,
      holding: false,
      checking: false,
      late: undefined,
      behind: false,
      drops: 0,
      refused: undefined,
      started: false,
      resubscribing: false,
    };
    this.#topics.set(topic, sub);
    this.#recent.delete(topic); // (not idle: not forgotten while subscribed)
    try {
      // (What the start still does after the loss finds the topic gone: it stops there.)
      await this.#untilLost(this.#start(topic, sub, this.#generation), 'while the topic was subscribed to');
      sub.started = true;
    } catch (err) {
      if (this.#topics.get(topic) === sub) {
        this.#topics.delete(topic);
        this.#own.release(topic); // publishes waiting for a delivery that will not come here
        this.#idleNow(topic);
      }
      stop(sub);
      throw err instanceof WebSocketError ? err : failure(err);
    }
  }

  async unsubscribe(topic: string): Promise<void> {
    const sub = this.#topics.get(topic);
    if (!sub) return;
    this.#topics.delete(topic);
    this.#own.release(topic);
    this.#endLate(sub); // (what a hole's wait holds is let go now, not at its timeout)
    stop(sub);
    this.#idleNow(topic);
  }

  async position(topic: string): Promise<TopicPosition> {
    this.#ready();
    if (!this.#jsm) return this.#corePosition(topic);
    const { stream, info } = await this.#whileUsing(topic, () =>
      this.#untilLost(this.#current(topic), "while the topic's position was read"),
    );
    return { offset: info.state.last_seq, epoch: stream.epoch };
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    this.#ready();
    return this.#whileUsing(topic, () =>
      this.#untilLost(this.#historyOf(topic, since), "while the topic's history was read"),
    );
  }

  /** `work` on `topic`, which is not forgotten meanwhile (`#touch`). */
  async #whileUsing<T>(topic: string, work: () => Promise<T>): Promise<T> {
    this.#using.set(topic, (this.#using.get(topic) ?? 0) + 1);
    this.#recent.delete(topic);
    try {
      return await work();
    } finally {
      const left = this.#using.get(topic)! - 1;
      if (left > 0) this.#using.set(topic, left);
      else {
        this.#using.delete(topic);
        this.#idleNow(topic);
      }
    }
  }

  /** `topic` may be idle now (unsubscribed, or its last operation done): it becomes the most recently used idle one. */
  #idleNow(topic: string): void {
    if (this.#reached.has(topic) || this.#streams.has(topic)) this.#touch(topic);
  }

  /**
   * What the broker remembers of `topic` was used or added just now. Idle (no subscription here, no
   * operation running), it becomes the most recently used of the idle topics remembered, and the
   * least recently used past `maxIdleTopics` are forgotten; otherwise it is kept, and is counted
   * again once idle (`#idleNow`). A forgotten topic is learned again from the server at its next
   * use, as after a reconnection (its stream made or found, its epoch read).
   */
  #touch(topic: string): void {
    this.#recent.delete(topic);
    if (this.#topics.has(topic) || this.#using.has(topic)) return;
    this.#recent.add(topic);
    while (this.#recent.size > this.#options.maxIdleTopics) this.#forget(this.#recent.values().next().value as string);
  }

  /** Forgets what the broker remembers of `topic`'s stream (`#touch`). */
  #forget(topic: string): void {
    this.#recent.delete(topic);
    this.#streams.delete(topic);
    this.#reached.delete(topic);
    const name = this.#streamName(topic);
    if (this.#topicOfStream.get(name) === topic) this.#topicOfStream.delete(name);
    this.#unpurged.delete(name);
  }

  /**
   * The stored messages after `since.offset`, or null (another epoch, an offset never reached, no
   * history kept but a `since` at the newest offset, or, unless `partial`, a range history no longer holds whole). With `partial`, what
   * history still holds of that range: a gap is filled with what history still has, only the older
   * messages are lost (doc/pubsub.md).
   */
  async #historyOf(topic: string, since: TopicPosition, partial = false): Promise<BrokerMessage[] | null> {
    if (!this.#js || (this.#history.size === 0 && partial)) return null;
    if (!Number.isSafeInteger(since.offset) || since.offset < 0) return null;
    const { stream, info } = await this.#current(topic);
    const newest = info.state.last_seq;
    if (since.epoch !== stream.epoch || since.offset > newest) return null;
    // With history size 0 (the stream keeps one message: JetStream's least), only a `since` at the
    // newest offset is covered: nothing was missed.
    if (this.#history.size === 0 && since.offset < newest) return null;
    // Messages are removed from the front only (max_msgs, max_bytes, max_age): the range is whole when its
    // first message is still there.
    let from = since.offset;
    if (info.state.first_seq > since.offset + 1) {
      if (!partial) return null;
      from = info.state.first_seq - 1;
    }
    // A message deleted by an operator at the end of the range (`nats stream rmm`) leaves the stream's
    // last sequence where it was: the read would wait for it until its fetch expired, then fail as
    // ended early, again at each retry, losing what it read. The deleted sequences are asked for
    // (only when the stream has some) and the read ends at the last one still there.
    let last = info.state.last_seq;
    if ((info.state.num_deleted ?? 0) > 0 && this.#jsm) {
      const detailed = await this.#jsm.streams.info(stream.name, { deleted_details: true });
      const deleted = new Set(detailed.state.deleted ?? []);
      // (Not whole: as a hole met in the middle of the read. The deleted ones are walked, not the range.)
      if (!partial && [...deleted].some((seq) => seq > from && seq <= last)) return null;
      while (last > from && deleted.has(last)) last--;
    }
    if (from >= last) return [];
    const out: BrokerMessage[] = [];
    // (The client refuses a fetch that expires in less than a second.)
    const expires = Math.max(1000, this.#options.commandTimeoutMs);
    // One ordered consumer reads the range; one deleted under the read (by an operator) is made
    // again from the next sequence, HISTORY_CONSUMER_RETRIES times at most.
    // The sequence after the last one read: with `partial`, a message deleted by an operator in the
    // middle of the range (`nats stream rmm`) leaves a hole, and what follows it is read on.
    const next = (): number => (out.at(-1)?.offset ?? from) + 1;
    // The rest of the range was deleted (by an operator) since the info was read: the read ends at
    // the last message still there, as for one deleted before (above). Seen at once when the consumer
    // is made with no message left (`num_pending`), a message comes with none after it (`pending`), or
    // one past the range comes; deleted once the consumer is made (its pending counts do not see it,
    // nats-server 2.9), at the fetch's first idle heartbeat (`#restDeleted`). Before, the read waited
    // for the deleted one until its fetch expired (`commandTimeoutMs`) and failed as ended early,
    // losing what it had read.
    let gone = false;
    let retry = 0;
    for (; ; retry++) {
      const start = next();
      let messages: ConsumerMessages | undefined;
      try {
        const consumer = await this.#js.consumers.get(stream.name, {
          deliver_policy: 'by_start_sequence',
          opt_start_seq: start,
        });
        if ((await consumer.info(true)).num_pending === 0) {
          if (!partial) return null; // (not whole)
          gone = true;
          break;
        }
        // nats-server 2.9 does not tell a pull that its consumer was deleted: the client finds out when
        // two heartbeats are missed (it then asks for the consumer), so they come every second, not
        // every `expires / 2` (the client's default), and the read is made again within its deadline.
        const idle_heartbeat = Math.min(1000, expires / 2);
        const fetched = await consumer.fetch({ max_messages: last - start + 1, expires, idle_heartbeat });
        messages = fetched;
        void (async () => {
          for await (const status of fetched.status()) {
            if (status.type !== 'heartbeat' || gone) continue;
            if (await this.#restDeleted(stream.name, next(), last)) {
              gone = true;
              fetched.stop();
            }
          }
        })().catch(() => {}); // (a failed ask: the read's own deadline goes on)
        const read = async (): Promise<boolean> => {
          for await (const m of fetched) {
            if (m.seq > last) {
              // Past the range: what was left of it is gone (before, a catch-up took the whole read for
              // history holding none of it, and lost what it had read).
              if (!partial) return false;
              gone = true;
              break;
            }
            if (m.seq !== next()) {
              // Expired or trimmed between the info and the fetch, or deleted: the range is no longer
              // whole. With `partial`, what is left of it is read, as if that had come before the info
              // (its oldest messages lost), and past a hole in its middle (a message deleted) what
              // follows: the caller gives the hole up, never what history still holds after it (before,
              // the whole read came back null, and a catch-up lost them).
              if (!partial) return false;
              if (out.length === 0) from = m.seq - 1;
            }
            out.push(this.#message(topic, stream.epoch, m));
            if (m.seq === last) break;
            if (m.info.pending === 0) {
              if (!partial) return false;
              gone = true;
              break;
            }
          }
          return true;
        };
        // The server ends the fetch when it expires, if the request reached it: a stalled
        // connection would leave it waiting, so the read has its own deadline.
        if (!(await withDeadline(read(), expires + 1000, 'history'))) return null;
        break;
      } catch (err) {
        if (!consumerGone(err) || retry === HISTORY_CONSUMER_RETRIES) throw failure(err);
      } finally {
        messages?.close().catch(() => {});
      }
    }
    // A consumer made again is made on the stream of that name now: one deleted with its consumer
    // and made again (another epoch) would have given its own messages at this one's offsets.
    if (retry > 0) {
      const now = await this.#current(topic);
      if (now.stream.epoch !== stream.epoch) return null;
    }
    if (gone && !partial) return null; // (not whole)
    // Fewer than the stream held (the connection lost, the fetch expired): a failed read, not a
    // trimmed history (that shows as a first sequence past `since`).
    if (next() !== last + 1 && !gone) {
      // Expired or trimmed while it was read (max_age, max_msgs, max_bytes): history no longer covers `since`.
      const now = await this.#current(topic).catch(() => null);
      if (now !== null && (now.stream.epoch !== stream.epoch || now.info.state.first_seq > from + 1)) return null;
      throw unavailable(`history of ${topic}: the read ended early`);
    }
    return out;
  }

  /** Whether the stream `name` holds none of `from`…`last` now (deleted, or trimmed away). */
  async #restDeleted(name: string, from: number, last: number): Promise<boolean> {
    if (from > last) return false;
    const { state } = await this.#jsm!.streams.info(name, { deleted_details: true });
    if (state.last_seq < last) return false; // (another stream by now: the read's end says so)
    const deleted = new Set(state.deleted ?? []);
    for (let seq = Math.max(from, state.first_seq); seq <= last; seq++) if (!deleted.has(seq)) return false;
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#own.release();
    // A request in flight is cut off as at a lost connection, saying what it was (a publish: the
    // message may have been stored), as RedisBroker does; not the client's bare "connection closed".
    for (const lost of this.#inFlight) lost();
    this.#inFlight.clear();
    for (const closed of this.#flushing) closed();
    this.#flushing.clear();
    this.#stopConnecting?.();
    this.#available = false;
    // No UNSUB each: closing the connection ends every subscription, and an UNSUB queued just as
    // the server went away was written after the socket ended, an uncaught 'write after end'.
    for (const sub of this.#topics.values()) this.#endLate(sub);
    this.#topics.clear();
    // (One being begun would wait for the JetStream API's answer until `commandTimeoutMs`.)
    await this.#beginning?.close().catch(() => {});
    await this.#nc?.close().catch(() => {});
  }

  /**
   * ERR_WS_MESSAGE_TOO_BIG when `err` is the client refusing `data` before sending it (over the
   * server's `max_payload`, headers included): nothing was sent, the connection is not touched.
   */
  #tooBig(err: unknown, data: Buffer): WebSocketError | undefined {
    const e = err as { name?: string; message?: string } | null;
    if (e?.name !== 'InvalidArgumentError' || !e.message?.includes('max_payload')) return undefined;
    const max = this.#nc?.info?.max_payload;
    return new WebSocketError(
      'ERR_WS_MESSAGE_TOO_BIG',
      `${data.length} bytes: over the NATS server's max_payload${max === undefined ? '' : ` (${max} bytes, headers included)`}`,
      { cause: err },
    );
  }

  /**
   * `request`, JetStream requests a caller waits for (a publish, a subscription, a position or history read), or
   * ERR_WS_BROKER_UNAVAILABLE (the connection was lost `when`) as soon as the connection is lost, as
   * Redis refuses a command in flight then: its answer would not come on this connection, and the
   * client would wait `commandTimeoutMs` for it.
   */
  #untilLost<T>(request: Promise<T>, when: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const lost = (): void => reject(unavailable(`the connection was lost ${when}`));
      this.#inFlight.add(lost);
      // (Its own rejection or answer after the loss has no one to tell.)
      request.then(resolve, reject).finally(() => this.#inFlight.delete(lost));
    });
  }

  /** `nc.flush()`, failing after `commandTimeoutMs` or when the broker closes, whichever is first. */
  #flush(nc: NatsConnection, what: string): Promise<void> {
    const flushed = new Promise<void>((resolve, reject) => {
      const closed = (): void => reject(unavailable('the broker is closed'));
      if (this.#closed) return closed();
      this.#flushing.add(closed);
      nc.flush()
        .then(resolve, reject)
        .finally(() => this.#flushing.delete(closed));
    });
    return withDeadline(flushed, this.#options.commandTimeoutMs, what);
  }

  #ready(): NatsConnection {
    if (this.#closed) throw unavailable('the broker is closed');
    if (!this.#nc) {
      // (Opened while the server was down: connecting in the background.)
      if (!this.#stopConnecting) throw unavailable('the broker is not open');
      throw this.#lateRefusal ?? this.#jetStreamSilent ?? unavailable(`not connected to ${this.#shownUrl} yet`);
    }
    if (!this.#available) throw this.#lateRefusal ?? unavailable(`no connection to ${this.#shownUrl}`);
    return this.#nc;
  }

  /** `in`: where publications go (the stream's subject); `out`: where subscribers listen. */
  #subject(topic: string, way: 'in' | 'out'): string {
    // The `t` keeps the token non-empty for the empty topic.
    return `${this.#options.prefix}.${way}.t${Buffer.from(topic).toString('base64url')}`;
  }

  #corePosition(topic: string): TopicPosition {
    return { offset: this.#topics.get(topic)?.last ?? 0, epoch: this.#coreEpoch };
  }

  /** The topic's stream, made with this broker's history limits unless it exists (then as it is). */
  #stream(topic: string): Promise<StreamRef> {
    let ref = this.#streams.get(topic);
    if (!ref) {
      ref = this.#makeStream(topic);
      this.#streams.set(topic, ref);
      ref.catch(() => {
        if (this.#streams.get(topic) === ref) this.#streams.delete(topic);
      });
    }
    // (After it is remembered: a topic forgotten at once, with `maxIdleTopics` 0, leaves nothing.)
    this.#touch(topic);
    return ref;
  }

  /** The name of `topic`'s stream. */
  #streamName(topic: string): string {
    return `${this.#options.prefix}_${createHash('sha256').update(topic).digest('hex').slice(0, 40)}`;
  }

  async #makeStream(topic: string): Promise<StreamRef> {
    const name = this.#streamName(topic);
    const subject = this.#subject(topic, 'in');
    const config = {
      name,
      subjects: [subject],
      republish: { src: subject, dest: this.#subject(topic, 'out') },
      storage: this.#options.storage,
      // A stream keeps one message at least: its sequence is the topic's offset.
      max_msgs: Math.max(1, this.#history.size),
      // (0 would be no limit to JetStream: 1 drops every message once stored, keeping the sequence.)
      max_bytes: Math.max(1, historyBytes(this.#history)),
      max_age: Math.round(this.#history.ttlSeconds * 1e9),
      discard: 'old',
      num_replicas: 1,
    };
    const seen = this.#seenNow(topic);
    let info: StreamInfo;
    try {
      info = await this.#jsm!.streams.add(config);
    } catch (err) {
      // Another process made the stream first: JetStream answers "name in use" or, when the two
      // creations race, "subjects overlap with an existing stream". Either way the stream is there.
      try {
        info = await this.#jsm!.streams.info(name);
      } catch {
        throw failure(err);
      }
      // Made with other history bounds (by a process configured otherwise, or before a restart with
      // new ones): this process's bounds apply from now on, so that `ttlSeconds` always expires it.
      const had = info.config;
      // Made without this broker's republish (by an operator, say): live delivery would never
      // come, while publications are taken. It is put back.
      const republished = had.republish?.src === config.republish.src && had.republish?.dest === config.republish.dest;
      if (
        !republished ||
        had.max_msgs !== config.max_msgs ||
        had.max_bytes !== config.max_bytes ||
        had.max_age !== config.max_age
      ) {
        // (JetStream refuses a duplicate window longer than max_age; this broker sends no message ids.)
        const window = config.max_age > 0 ? Math.min(had.duplicate_window, config.max_age) : had.duplicate_window;
        const limits = {
          max_msgs: config.max_msgs,
          max_bytes: config.max_bytes,
          max_age: config.max_age,
          duplicate_window: window,
          republish: config.republish,
        };
        try {
          info = await this.#jsm!.streams.update(name, limits);
        } catch (updateErr) {
          if (!republished) {
            throw refused(
              `stream ${name} (topic ${JSON.stringify(topic)}) was made without the broker's republish to ${config.republish.dest}, its live delivery, and the server cannot add it (${errorText(updateErr)}): delete the stream, the broker makes it again`,
              updateErr,
            );
          }
          warn(unavailable(`cannot apply the history bounds to stream ${name}: ${errorText(updateErr)}`, updateErr));
        }
      }
    }
    info = await this.#rolledBack(topic, name, info, seen);
    this.#topicOfStream.set(name, topic);
    this.#touch(topic);
    return { name, subject, epoch: info.created, high: info.state.last_seq, renewed: false };
  }

  /**
   * The topic's stream as it is now, with its info: made again if it was deleted, and under a new
   * epoch (kept from then on) if it was made again since this process last looked. A subscription
   * that delivers another epoch is checked (and moves to this one).
   */
  async #current(topic: string): Promise<{ stream: StreamRef; info: StreamInfo }> {
    const ref = this.#stream(topic);
    let stream = await ref;
    const seen = this.#seenNow(topic);
    let info: StreamInfo;
    try {
      info = await this.#jsm!.streams.info(stream.name);
    } catch (err) {
      if (!isNotFound(err)) throw failure(err);
      // Deleted (by an operator): made again, a new epoch.
      if (this.#streams.get(topic) === ref) this.#streams.delete(topic);
      stream = await this.#stream(topic);
      info = await this.#info(stream);
    }
    info = await this.#rolledBack(topic, stream.name, info, seen);
    if (info.created !== stream.epoch) {
      stream = {
        name: stream.name,
        subject: stream.subject,
        epoch: info.created,
        high: info.state.last_seq,
        renewed: false,
      };
      this.#streams.set(topic, Promise.resolve(stream));
      this.#touch(topic);
    } else {
      stream.renewed = false;
      if (info.state.last_seq > stream.high) stream.high = info.state.last_seq;
    }
    const sub = this.#topics.get(topic);
    if (sub?.stream !== undefined && sub.stream.epoch !== stream.epoch) this.#check(topic, sub);
    return { stream, info };
  }

  /**
   * `info` of the topic's stream (`name`), or, when it is the same stream (its epoch) as this process saw at a
   * higher sequence, its info once purged up to that sequence: a nats-server started again with an older store
   * (a backup restored, or a machine crash that lost what it had not synced to disk, by default up to two minutes)
   * has the same stream with fewer messages, and its sequence would give offsets already delivered to new
   * messages: subscribers took those for repeats (lost), and a client back with an older `since` was given them
   * as the ones it missed. Purged so, the sequence goes on past every offset given out, and what history lost is
   * told (a `since` below it is not recovered). A purge that fails (the stream denies it) is a process warning.
   * `seenBefore` gives, by epoch, what this process had seen when `info` was asked for (`#seenNow`): a publication
   * acknowledged or delivered while the request was on its way may be past the info, and is no rollback.
   */
  async #rolledBack(
    topic: string,
    name: string,
    info: StreamInfo,
    seenBefore: (epoch: string) => number,
  ): Promise<StreamInfo> {
    const seen = seenBefore(info.created);
    if (info.state.last_seq < seen) {
      try {
        await this.#jsm!.streams.purge(name, { seq: seen + 1 });
        info = await this.#jsm!.streams.info(name);
      } catch (err) {
        // (Tried again at the next read of the stream; told once per stream and epoch.)
        if (this.#unpurged.get(name) === info.created) return info;
        this.#unpurged.set(name, info.created);
        warn(
          unavailable(
            `stream ${name} (topic ${JSON.stringify(topic)}) is back at offset ${info.state.last_seq} after ${seen}, and cannot be purged past it: ${errorText(err)}`,
            err,
          ),
        );
      }
    }
    this.#saw(topic, info.created, info.state.last_seq);
    return info;
  }

  /** The highest sequence this process has seen the topic's stream reach so far, by epoch (for `#rolledBack`). */
  #seenNow(topic: string): (epoch: string) => number {
    const reached = this.#reached.get(topic);
    const fromReached = reached && { epoch: reached.epoch, seq: reached.seq };
    const sub = this.#topics.get(topic);
    const delivered = sub?.stream && { epoch: sub.stream.epoch, seq: sub.last };
    return (epoch) =>
      Math.max(fromReached?.epoch === epoch ? fromReached.seq : 0, delivered?.epoch === epoch ? delivered.seq : 0);
  }

  /** Records that the topic's stream of `epoch` reached `seq` (`#reached`). */
  #saw(topic: string, epoch: string, seq: number): void {
    const reached = this.#reached.get(topic);
    if (reached?.epoch !== epoch) {
      this.#reached.set(topic, { epoch, seq });
      this.#touch(topic);
    } else if (seq > reached.seq) reached.seq = seq;
  }

  async #info(stream: StreamRef): Promise<StreamInfo> {
    try {
      return await this.#jsm!.streams.info(stream.name);
    } catch (err) {
      throw failure(err);
    }
  }

  /**
   * Starts delivering a topic: subscribes to its live subject (once; the client restores it after a
   * reconnection), then learns the stream's epoch and where this process starts from.
   */
  async #start(topic: string, sub: Subscription, generation: number): Promise<void> {
    const nc = this.#nc!;
    // Made again after the server dropped it while a gap's fill waited for a late republication:
    // the catch-up below reads past the hole instead.
    if (sub.late !== undefined) {
      this.#endLate(sub);
      sub.checking = false;
    }
    if (!sub.source) {
      const subject = this.#subject(topic, 'out');
      const source: NatsSubscription = nc.subscribe(subject, {
        callback: (err, m) => {
          if (err) {
            // Refused (a permissions violation; the client has closed it): told, and made again
            // by the next start of the topic (a reconnection), in case the permissions changed.
            if (sub.source !== source) return;
            sub.source = undefined;
            const denied = refused(`NATS refused the subscription to ${subject}: ${errorText(err)}`, err);
            sub.refused = denied;
            if (sub.started && !sub.resubscribing && this.#topics.get(topic) === sub) {
              emitRefused(this.#events!, denied);
              void this.#resubscribe(topic, sub);
            }
          } else if (this.#topics.get(topic) === sub && sub.source === source) this.#receive(topic, sub, m);
        },
      });
      sub.source = source;
      sub.refused = undefined;
    }
    await this.#flush(nc, 'subscribe');
    // (The server answers the SUB before the flush's PING: a refusal has come by now.)
    if (sub.refused !== undefined) throw sub.refused;
    if (!this.#jsm) return;
    const { stream, info } = await this.#current(topic);
    if (generation !== this.#generation || this.#topics.get(topic) !== sub) return;
    if (sub.stream === undefined) {
      // New here: from the present on.
      sub.last = info.state.last_seq;
    } else {
      // Back after a reconnection: what was published meanwhile is read from history and
      // delivered before the live messages held since the disconnection. A stream lost and made
      // again (the server lost its storage) is a new epoch, read from its start: `PubSub` could
      // not ask for it (it knows the old epoch only). In the same epoch, `PubSub` could, but only
      // once this broker is reported available, which is after the live messages are released.
      const renewed = sub.stream.epoch !== stream.epoch;
      const missed = await this.#historyOf(topic, { offset: renewed ? 0 : sub.last, epoch: stream.epoch }, true);
      if (generation !== this.#generation || this.#topics.get(topic) !== sub) return;
      // (In the same epoch `last` stays: a topic restarted again, after another one failed, may
      // have delivered live messages during the read.)
      if (renewed) sub.last = 0;
      // History trimmed past `last` before the read (the stream's info read after live messages
      // came faster than history keeps them): the live ones held of what it lost go first, in
      // offset order, so that only what neither history nor memory has is skipped. (Before, they
      // came after the read's newer offsets and passed for repeats. Those dropped for the bounds
      // are not held: there history alone counts.)
      const found = missed?.[0]?.offset;
      if (found !== undefined && found > sub.last + 1) {
        // The first live one held below `found` came on the new connection: what lies below it
        // was published while away (its republication never comes here: given up at once), and a
        // hole between it and `found` is a republication on its way (in order, behind the read's
        // answer; or late, nats-server 2.9.10): waited for as after a check, not dropped as old
        // when it comes (31-60 were, with 9-30 held and history at 61). A late one below every
        // held one is not told from those published while away: lost (doc/pubsub.md).
        const first = lowestBetween(sub.early, sub.last, found);
        if (first !== undefined) {
          sub.last = first - 1;
          sub.stream = stream;
          sub.holding = false;
          this.#own.reached(topic, stream.epoch, sub.last);
          const covered = Math.max(info.state.last_seq, missed!.at(-1)!.offset);
          this.#fillGap(topic, sub, lateFill(missed!, covered), false);
          return;
        }
        this.#skipTo(topic, sub, stream.epoch, found - 1);
      }
      for (const m of missed ?? []) {
        if (m.offset <= sub.last) continue;
        sub.last = m.offset;
        this.#emit(m);
      }
      // History kept none of it (none kept, trimmed as it was read, or emptied: purged, or all
      // expired by `max_age` while away): what was published while away is lost, and no
      // republication of it is still to come — taken for a gap, the next live message would wait
      // `commandTimeoutMs` for one (`#fillGap`). The live ones held up to where the stream stood
      // are delivered, and the topic goes on from there (`PubSub` sees the gap).
      // So is the end of the range when an operator deleted it (the read ends at the last one there).
      if (missed === null || sub.last < info.state.last_seq) {
        this.#skipTo(topic, sub, stream.epoch, info.state.last_seq);
      }
    }
    sub.stream = stream;
    sub.holding = false;
    this.#own.reached(topic, stream.epoch, sub.last);
    this.#release(topic, sub);
  }

  #receive(topic: string, sub: Subscription, m: NatsMsg): void {
    if (!this.#jsm) {
      sub.last++;
      this.#deliver(topic, this.#coreEpoch, sub.last, m.data, m.headers);
      return;
    }
    if (sub.late !== undefined) {
      const offset = sequenceOf(m);
      if (offset > 0 && offset <= sub.last) {
        // At or below the last delivered: a repeat, or the stream made again meanwhile (a new
        // epoch, from 1), whose message at the hole's offset would pass for the one waited for.
        // The hole is given up, and this one checked as any that does not follow.
        this.#fillGap(topic, sub, sub.late, true);
        this.#hold(sub, m);
        this.#check(topic, sub);
        return;
      }
      // A gap's fill waits for a late republication: this may be it. (Held up to `MAX_HELD`
      // messages and `maxHeldBytes`: past either the hole is given up, the held ones delivered.)
      sub.early.push(m);
      sub.heldBytes += m.data.length;
      const full = overBounds(sub, this.#options.maxHeldBytes);
      if (full || offset === sub.last + 1) this.#fillGap(topic, sub, sub.late, full);
      return;
    }
    if (sub.stream === undefined || sub.holding || sub.checking || sub.behind || sub.early.length > 0) {
      this.#hold(sub, m);
      if (sub.behind) this.#check(topic, sub); // (unless one runs, or the topic waits for its start)
      return;
    }
    const offset = sequenceOf(m);
    if (offset === sub.last + 1 && sub.last > 0) {
      sub.last = offset;
      this.#deliver(topic, sub.stream.epoch, offset, m.data, m.headers);
    } else if (offset > 0) {
      this.#hold(sub, m);
      this.#check(topic, sub);
    }
    // (Otherwise not from the stream: dropped.)
  }

  /** Delivers the live messages `sub` holds up to offset `top` in order, then goes on from `top`. */
  #skipTo(topic: string, sub: Subscription, epoch: string, top: number): void {
    const upTo = new Map<number, NatsMsg>();
    for (const m of sub.early) {
      const offset = sequenceOf(m);
      if (offset > sub.last && offset <= top) upTo.set(offset, m);
    }
    for (const offset of [...upTo.keys()].sort((a, b) => a - b)) {
      const m = upTo.get(offset)!;
      sub.last = offset;
      this.#deliver(topic, epoch, offset, m.data, m.headers);
    }
    sub.last = Math.max(sub.last, top);
    sub.early = sub.early.filter((m) => sequenceOf(m) > top);
    sub.heldBytes = payloadBytes(sub.early);
  }

  /**
   * Keeps a live message of `sub` for later; past `MAX_HELD` of them or `maxHeldBytes` of payload,
   * drops them all, to be read from history.
   */
  #hold(sub: Subscription, m: NatsMsg): void {
    sub.early.push(m);
    sub.heldBytes += m.data.length;
    if (overBounds(sub, this.#options.maxHeldBytes)) {
      sub.early = [];
      sub.heldBytes = 0;
      sub.behind = true;
      sub.drops++;
    }
  }

  /** Delivers the live messages `sub` holds, in order, up to one that does not follow (then checked). */
  #release(topic: string, sub: Subscription): void {
    let i = 0;
    while (i < sub.early.length && sub.stream !== undefined && !sub.holding && !sub.checking && !sub.behind) {
      if (this.#topics.get(topic) !== sub) return;
      const m = sub.early[i]!;
      const offset = sequenceOf(m);
      if (offset === sub.last + 1 && sub.last > 0) {
        sub.last = offset;
        this.#deliver(topic, sub.stream.epoch, offset, m.data, m.headers);
      } else if (offset > 0) {
        break;
      }
      i++;
    }
    if (i > 0) {
      sub.early.splice(0, i);
      sub.heldBytes = payloadBytes(sub.early);
    }
    if (sub.early.length > 0 || sub.behind) this.#check(topic, sub);
  }

  /** Starts a check of `sub`'s stream (see `Subscription.checking`) unless one runs or the topic is catching up. */
  #check(topic: string, sub: Subscription): void {
    if (sub.checking || sub.holding || sub.stream === undefined || this.#closed || this.#topics.get(topic) !== sub) {
      return;
    }
    sub.checking = true;
    this.#checkStream(topic, sub, this.#generation).catch(warn);
  }

  /**
   * Reads where `sub`'s stream stands. The same stream: repeats are dropped and a gap is filled
   * from history. Another one (deleted and made again by an operator while this process stayed
   * connected): a new epoch, delivered from its start as history holds it, as when the server lost
   * its streams. Either way the messages that arrived before the read are then delivered (what
   * history could not give and no late republication brought is lost: `PubSub` sees the gap). A
   * read that fails while connected is made again after a pause; after a lost connection the
   * reconnection restarts the topic.
   */
  async #checkStream(topic: string, sub: Subscription, generation: number): Promise<void> {
    // (The connection stays while the generation does: a loss bumps it and holds the topic.)
    const stays = (): boolean => this.#topics.get(topic) === sub && !this.#closed && generation === this.#generation;
    // The messages that arrived before the read was sent: what it finds covers them (unless they
    // are dropped meanwhile, then read again).
    const judged = sub.early.length;
    const drops = sub.drops;
    let stream: StreamRef | undefined;
    let messages: BrokerMessage[] | null = null;
    let top = 0;
    for (let attempt = 0; stays(); attempt++) {
      try {
        const now = await this.#current(topic);
        top = now.info.state.last_seq;
        if (now.stream.epoch !== sub.stream!.epoch) {
          messages = await this.#historyOf(topic, { offset: 0, epoch: now.stream.epoch }, true);
        } else if (sub.behind || !followsOn(sub.early, judged, sub.last)) {
          // (Null when history kept none of it, or lost the gap's start while it was read: the gap is
          // filled all the same, from the held messages and the late republications it waits for.
          // Taken for no gap, the held ones past it were delivered at once, the late one dropped as
          // old: protocol-outsider-nats, 26 after 24 on one process.)
          const read = await this.#historyOf(topic, { offset: sub.last, epoch: now.stream.epoch }, true);
          messages = read ?? [];
        }
        stream = now.stream;
        break;
      } catch (err) {
        this.#tell(err); // (refused: tried again all the same, and told once)
        if (!stays()) break;
        await retryPause(attempt, 1000);
      }
    }
    // Outlived its connection: `#suspend` cleared `checking` and the restart owns the topic now.
    if (generation !== this.#generation) return;
    sub.checking = false;
    if (this.#topics.get(topic) !== sub) return;
    if (stream !== undefined && stays()) {
      if (stream.epoch === sub.stream!.epoch && messages !== null && sub.drops === drops) {
        // (Behind, the hole is what this process dropped: no republication of it is still to come.)
        const givenUp = sub.behind;
        sub.behind = false;
        const covered = Math.max(top, messages.at(-1)?.offset ?? 0);
        this.#fillGap(topic, sub, lateFill(messages, covered), givenUp);
        return;
      }
      if (stream.epoch !== sub.stream!.epoch) {
        sub.stream = stream;
        sub.last = 0;
      }
      for (const m of messages ?? []) {
        if (m.offset <= sub.last) continue;
        sub.last = m.offset;
        this.#emit(m);
      }
      // What was dropped before the read began, the read held (or history no longer does: lost,
      // `PubSub` sees the gap); dropped since, it is read again.
      if (sub.drops !== drops) {
        this.#release(topic, sub);
        return;
      }
      sub.behind = false;
      const judgedHeld = sub.early.splice(0, judged);
      sub.heldBytes = payloadBytes(sub.early);
      for (const m of judgedHeld) {
        const offset = sequenceOf(m);
        if (!(offset > sub.last)) continue;
        sub.last = offset;
        this.#deliver(topic, sub.stream!.epoch, offset, m.data, m.headers);
      }
    }
    this.#release(topic, sub);
  }

  /**
   * Fills a gap of `sub` from what its read found in history (`fill`) and the live messages held, in
   * offset order. JetStream's republication is not always in sequence order (nats-server 2.9.10
   * republishes a stored message after releasing the stream's lock, so with two publishing
   * connections one can come dozens of messages late under load: 8 came after 39), so a message
   * history no longer holds may be held already, or still to come. A hole the read covers (history
   * had already dropped it) is waited for: later messages stay held (`late`) until its republication
   * comes, then delivery goes on. After `commandTimeoutMs`, or once more than `MAX_HELD` (or `maxHeldBytes`
   * of payload) wait, or at once when
   * `givenUp` (this process dropped it), the hole is given up: lost, `PubSub` sees the gap. A hole
   * the stream says an operator deleted is given up once that is known (`#askDeleted`, asked as
   * the wait begins): before, it was waited for `commandTimeoutMs`, its topic's later messages held.
   * A hole past what the read covers is read again (`#release` checks).
   */
  #fillGap(topic: string, sub: Subscription, fill: LateFill, givenUp: boolean): void {
    const byOffset = new Map<number, BrokerMessage | NatsMsg>();
    for (const m of fill.found) if (m.offset > sub.last) byOffset.set(m.offset, m);
    for (const m of sub.early) {
      const offset = sequenceOf(m);
      // (A repeat, or not from the stream: dropped.)
      if (offset > sub.last && !byOffset.has(offset)) byOffset.set(offset, m);
    }
    const offsets = [...byOffset.keys()].sort((a, b) => a - b);
    let waits = false;
    let i = 0;
    for (; i < offsets.length; i++) {
      const offset = offsets[i]!;
      if (offset !== sub.last + 1) {
        if (sub.last >= fill.covered) break; // (not read yet)
        if (!givenUp && !deletedBetween(fill, sub.last + 1, Math.min(offset - 1, fill.covered))) {
          waits = true;
          break;
        }
        // Given up as far as the read covers; what comes after is read again.
        if (offset - 1 > fill.covered) {
          sub.last = fill.covered;
          break;
        }
      }
      const m = byOffset.get(offset)!;
      sub.last = offset;
      if ('offset' in m) this.#emit(m);
      else this.#deliver(topic, sub.stream!.epoch, offset, m.data, m.headers);
    }
    // (What the read found past a hole stays in `fill`: only live messages are held.)
    sub.early = offsets
      .slice(i)
      .map((offset) => byOffset.get(offset)!)
      .filter((m): m is NatsMsg => !('offset' in m));
    sub.heldBytes = payloadBytes(sub.early);
    if (waits) {
      sub.checking = true;
      if (sub.late !== fill) {
        sub.late = fill;
        const giveUp = (): void => {
          if (sub.late !== fill || this.#topics.get(topic) !== sub || this.#closed) return;
          this.#fillGap(topic, sub, fill, true);
        };
        fill.timer = setTimeout(giveUp, this.#options.commandTimeoutMs);
        fill.timer.unref();
      }
      if (!fill.asked) {
        fill.asked = true;
        this.#askDeleted(topic, sub, fill).catch(() => {}); // (not answered: the wait goes on, bounded as it is)
      }
      return;
    }
    this.#endLate(sub);
    sub.checking = false;
    this.#release(topic, sub);
  }

  /**
   * Asks which offsets of the hole `fill` waits behind an operator deleted (the stream's deleted
   * sequences): those are not waited for (`LateFill.deleted`), the rest of the fill goes on at once.
   * A hole history trimmed (below its first offset) may still be a late republication: waited for.
   */
  async #askDeleted(topic: string, sub: Subscription, fill: LateFill): Promise<void> {
    const stream = sub.stream!;
    const { created, state } = await this.#jsm!.streams.info(stream.name, { deleted_details: true });
    if (sub.late !== fill || this.#topics.get(topic) !== sub || this.#closed || created !== stream.epoch) return;
    let found = false;
    for (const seq of state.deleted ?? []) {
      if (seq > sub.last && seq <= fill.covered && seq >= state.first_seq) {
        fill.deleted.add(seq);
        found = true;
      }
    }
    if (found) this.#fillGap(topic, sub, fill, false);
  }

  /** Ends `sub`'s wait for a late republication, if one runs. */
  #endLate(sub: Subscription): void {
    if (sub.late === undefined) return;
    clearTimeout(sub.late.timer);
    sub.late = undefined;
  }

  #message(topic: string, epoch: string, m: JsMsg): BrokerMessage {
    const binary = m.headers?.get(binaryHeader) === '1';
    return { topic, offset: m.seq, epoch, data: toBuffer(m.data), binary };
  }

  #deliver(topic: string, epoch: string, offset: number, data: Uint8Array, headers: MsgHeaders | undefined): void {
    const binary = headers?.get(binaryHeader) === '1';
    this.#emit({ topic, offset, epoch, data: toBuffer(data), binary });
  }

  #emit(m: BrokerMessage): void {
    emitMessage(this.#events!, m);
    this.#own.delivered(m);
  }

  /** Follows the connection: unavailable on loss; on return, every topic restarted, then available. */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.#closed) return;
      if (status.type === 'disconnect') {
        this.#generation++;
        this.#streams.clear();
        // Live messages wait from now on until their topic has read what it missed (whether the
        // client delivers on its restored subscriptions before or after this loop sees 'reconnect').
        // A check that runs is abandoned (its request may wait out `commandTimeoutMs` on the lost
        // connection, and while `checking` the restarted topic could start none: its live
        // messages waited that long, past what history keeps, and were lost).
        // What a topic holds from the lost connection goes: it may be of the stream before a
        // restart (held by a check the loss interrupted), and judged against a stream made again,
        // an old message passed for the new one's offset (seen in a restart test: four old messages
        // delivered as the new epoch's 46-49). What comes on the new one is kept until the topic
        // restarts: before, it went as the restart began, and history no longer held all of what a
        // topic received while those before it restarted.
        if (this.#jsm) {
          for (const sub of this.#topics.values()) {
            this.#suspend(sub);
            sub.early = [];
            sub.heldBytes = 0;
          }
        }
        for (const lost of this.#inFlight) lost();
        this.#inFlight.clear();
        this.#own.release();
        if (this.#available) {
          this.#available = false;
          emitAvailability(this.#events!, false);
        }
      } else if (status.type === 'error') {
        // Refused while reconnecting (the credentials changed on the server): the client keeps
        // trying; told, and operations reject with it meanwhile.
        const err = (status as { error?: unknown }).error;
        if (!this.#available && refusal(err)) {
          this.#attempt = 'refused';
          this.#refusedLate(this.#refusal(err as Error));
        }
      } else if (status.type === 'reconnecting') {
        // The attempt before this one failed, not refused by the server: the client does not say
        // why (nothing listening, TLS on one side only), so it is asked.
        if (this.#attempt === 'made') this.#probe();
        this.#attempt = 'made';
      } else if (status.type === 'reconnect') {
        this.#attempt = 'none';
        // (A refused attempt is reported as a 'reconnect' too: a refusal is forgotten once available.)
        if (this.#jsm) for (const sub of this.#topics.values()) this.#suspend(sub);
        void this.#restore(++this.#generation);
      }
    }
  }

  /**
   * After the server dropped `sub`'s subscription (its permissions changed): makes it again, after a
   * pause (50 ms doubling up to 1 s), until taken; then what was published meanwhile is read from
   * history and delivered first, as after a reconnection. Stops when the topic is left, the broker
   * closed, or the connection lost (the reconnection restarts the topic).
   */
  async #resubscribe(topic: string, sub: Subscription): Promise<void> {
    sub.resubscribing = true;
    try {
      for (let attempt = 0; ; attempt++) {
        await retryPause(attempt, 1000);
        if (this.#closed || this.#topics.get(topic) !== sub || sub.source || !this.#available) return;
        sub.holding = true; // (live messages wait for the history read)
        try {
          await this.#start(topic, sub, this.#generation);
          return;
        } catch {
          // refused again, or the read failed: tried again
        }
      }
    } finally {
      sub.resubscribing = false;
    }
  }

  /** Holds `sub`'s live messages until the reconnection restarts it; its check, if one runs, no longer counts. */
  #suspend(sub: Subscription): void {
    sub.holding = true;
    sub.checking = false;
    this.#endLate(sub);
  }

  /** Restarts every topic's delivery after a reconnection, retrying while the server (JetStream) recovers. */
  async #restore(generation: number): Promise<void> {
    for (let delay = 50; generation === this.#generation && !this.#closed; delay = Math.min(delay * 2, 1000)) {
      try {
        for (const [topic, sub] of this.#topics) await this.#start(topic, sub, generation);
        if (generation !== this.#generation || this.#closed || this.#available) return;
        // (Told once: after refused attempts the client reports one 'reconnect' for each.)
        this.#available = true;
        this.#lateRefusal = null;
        this.#told = null;
        emitAvailability(this.#events!, true);
        return;
      } catch (err) {
        // (Refused: the JetStream API or a topic's subject denied since: told, operations reject with it.)
        if (isRefusal(err)) this.#refusedLate(err);
        this.#streams.clear();
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/**
 * Whether what `sub` holds is past its bounds (more than `MAX_HELD` messages, or than `maxHeldBytes`
 * of payload): the rule of both holds, the wait for a read (past it, dropped and read again) and the
 * wait behind a hole (past it, the hole given up). A topic holds at most the bound, as the option
 * says and as Redis's hold does; the message that would take it past is the one that ends the wait.
 */
function overBounds(sub: Subscription, maxHeldBytes: number): boolean {
  return sub.early.length > MAX_HELD || sub.heldBytes > maxHeldBytes;
}

/** Whether every offset from `from` to `to` is one `fill`'s stream says was deleted (a hole not to wait for). */
function deletedBetween(fill: LateFill, from: number, to: number): boolean {
  if (fill.deleted.size === 0) return false;
  for (let offset = from; offset <= to; offset++) if (!fill.deleted.has(offset)) return false;
  return true;
}

/** The lowest offset of `held` past `last` and below `below`, if any. */
function lowestBetween(held: NatsMsg[], last: number, below: number): number | undefined {
  let lowest: number | undefined;
  for (const m of held) {
    const offset = sequenceOf(m);
    if (offset > last && offset < below && (lowest === undefined || offset < lowest)) lowest = offset;
  }
  return lowest;
}

/** The offset a republished message carries (its stream sequence); NaN without one. */
function sequenceOf(m: NatsMsg): number {
  return Number(m.headers?.get(sequenceHeader));
}

/**
 * Whether the first `count` held messages continue `last` with no gap. Repeats of what was delivered are passed
 * over: after a reconnection the held ones can start with offsets the history read delivered, and the first held
 * offset alone would hide a gap behind them (both subscribers of a restart once lost one this way).
 */
function followsOn(held: NatsMsg[], count: number, last: number): boolean {
  let next = last + 1;
  for (let i = 0; i < count; i++) {
    const offset = sequenceOf(held[i]!);
    if (!(offset >= next)) continue;
    if (offset !== next) return false;
    next++;
  }
  return true;
}

/** A server at the broker's URL answered, not as NATS does. */
class NotNatsError extends Error {
  override name = 'NotNatsError';
}

/**
 * What `server` says first on a new connection ('' if nothing within `ms`, or refused): a NATS
 * server greets at once (its whole `INFO {…}` line is read); a server that waits to be spoken to
 * (Redis, HTTP) is sent `PING` after half the wait. The connection is closed after, or at once
 * when `signal` aborts (the broker closed), and does not keep the process alive unless `keepAlive`.
 */
function firstWords(server: string, ms: number, signal: AbortSignal, keepAlive: boolean): Promise<string> {
  const url = new URL(server);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = tcpConnect(Number(url.port || 4222), host);
    if (!keepAlive) socket.unref();
    let said = '';
    const done = (): void => {
      clearTimeout(poke);
      clearTimeout(end);
      signal.removeEventListener('abort', done);
      socket.destroy();
      resolve(said);
    };
    const poke = setTimeout(() => socket.write('PING\r\n'), ms / 2);
    const end = setTimeout(done, ms);
    poke.unref();
    end.unref();
    signal.addEventListener('abort', done);
    if (signal.aborted) done();
    socket.on('data', (chunk: Buffer) => {
      said += chunk.toString('latin1');
      if (said.length >= 5 && (!said.startsWith('INFO') || said.includes('\n') || said.length > 65_536)) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}

function stop(sub: Subscription): void {
  const source = sub.source;
  sub.source = undefined;
  if (!source) return;
  try {
    source.unsubscribe();
  } catch {
    // already stopped
  }
}

/** The server's permissions violation that `err` is, or was caused by (a request's publish or reply subscription denied). */
function permissionViolation(err: unknown): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    if (e.name === 'PermissionViolationError' || /^Permissions Violation/.test(e.message)) return e;
  }
  return undefined;
}

/**
 * Whether `err`, from asking the JetStream API (`$JS.API.INFO`), is the server's own word that this
 * user's account has no JetStream: the API answered "not enabled for account" (10039), or no one
 * answers it (no responders) on a server whose INFO does not announce JetStream. No responders on
 * one that does is JetStream not ready yet; a timeout or any other failure proves nothing either.
 */
function noJetStream(err: unknown, nc: NatsConnection): boolean {
  if (!(err instanceof Error) || err.name !== 'JetStreamNotEnabled') return false;
  const answered = (err.cause as { name?: string } | undefined)?.name === 'JetStreamApiError';
  return answered || nc.info?.jetstream !== true;
}

/** What an operation that failed with `err` rejects with: refused by the server's permissions, or unavailable. */
function failure(err: unknown): WebSocketError {
  return permissionViolation(err) ? refused(errorText(err), err) : unavailable(errorText(err), err);
}

/**
 * Whether `err`, ending a history read, says that its consumer is gone (deleted by an operator):
 * JetStream's 409 "consumer deleted" to the pull, no responder for the pull (503: the consumer was
 * deleted before it arrived), or "consumer not found" (10014) when the client looked for it after
 * missed heartbeats (deleted while it delivered).
 */
function consumerGone(err: unknown): boolean {
  const e = err as { name?: string; code?: unknown; message?: unknown } | null;
  if (e?.name === 'JetStreamStatusError') return e.code === 503 || (e.code === 409 && e.message === 'consumer deleted');
  return e?.name === 'ConsumerNotFoundError' || (e?.name === 'JetStreamApiError' && e.code === 10014);
}

/** JetStream's "stream not found" (an API error, code 10059). */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: unknown; api_error?: { err_code?: number } } | null;
  return e?.name === 'StreamNotFoundError' || e?.code === 10059 || e?.api_error?.err_code === 10059;
}

/**
 * The servers of a `url` list, checked (nats:// or tls://), without credentials, and the
 * credentials they name: `user:pass@` a user and password, `token@` a token, URL-decoded. The NATS
 * client reads none from a URL (it connects without them, and is refused). One set for the list: a
 * server that names none takes the others'.
 */
function serversOf(list: string): { servers: string[]; credentials: Record<string, string> } {
  let credentials: Record<string, string> | undefined;
  let from = '';
  const servers = list.split(',').map((text) => {
    const server = text.trim();
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `NatsBroker: not a URL: ${maskCredentials(server)}`);
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'NatsBroker: the URL must be nats:// or tls://');
    }
    if (url.username !== '' || url.password !== '') {
      const { user, password } = urlCredentials(url, `NatsBroker: ${maskCredentials(server)}`);
      const named: Record<string, string> = url.password !== '' ? { user, pass: password } : { token: user };
      if (credentials !== undefined && JSON.stringify(named) !== JSON.stringify(credentials)) {
        throw new WebSocketError(
          'ERR_WS_INVALID_ARGUMENT',
          `NatsBroker: ${maskCredentials(from)} and ${maskCredentials(server)} name different credentials (the client takes one set)`,
        );
      }
      credentials = named;
      from = server;
      url.username = '';
      url.password = '';
    }
    // (the URL's own form: `nats://h:4222` stays as it is, a path-less URL gets no '/')
    return url.href.replace(/\/$/, '');
  });
  return { servers, credentials: credentials ?? {} };
}

/**
 * The client's `tls` option for `servers` and `connectOptions.tls` (`given`). The client reads
 * nothing from a URL's scheme and takes one TLS setting for all the servers of a list, so a list
 * of `tls://` servers asks for TLS as `connectOptions.tls` does (else it would speak plain TCP to a
 * server without TLS, unasked). A `tls://` server the client would speak to without TLS is
 * ERR_WS_INVALID_ARGUMENT, at construction: one in a list with `nats://` servers (unless
 * `connectOptions.tls` asks TLS of every server), or with `connectOptions.tls` `null` (never TLS)
 * or `false`.
 */
function tlsSetting(servers: string[], given: unknown): { tls?: unknown } {
  // (Any other value asks TLS of every server: an object of TLS options, or `true`.)
  if (given !== undefined && given !== null && given !== false) return { tls: given };
  const secure = servers.find((server) => server.startsWith('tls:'));
  if (secure === undefined) return given === undefined ? {} : { tls: given };
  if (given !== undefined) {
    throw new WebSocketError(
      'ERR_WS_INVALID_ARGUMENT',
      `NatsBroker: ${secure} asks for TLS, which connectOptions.tls (${String(given)}) does not`,
    );
  }
  const plain = servers.find((server) => !server.startsWith('tls:'));
  if (plain !== undefined) {
    throw new WebSocketError(
      'ERR_WS_INVALID_ARGUMENT',
      `NatsBroker: ${plain} and ${secure} in one list: the NATS client speaks TLS to every server of a list or to none, ` +
        'so make each server tls:// (or give connectOptions.tls for TLS to every server)',
    );
  }
  return { tls: {} };
}

/**
 * A refusal of a connection that no retry can mend: the server refused the credentials
 * ("Authorization Violation", "account authentication expired", "user authentication expired": the
 * client's AuthorizationError and UserAuthenticationExpiredError), node refused its TLS
 * certificate, or it has no TLS where the broker asks for it. Not the server's "Authentication Timeout" (an AuthorizationError too): the CONNECT
 * came late, as on a slow or loaded link, and the next try may be in time.
 */
function refusal(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'AuthorizationError') return !/authentication timeout/i.test(err.message);
  return err.name === 'UserAuthenticationExpiredError' || untrustedCertificate(err) || noTls(err);
}

/** Whether `err` is the client finding no TLS on a server it was told to speak TLS to (`connectOptions.tls`). */
function noTls(err: Error): boolean {
  return /server does not support 'tls'|\btls\b.* is not available on this server/.test(err.message);
}
