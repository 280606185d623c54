/**
 * Topics over WebSocketStreams. A message published to N local subscribers is framed once
 * (header + payload, unmasked, in one Buffer; compressed once for subscribers that negotiated
 * permessage-deflate with server_no_context_takeover); the messages of one turn are handed out
 * together at its end, each run of one topic as one Buffer shared by its subscribers. Ordering
 * and storage belong to the broker (broker.ts): every message carries its topic's offset and
 * epoch, and each subscriber receives a topic's messages in offset order, once.
 */
import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { WebSocketError } from '../errors.js';
import { checkOptionsObject, hasMethods } from '../options.js';
import { Opcode } from '../proto/frame.js';
import { closeReasonOf } from '../proto/close-payload.js';
import { WebSocketStream } from '../stream/websocket-stream.js';
import type { Broker, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import {
  bytesToKeep,
  errorText,
  HISTORY_BYTES_DEFAULT,
  MAX_HELD,
  MAX_HELD_BYTES,
  payloadBytes,
  retryPause,
  unavailable,
  warn,
} from './broker-support.js';
import { MemoryBroker } from './memory-broker.js';
import { Prepared, sharedDeflateBits } from './prepared-message.js';
import {
  deferQueueing,
  queuePreparedFrame,
  runDeferred,
  toBuffer,
  tryWritePreparedFrameNow,
  whenWritten,
} from '../stream/prepared.js';

/** A subscriber: a server-role `WebSocketStream`, or an object that carries one (the `ws-stream/ws` WebSocket). */
export type PubSubSocket = WebSocketStream | object;

export interface SlowSubscriberOptions {
  /**
   * Bytes a subscriber may have waiting (its `bufferedAmount` plus what is held for it while it
   * recovers) before a message counts as too much. Default 4 MiB.
   */
  maxBytes?: number;
  /**
   * 'close': the subscriber is closed with 1008 (ERR_WS_SLOW_SUBSCRIBER) and leaves its topics; it
   * may reconnect and recover with `since`. 'drop': the message is skipped for it (a gap it can
   * see in the offsets). Either way a 'drop' event is emitted. Default 'close'.
   */
  policy?: 'drop' | 'close';
}

export interface PubSubOptions {
  /** Where topics are ordered and kept. Default: a new `MemoryBroker` (this process only). */
  broker?: Broker;
  /**
   * History kept per topic for recovery: `size` messages (default 1000), at most `ttlSeconds` old
   * (default 300; 0: no age limit), at most `bytes` of payloads (default 16 MiB; the oldest go
   * first). Given to the broker when it opens.
   */
  history?: Partial<HistoryOptions>;
  slowSubscriber?: SlowSubscriberOptions;
  /**
   * What subscribers receive for a message: its data as published (the default), or what this
   * returns (a string is sent as text). Called once per message and process, never per subscriber.
   * A message it throws for is skipped (the error becomes a process warning).
   */
  format?: (message: BrokerMessage) => string | Buffer;
  /**
   * Compression of published messages for subscribers that negotiated permessage-deflate with
   * server_no_context_takeover: messages of at least `threshold` bytes (default 1024) are deflated
   * once at zlib `level` (default 1). Others get the message uncompressed.
   */
  compression?: { threshold?: number; level?: number };
  /**
   * Recoveries (`subscribe` with `since`) on a broker whose history reads are copies (Redis, NATS,
   * the cluster broker, a custom one): `maxBytes` bounds the payload bytes of recovered history
   * the whole PubSub holds for its subscribers at once (a message shared by several counts once;
   * each is let go as its subscriber's socket takes it, or when the subscriber leaves). A read of
   * history counts `history.bytes` (or `maxBytes`, if less) while it runs; recoveries that would
   * go past the bound wait their turn, in order, and are never refused. Default 256 MiB. (A
   * MemoryBroker's history is not copied: its recoveries are not counted.)
   *
   * `stallMs`: while recoveries wait for that room, a subscriber that holds recovered history and
   * whose socket has taken none of its bytes for this long is a slow subscriber (it does not read,
   * and would hold those behind it as long): the slow-subscriber policy applies to it at once.
   * Under 'close' it is closed with 1008 (ERR_WS_SLOW_SUBSCRIBER), under 'drop' the history it has
   * not been sent is skipped (a 'drop' event each); either way its share is let go and the next
   * recovery goes. Never while no recovery waits. Default 30000; 0: never (the holder is waited for).
   */
  recovery?: { maxBytes?: number; stallMs?: number };
}

export interface SubscribeOptions {
  /** Recover what was published after this position (as a previous subscription or message reported it). */
  since?: TopicPosition;
}

export interface SubscribeResult {
  /** Messages after this offset are delivered (the offset of the last message before them). */
  offset: number;
  epoch: string;
  /** With `since`: whether every message after it is delivered (false: history could not cover it). */
  recovered?: boolean;
}

export interface PublishOptions {
  /** Binary (true) or text (false); default: text for a string, binary for bytes. */
  binary?: boolean;
  /** false: never compress this message (honoured by this process; others use their own threshold). Default true. */
  compress?: boolean;
}

export interface DropEvent {
  ws: PubSubSocket;
  topic: string;
  /** The message that did not fit (a recovering subscriber learns which offset of its history it lacks). */
  offset: number;
  epoch: string;
  /** Size of the frame that did not fit. */
  bytes: number;
  /** The policy applied: with 'close' the subscriber was closed (1008) and left its topics. */
  policy: 'drop' | 'close';
}

export interface EpochEvent {
  ws: PubSubSocket;
  topic: string;
  /**
   * Where the subscriber now stands in the new epoch: the messages after this offset follow (the
   * first of them is the message that brought the new epoch). Give `{ offset, epoch }` (updated by
   * later offsets) as `since` to recover after a reconnection.
   */
  offset: number;
  epoch: string;
}

export interface GapEvent {
  topic: string;
  /** The epoch of the offsets skipped. */
  epoch: string;
  /** The first and the last offset skipped (`from` ≤ `to`). */
  from: number;
  to: number;
  /**
   * Why: `'not-in-history'`, the broker's history no longer held them (trimmed by its bounds or
   * age, or none kept) and this process's memory did not either; `'read-failed'`, the history read
   * for them failed (the broker unreachable or refusing just then: a brief outage), so history may
   * still hold them, for a client to recover with `since`.
   */
  reason: 'not-in-history' | 'read-failed';
}

export interface PubSubEvents {
  drop: [DropEvent];
  /**
   * Live delivery on a topic skipped offsets `from` to `to` of `epoch`: this process's memory did
   * not hold them, and the broker's history no longer did (more was published while the broker
   * link was down, or while a read ran, than history keeps; a new epoch whose first messages
   * history no longer holds; a NATS republication that never came) or could not be read then
   * (`reason`). Emitted once per topic and
   * gap, before the message after it is handed to any subscriber; every subscriber of the topic
   * then at an offset below `from` lacks them (one that subscribed later was never owed them).
   */
  gap: [GapEvent];
  /**
   * The topic's epoch changed under a live subscription (its history was lost: Redis restarted
   * without its data, a JetStream stream deleted or made again): emitted for each subscriber, just
   * before the first message of the new epoch is queued to it, so a reply written by the listener
   * goes first. Offsets start over; a `since` from the old epoch is no longer recoverable.
   */
  epoch: [EpochEvent];
  /** The broker connection was lost (false) or is back with every topic subscribed again (true). */
  availability: [boolean];
  /**
   * The broker's server refuses (ERR_WS_BROKER_REFUSED, its own error as `cause`): at open (then
   * every operation rejects with it too), or later where no operation waits (a reconnection refused
   * its credentials, a subscription dropped by its permissions), while the broker tries again. Told
   * once per refusal; without a listener, a refusal after open is a process warning.
   */
  refused: [WebSocketError];
}

/** The defaults, documented on the options above. */
export const pubSubDefaults = Object.freeze({
  history: Object.freeze({ size: 1000, ttlSeconds: 300, bytes: HISTORY_BYTES_DEFAULT }),
  slowSubscriber: Object.freeze({ maxBytes: 4 * 1024 * 1024, policy: 'close' as const }),
  compression: Object.freeze({ threshold: 1024, level: 1 }),
  recovery: Object.freeze({ maxBytes: 256 * 1024 * 1024, stallMs: 30_000 }),
});

/** At most this many bytes of replayed history are buffered for a subscriber at once (or half its cap). */
const REPLAY_HIGH_WATER = 256 * 1024;

/**
 * History reads of recoveries (`subscribe` with `since`) running at once per PubSub; more wait their
 * turn. A Redis or NATS read is one answer of up to `history.bytes`: fifty at once queued 800 MB
 * ahead of the broker's keep-alive, which then took the link for stalled (an outage for every client
 * of the process), and NATS cut the connection as a slow consumer.
 */
const HISTORY_READS_AT_ONCE = 2;

/**
 * Times a topic's catch-up read that failed while the broker stayed available is made again
 * (`readFailed`), after a pause of 50 ms doubling up to `CATCH_UP_RETRY_MAX_MS`: a read that a
 * stalled link timed out may well be answered on the next try (or on the next link).
 */
const CATCH_UP_RETRIES = 3;
const CATCH_UP_RETRY_MAX_MS = 1000;

/** A recovery's history read waiting its turn (`PubSub.recoveryHistory`). */
interface HistoryRead {
  readonly key: string;
  readonly result: Promise<BrokerMessage[] | null>;
  readonly start: () => void;
  /** The subscriptions waiting for it: once every one left (unsubscribed, or its stream closed), it is not made. */
  readonly subs: Subscription[];
}

/** Whether `sub` is still its stream's subscription to its topic (it did not leave). */
function isCurrent(sub: Subscription): boolean {
  return sub.member.subs.get(sub.topic.name) === sub;
}

/** Longest topic name, in UTF-8 bytes. */
export const TOPIC_MAX_BYTES = 256;

/** Tells those waiting for `sub`'s replay (`_replayed`) that it is done. */
function replayEnded(sub: Subscription): void {
  for (const resolve of sub.replayed.splice(0)) resolve();
}

/** A stream subscribed to one or more topics. */
class Member {
  readonly subs = new Map<string, Subscription>();
  constructor(
    readonly ws: WebSocketStream,
    readonly handle: PubSubSocket,
    /** Window bits of our compressor when frames may be deflated once for all (no context takeover), else 0. */
    readonly deflateBits: number,
  ) {}
}

/** One stream's subscription to one topic. */
class Subscription {
  /** Offset of the last message delivered (or skipped), in `epoch`. */
  last = 0;
  epoch = '';
  /**
   * Live messages held while joining (history is being read) and while history is replayed, in
   * order; null once live. They count in the subscriber's backlog (`pendingBytes`).
   */
  pending: Prepared[] | null = [];
  pendingBytes = 0;
  /**
   * Until the join knows where the subscription starts (its position, its history): a message held
   * meanwhile may prove to be one it never gets (before its start, or in the history read), so the
   * backlog cap is not applied to what is held yet (`joinHoldBytes` bounds it).
   */
  joining = true;
  /** Once joined: a live message at or below this offset of `heldEpoch` is a duplicate, not held. */
  heldThrough = -1;
  heldEpoch = '';
  /**
   * History being replayed (recovered with `since`, or a gap filled after a broker outage), sent
   * as the socket drains (`pump`), then `pending`; null when none. `replayHeld`: its items are
   * held live messages, counted in `pendingBytes`.
   */
  replay: (BrokerMessage | Prepared)[] | null = null;
  replayAt = 0;
  /** The item at `replayAt`, prepared (only that one: what was sent is not kept). */
  replayNext: Prepared | null = null;
  replayHeld = false;
  /** Replayed frames queued and not yet handed to the socket: the callback of each resumes the replay. */
  replayInFlight = 0;
  onReplayWritten: ((err: WebSocketError | null) => void) | null = null;
  joined: Promise<SubscribeResult> | null = null;
  /** Once `subscribe` has resolved and until it is live: the recovered history to deliver first. */
  recovered: BrokerMessage[] | null = null;
  /** Called once what it recovers is handed on (`recovered` and `replay` done) or it left (`_replayed`). */
  replayed: (() => void)[] = [];
  /**
   * Its own copy of the recovered history while it holds some of it (counted in
   * `PubSub.recoveryBytes`): each item is let go (null) as the replay passes it.
   */
  counted: (BrokerMessage | null)[] | null = null;
  /**
   * While it holds some (`counted`): when its socket last took some of its bytes (performance.now()),
   * and its `bufferedAmount` when last looked at (`checkStalls`: a drop there is the socket taking
   * some of a frame too large to be taken in one go).
   */
  tookAt = 0;
  bufferedSeen = 0;
  constructor(
    readonly member: Member,
    readonly topic: Topic,
  ) {}
}

class Topic {
  readonly subs = new Set<Subscription>();
  /** Subscribed at the broker (or on the way to it). */
  live = false;
  /** The broker operations on this topic, in order: a subscription awaits the one before it. */
  chain: Promise<void> = Promise.resolve();
  /** Offset and epoch of the last message delivered to this topic's subscribers; -1 when none yet. */
  last = -1;
  epoch = '';
  /** Messages held while a gap is filled from history. */
  holding: BrokerMessage[] | null = null;
  /** The gap's history read waits for the broker to be reported available again (`catchUp`). */
  readWaitsBroker = false;
  /** The gap's history reads that failed while the broker stayed available, and were made again (`readFailed`). */
  readFailures = 0;
  /** While the gap is filled: what is delivered to the topic joins the catch-up (`catchUp`), not the turn. */
  caughtUp: Prepared[] | null = null;
  constructor(readonly name: string) {}
}

function invalid(detail: string): WebSocketError {
  return new WebSocketError('ERR_WS_INVALID_ARGUMENT', detail, { captureStack: true });
}

/** The methods of the `Broker` interface: what a broker given to `PubSub` must have. */
const brokerMethods = ['open', 'publish', 'subscribe', 'unsubscribe', 'position', 'history', 'close'];

function toBrokerError(err: unknown): WebSocketError {
  if (err instanceof WebSocketError) return err;
  return unavailable(errorText(err), err);
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Checks a topic name; throws ERR_WS_INVALID_ARGUMENT. */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw invalid('topic must be a non-empty string');
  if (Buffer.byteLength(topic) > TOPIC_MAX_BYTES) throw invalid(`topic over ${TOPIC_MAX_BYTES} bytes`);
  // A lone surrogate has no UTF-8 form: a broker would carry it as U+FFFD, another topic.
  if (LONE_SURROGATE.test(topic)) throw invalid('topic is not well-formed Unicode (a lone surrogate)');
}

/**
 * Checks a position; returns a copy of it, its fields read once: what was checked is what is
 * used, whatever becomes of the caller's object while the subscription is made.
 */
function checkedPosition(p: unknown): TopicPosition {
  if (typeof p !== 'object' || p === null) throw invalid('since must be { offset, epoch }');
  const { offset, epoch } = p as TopicPosition;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw invalid('since.offset must be an integer from 0 to 2^53 − 1 (Number.MAX_SAFE_INTEGER)');
  }
  if (typeof epoch !== 'string') throw invalid('since.epoch must be a string');
  return { offset, epoch };
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min) throw invalid(`${name} must be an integer ≥ ${min}`);
  return v;
}

/**
 * The stream a subscriber argument stands for. The one place that knows the `ws-stream/ws`
 * WebSocket (src/compat/websocket.ts): an adapter that holds its open stream as `_stream`.
 */
function streamOf(ws: PubSubSocket): WebSocketStream | null {
  if (ws instanceof WebSocketStream) return ws;
  const inner = (ws as { _stream?: unknown } | null)?._stream;
  return inner instanceof WebSocketStream ? inner : null;
}

/** Messages of one topic received one after the other in a turn. */
interface Run {
  pubsub: PubSub;
  topic: Topic;
  messages: Prepared[];
}

/**
 * The messages every PubSub of the process received in this turn, in order, as runs of one topic
 * each: handed to the subscribers at the end of the turn, or before the next write to any stream
 * (`deferQueueing`). One list for all PubSubs, so that a stream subscribed through two keeps the
 * order of their messages.
 */
let turn: Run[] = [];
/** A turn is being handed out: a message received meanwhile (published by a 'drop' listener, say) joins it. */
let delivering = false;

function deliverTurn(atTurnEnd: boolean): void {
  if (delivering) return;
  delivering = true;
  try {
    while (turn.length > 0) {
      const runs = turn;
      turn = [];
      // One run at the end of the turn is all its subscribers get in it: written at once.
      const now = atTurnEnd && runs.length === 1;
      for (let i = 0; i < runs.length; i++) deliverRun(runs[i]!, now);
    }
  } finally {
    delivering = false;
  }
}

let deliverRun: (run: Run, now: boolean) => void;

export class PubSub extends EventEmitter<PubSubEvents> {
  static {
    deliverRun = (run, now) => run.pubsub.deliverRun(run.topic, run.messages, now);
  }

  /**
   * The broker this PubSub opened when it was made (`options.broker`, or the MemoryBroker it made),
   * for its whole life; `close()` closes it. Public to read from (`position`, a MemoryBroker's
   * `stats()`): the PubSub alone opens, closes, subscribes and unsubscribes it.
   */
  readonly broker: Broker;
  private drops = 0;
  private readonly historyOptions: HistoryOptions;
  private readonly maxBytes: number;
  /** A replay waits for the socket past this many bytes buffered. */
  private readonly replayHighWater: number;
  /**
   * What a joining subscription may hold before its join knows which of it are duplicates: its
   * cap, and as much again as a topic's history keeps (what can prove a duplicate of the history
   * read). Past it, the policy applies at once: a join that takes that long is not waited for.
   */
  private readonly joinHoldBytes: number;
  private readonly policy: 'drop' | 'close';
  private readonly threshold: number;
  private readonly level: number;
  private readonly format: ((message: BrokerMessage) => string | Buffer) | null;
  private readonly topicsByName = new Map<string, Topic>();
  private readonly members = new Map<WebSocketStream, Member>();
  /** Payloads published here with `compress: false` (the in-process brokers hand back the same Buffer). */
  private readonly uncompressed = new WeakSet<Buffer>();
  private readonly opened: Promise<void>;
  /** History reads of recoveries running (at most HISTORY_READS_AT_ONCE), and those waiting their turn. */
  private historyReads = 0;
  /** `recovery.maxBytes`; 0 when recoveries are not counted (a MemoryBroker's history is its own). */
  private readonly recoveryMaxBytes: number;
  /** What a history read counts while it runs: `history.bytes`, at most `recoveryMaxBytes`. */
  private readonly recoveryReadBytes: number;
  /**
   * Payload bytes of the recovered messages some subscription holds (`Subscription.counted`, each
   * message once however many hold it), plus `recoveryReadBytes` per read running.
   */
  private recoveryBytes = 0;
  /** How many holders (subscriptions, and the read that made it for a turn) each counted message has. */
  private readonly recoveryHolders = new WeakMap<BrokerMessage, number>();
  /** `recovery.stallMs` (0: never). */
  private readonly recoveryStallMs: number;
  /** The subscriptions that hold recovered history (`counted`), for `checkStalls`. */
  private readonly recoveryHolding = new Set<Subscription>();
  /** Armed while recoveries wait for room and some subscription holds history (`watchStalls`). */
  private stallTimer: NodeJS.Timeout | null = null;
  private readonly historyReadsWaiting: HistoryRead[] = [];
  /** The reads waiting, by topic and `since` (`recoveryHistory`). */
  private readonly historyReadsByKey = new Map<string, HistoryRead>();
  /**
   * Recovered history messages by topic and offset, while some replay still holds them
   * (`sharedHistory`); an entry goes when its message is collected (`forgetRecovered`).
   */
  private readonly recoveredByTopic = new Map<string, Map<number, WeakRef<BrokerMessage>>>();
  private readonly forgetRecovered = new FinalizationRegistry<{ topic: string; offset: number }>(
    ({ topic, offset }) => {
      const held = this.recoveredByTopic.get(topic);
      if (held?.get(offset)?.deref() !== undefined) return; // (another message of that offset since)
      held?.delete(offset);
      if (held?.size === 0) this.recoveredByTopic.delete(topic);
    },
  );
  private isOpen = false;
  /** Publishes made before the broker opened and not yet handed to it: later ones queue behind them. */
  private publishesWaitingOpen = 0;
  private closed = false;
  private available = true;

  constructor(options: PubSubOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
    const h = options.history ?? {};
    const historyBytes = positiveInt('history.bytes', h.bytes, pubSubDefaults.history.bytes);
    this.historyOptions = {
      size: positiveInt('history.size', h.size, pubSubDefaults.history.size),
      ttlSeconds: positiveInt('history.ttlSeconds', h.ttlSeconds, pubSubDefaults.history.ttlSeconds),
      bytes: historyBytes,
    };
    const s = options.slowSubscriber ?? {};
    this.maxBytes = positiveInt('slowSubscriber.maxBytes', s.maxBytes, pubSubDefaults.slowSubscriber.maxBytes, 1);
    this.replayHighWater = Math.min(this.maxBytes >> 1, REPLAY_HIGH_WATER);
    this.joinHoldBytes = this.maxBytes + historyBytes;
    this.policy = s.policy ?? pubSubDefaults.slowSubscriber.policy;
    if (this.policy !== 'drop' && this.policy !== 'close')
      throw invalid("slowSubscriber.policy must be 'drop' or 'close'");
    const c = options.compression ?? {};
    this.threshold = positiveInt('compression.threshold', c.threshold, pubSubDefaults.compression.threshold);
    this.level = positiveInt('compression.level', c.level, pubSubDefaults.compression.level);
    if (this.level > 9) throw invalid('compression.level must be 0–9');
    if (options.format !== undefined && typeof options.format !== 'function')
      throw invalid('format must be a function');
    this.format = options.format ?? null;
    if (options.broker !== undefined && !hasMethods(options.broker, brokerMethods)) {
      throw invalid('broker must be a Broker (MemoryBroker, RedisBroker, NatsBroker or one of the same interface)');
    }
    this.broker = options.broker ?? new MemoryBroker();
    const r = options.recovery ?? {};
    const recoveryMaxBytes = positiveInt('recovery.maxBytes', r.maxBytes, pubSubDefaults.recovery.maxBytes, 1);
    this.recoveryMaxBytes = this.broker instanceof MemoryBroker ? 0 : recoveryMaxBytes;
    this.recoveryReadBytes = Math.min(historyBytes, this.recoveryMaxBytes);
    // (At most what a Node timer holds.)
    this.recoveryStallMs = positiveInt('recovery.stallMs', r.stallMs, pubSubDefaults.recovery.stallMs);
    if (this.recoveryStallMs > 2 ** 31 - 1) throw invalid('recovery.stallMs must be at most 2^31 − 1');
    this.opened = this.broker
      .open(
        {
          onMessage: (m) => this.receive(m),
          onAvailability: (a) => this.availabilityChanged(a),
          onRefused: (err) => {
            if (this.listenerCount('refused') > 0) this.emit('refused', err);
            else warn(err);
          },
        },
        this.historyOptions,
      )
      .then(
        () => {
          this.isOpen = true;
        },
        (err: unknown) => {
          const e = toBrokerError(err);
          // (Every operation rejects with it as well: no warning without a listener.)
          if (e.code === 'ERR_WS_BROKER_REFUSED') {
            try {
              this.emit('refused', e);
            } catch (thrown) {
              process.nextTick(rethrow, thrown);
            }
          }
          throw e;
        },
      );
    this.opened.catch(() => {}); // reported by the operations that wait for it
  }

  /**
   * Subscribes `ws` to `topic`. Resolves once the subscription is live (messages published after
   * that are delivered); messages are queued to `ws` from the next turn on, after the code awaiting
   * this ran (so a reply written there goes first). With `since`, what was published after it is
   * delivered first, in order, with no gap and no duplicate, when history still holds it.
   * Subscribing again to a topic is a no-op that resolves as the first subscription did.
   */
  async subscribe(ws: PubSubSocket, topic: string, options: SubscribeOptions = {}): Promise<SubscribeResult> {
    const stream = this.check(ws);
    checkTopic(topic);
    checkOptionsObject(options);
    const given = options.since;
    const since = given === undefined ? undefined : checkedPosition(given);
    if (this.closed) throw new WebSocketError('ERR_WS_INVALID_STATE', 'the PubSub is closed');
    if (!stream.isOpen) throw new WebSocketError('ERR_WS_INVALID_STATE', 'the stream is not open');
    runDeferred(); // what was published before this call is not for the new subscriber
    const member = this.member(stream, ws);
    const existing = member.subs.get(topic);
    if (existing) return existing.joined!;
    let t = this.topicsByName.get(topic);
    if (t === undefined) {
      t = new Topic(topic);
      this.topicsByName.set(topic, t);
    }
    if (!t.live) {
      t.live = true;
      const name = topic;
      t.chain = t.chain.then(async () => {
        await this.opened;
        // Subscribed at the broker again (after the topic's last subscriber left and the broker
        // subscription went): what it delivered before says nothing of this subscription's start
        // (messages published meanwhile never came here), and taken as the last offset it would
        // make the next live message look like a gap and be held for a history read, so that a
        // publish here settled before its message reached this process's subscribers.
        t.last = -1;
        await this.broker.subscribe(name);
      });
    }
    const sub = new Subscription(member, t);
    member.subs.set(topic, sub);
    t.subs.add(sub);
    sub.joined = this.join(sub, since);
    return sub.joined;
  }

  /** Unsubscribes `ws` from `topic` (at once: nothing more of it is queued to `ws`). */
  unsubscribe(ws: PubSubSocket, topic: string): void {
    const stream = this.check(ws);
    checkTopic(topic);
    const sub = this.members.get(stream)?.subs.get(topic);
    if (sub) this.leave(sub);
  }

  /**
   * Publishes to every subscriber of `topic` on every process of the broker. Resolves with the
   * message's offset and epoch once the broker took it; rejects with ERR_WS_BROKER_UNAVAILABLE when
   * it cannot (an outage), ERR_WS_BROKER_REFUSED when its server refuses (credentials, permissions:
   * the server's error is the `cause`). The publisher never waits for subscribers.
   */
  publish(
    topic: string,
    data: string | ArrayBufferView | ArrayBuffer,
    options?: PublishOptions,
  ): Promise<TopicPosition> {
    let payload: Buffer;
    let binary: boolean;
    let compress: boolean | undefined;
    try {
      checkTopic(topic);
      // Bytes the caller owns are copied: the broker may keep them (the MemoryBroker's history, for
      // minutes) while the caller reuses its buffer, and a view (a received message is one of its
      // read chunk) would keep all the memory under it. A string's bytes are made here already,
      // in node's shared pool when short (see `bytesToKeep`).
      payload = bytesToKeep(toBuffer(data), typeof data !== 'string');
      // (`publish(topic, data, true)` would otherwise send text, its options unread)
      if (options !== undefined) checkOptionsObject(options);
      binary = options?.binary ?? typeof data !== 'string';
      if (typeof binary !== 'boolean') throw invalid('binary must be a boolean');
      compress = options?.compress;
      if (compress !== undefined && typeof compress !== 'boolean') throw invalid('compress must be a boolean');
      if (!binary && !isUtf8(payload)) throw invalid('a text message must be valid UTF-8');
      if (this.closed) throw new WebSocketError('ERR_WS_INVALID_STATE', 'the PubSub is closed');
    } catch (err) {
      return Promise.reject(err);
    }
    if (compress === false) this.uncompressed.add(payload);
    const send = (): Promise<TopicPosition> => this.broker.publish(topic, payload, binary).catch(rethrowBrokerError);
    if (this.isOpen && this.publishesWaitingOpen === 0) return send();
    // In call order: one made once the broker is open, while earlier ones still wait for their turn
    // (the reactions to the open run a microtask later), goes after them, not before.
    this.publishesWaitingOpen++;
    return this.opened.then(
      () => {
        this.publishesWaitingOpen--;
        return send();
      },
      (err: unknown) => {
        this.publishesWaitingOpen--;
        throw err;
      },
    );
  }

  /** Subscribers of `topic` on this process. */
  subscriberCount(topic: string): number {
    return this.topicsByName.get(topic)?.subs.size ?? 0;
  }

  /** The topics `ws` is subscribed to. */
  topics(ws: PubSubSocket): string[] {
    const stream = this.check(ws);
    return [...(this.members.get(stream)?.subs.keys() ?? [])];
  }

  /**
   * @internal The broker's open: resolves once it is open, rejects with what refused it (an
   * ERR_WS_BROKER_REFUSED…). The operations wait for it themselves; `serve --pubsub` waits for
   * it before it listens, so that a broker refusing its credentials ends the command.
   */
  _opened(): Promise<void> {
    return this.opened;
  }

  /**
   * @internal Resolves once `ws`'s subscription to `topic` has handed what it recovers (history,
   * then the live messages held meanwhile) to the stream, or is gone. `serve --pubsub` reads no
   * more requests of a connection until then: each recovery holds its history until the socket
   * takes it, and a client subscribing with `since` to topic after topic without reading made the
   * server hold all their histories at once (10 topics of 16 MB on Redis: +150 MB).
   */
  _replayed(ws: PubSubSocket, topic: string): Promise<void> {
    const sub = this.members.get(this.check(ws))?.subs.get(topic);
    if (sub === undefined || (sub.recovered === null && sub.replay === null)) return Promise.resolve();
    return new Promise((resolve) => sub.replayed.push(resolve));
  }

  /**
   * Messages not delivered to a subscriber because of its backlog, since this PubSub was made: one
   * per message and subscriber, counted as its `'drop'` event is emitted (with policy `'close'`,
   * the message that closed the subscriber). It only grows.
   */
  get dropped(): number {
    return this.drops;
  }

  /** Whether the broker is reachable (as it last reported). */
  get brokerAvailable(): boolean {
    return this.available;
  }

  /** Forgets every subscription (streams stay open) and closes the broker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    for (const m of this.members.values()) for (const sub of [...m.subs.values()]) this.leave(sub, false);
    this.members.clear();
    this.topicsByName.clear();
    const refused: unknown = await this.opened.then(
      () => null,
      (err: unknown) => err,
    );
    // A broker that would not open because it is another PubSub's (or closed) is not this one's to close.
    if (refused instanceof WebSocketError && refused.code === 'ERR_WS_INVALID_STATE') return;
    await this.broker.close();
  }

  // ===================================================================== subscribers

  private check(ws: PubSubSocket): WebSocketStream {
    const stream = streamOf(ws);
    if (stream === null) throw invalid('ws must be a WebSocketStream or a ws-stream/ws WebSocket');
    if (stream.role === 'client') throw invalid('a subscriber must be a server-role stream');
    return stream;
  }

  private member(ws: WebSocketStream, handle: PubSubSocket): Member {
    let m = this.members.get(ws);
    if (m === undefined) {
      m = new Member(ws, handle, sharedDeflateBits(ws));
      this.members.set(ws, m);
      const member = m;
      // A closed stream leaves its topics by itself.
      void ws.whenClosed().then(() => this.leaveAll(member));
    }
    return m;
  }

  /** `flush` false: what its subscriptions hold is not sent (it is being closed for its backlog). */
  private leaveAll(m: Member, flush = true): void {
    if (this.members.get(m.ws) !== m) return;
    this.members.delete(m.ws);
    for (const sub of [...m.subs.values()]) this.leave(sub, true, flush);
  }

  private leave(sub: Subscription, tellBroker = true, flush = true): void {
    runDeferred(); // what was published before it left is still for it
    if (flush) {
      // Left after `subscribe` resolved but before its first turn, or while history is replayed:
      // what it holds (recovered history, messages after its offset) was published while it was
      // subscribed, and goes out now, each message checked against its backlog.
      if (sub.recovered !== null) this.goLive(sub);
      this.flushReplay(sub);
    }
    const t = sub.topic;
    if (sub.member.subs.get(t.name) === sub) sub.member.subs.delete(t.name);
    sub.recovered = null;
    sub.replay = null;
    sub.pending = null;
    this.letGoRecovered(sub);
    replayEnded(sub);
    if (!t.subs.delete(sub) || t.subs.size > 0 || !t.live || !tellBroker) return;
    t.live = false;
    const left: Promise<void> = t.chain
      .then(() => this.broker.unsubscribe(t.name))
      .catch(() => {}) // a broker that is down forgets its subscriptions anyway
      .then(() => {
        // Forgotten only when no broker call was queued behind this one: a topic made anew beside
        // queued calls would race them (its subscribe a no-op, then their unsubscribe).
        if (t.chain === left && !t.live && t.subs.size === 0 && this.topicsByName.get(t.name) === t) {
          this.topicsByName.delete(t.name);
        }
      });
    t.chain = left;
  }

  /** Makes `sub` live: broker subscription first, then its position and (with `since`) history. */
  private async join(sub: Subscription, since: TopicPosition | undefined): Promise<SubscribeResult> {
    const t = sub.topic;
    const current = (): boolean => sub.member.subs.get(t.name) === sub;
    try {
      await t.chain;
      const pos = await this.broker.position(t.name);
      let history: BrokerMessage[] | null = null;
      if (since !== undefined && since.epoch === pos.epoch && since.offset <= pos.offset) {
        history = await this.recoveryHistory(sub, since);
        // A broker must answer from `since` on, contiguously; anything else cannot be trusted.
        if (history !== null && history.length > 0 && history[0]!.offset !== since.offset + 1) history = null;
      }
      const result: SubscribeResult =
        since === undefined
          ? { offset: pos.offset, epoch: pos.epoch }
          : history !== null
            ? { offset: since.offset, epoch: since.epoch, recovered: true }
            : { offset: pos.offset, epoch: pos.epoch, recovered: false };
      if (current()) {
        sub.last = result.offset;
        sub.epoch = result.epoch;
        sub.recovered = this.holdRecovered(sub, history);
        const end = history !== null && history.length > 0 ? history[history.length - 1]!.offset : 0;
        this.joined(sub, result.epoch, Math.max(result.offset, end));
        // Queued from the next turn: after the caller's continuation (a "subscribed" reply, say).
        if (current()) setImmediate(() => this.goLive(sub));
      }
      return result;
    } catch (err) {
      sub.joining = false;
      if (current()) this.leave(sub);
      throw toBrokerError(err);
    }
  }

  /**
   * The join of `sub` knows where it starts: what it holds at or below `through` (in `epoch`) would
   * be skipped (a duplicate of its history, or published before its start), so it is let go
   * uncounted, and only then is what is left held to the backlog cap (the slow-subscriber policy
   * for the newest, as when history does not fit beside them). Later duplicates are not held.
   */
  private joined(sub: Subscription, epoch: string, through: number): void {
    sub.joining = false;
    sub.heldThrough = through;
    sub.heldEpoch = epoch;
    const held = sub.pending;
    if (held === null) return;
    const kept = held.filter((p) => p.message.epoch !== epoch || p.message.offset > through);
    sub.pending = kept;
    sub.pendingBytes = 0;
    for (const p of kept) sub.pendingBytes += heldSize(p);
    this.dropNewestHeld(sub, sub.member.ws.bufferedAmount);
  }

  /**
   * The broker's history of `topic` after `since`, read HISTORY_READS_AT_ONCE at a time, in the
   * order asked; recoveries that wait with the same topic and `since` take one read (made after
   * each of them read the position, so it reaches every one's), its messages shared (`sharedHistory`).
   * A read whose subscriptions all left while it waited (clients that subscribed with `since` and
   * reset their connections at once) is not made: each was a read of up to `history.bytes` from a
   * Redis or NATS broker, for no one, ahead of the recoveries queued behind it. (Null: what was
   * recovered no longer matters to anyone.)
   */
  private recoveryHistory(sub: Subscription, since: TopicPosition): Promise<BrokerMessage[] | null> {
    const topic = sub.topic.name;
    const key = JSON.stringify([topic, since.epoch, since.offset]);
    const waiting = this.historyReadsByKey.get(key);
    if (waiting) {
      waiting.subs.push(sub);
      return waiting.result;
    }
    const subs = [sub];
    let start!: () => void;
    const started = new Promise<void>((resolve) => (start = resolve));
    const result = started
      .then(() => (subs.some(isCurrent) ? this.broker.history(topic, since) : null))
      .then((history) => {
        const shared = this.sharedHistory(topic, history);
        if (shared !== null && shared.length > 0 && this.recoveryMaxBytes > 0) {
          // Held by the read for a turn: counted before its own count goes below, and until each
          // of its subscriptions (their joins go on in this turn's microtasks) holds it.
          for (const m of shared) this.holdMessage(m);
          setImmediate(() => {
            for (const m of shared) this.letGoMessage(m);
            this.startHistoryReads();
          });
        }
        return shared;
      })
      .finally(() => {
        this.historyReads--;
        this.recoveryBytes -= this.recoveryReadBytes;
        this.startHistoryReads();
      });
    this.historyReadsWaiting.push({ key, result, start, subs });
    this.historyReadsByKey.set(key, this.historyReadsWaiting.at(-1)!);
    this.startHistoryReads();
    return result;
  }

  /**
   * Starts the reads waiting, in order, while fewer than HISTORY_READS_AT_ONCE run and each fits
   * `recovery.maxBytes` beside what recoveries hold (or nothing is held nor read: one read always
   * goes, whatever its size). From then on, no one joins it.
   */
  private startHistoryReads(): void {
    while (this.historyReads < HISTORY_READS_AT_ONCE && this.historyReadsWaiting.length > 0) {
      if (!this.roomForRead()) {
        this.watchStalls(); // (those who hold it may have stopped reading)
        return;
      }
      const next = this.historyReadsWaiting.shift()!;
      this.historyReadsByKey.delete(next.key);
      this.historyReads++;
      this.recoveryBytes += this.recoveryReadBytes;
      next.start();
    }
  }

  /** Whether a history read fits `recovery.maxBytes` beside what is held and read (always when nothing is). */
  private roomForRead(): boolean {
    if (this.recoveryMaxBytes === 0 || this.recoveryBytes === 0) return true;
    return this.recoveryBytes + this.recoveryReadBytes <= this.recoveryMaxBytes;
  }

  /**
   * Recoveries wait for room: arms a timer for the moment the first holder of history would have
   * stalled (`recovery.stallMs` after its socket last took some), unless one is armed already.
   */
  private watchStalls(): void {
    if (this.recoveryStallMs === 0 || this.stallTimer !== null || this.closed) return;
    let first = Infinity;
    for (const sub of this.recoveryHolding) first = Math.min(first, sub.tookAt);
    if (first === Infinity) return; // only reads running hold it: each lets its share go as it ends
    const delay = Math.max(1, Math.ceil(first + this.recoveryStallMs - performance.now()));
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      this.checkStalls();
    }, delay);
    this.stallTimer.unref(); // (a recovery waiting holds no process up by itself)
  }

  /**
   * While recoveries still wait for room: every holder of recovered history whose socket has taken
   * nothing for `recovery.stallMs` meets the slow-subscriber policy (`recoveryStalled`); then the
   * reads that now fit go, and the timer is armed again if some still wait.
   */
  private checkStalls(): void {
    if (this.closed || this.roomForRead()) return;
    // (A read whose subscribers all left is made for no one: not worth closing anyone for.)
    if (!this.historyReadsWaiting.some((r) => r.subs.some(isCurrent))) return;
    const now = performance.now();
    for (const sub of [...this.recoveryHolding]) {
      if (!this.recoveryHolding.has(sub)) continue; // (let go meanwhile: a 'drop' listener)
      const buffered = sub.member.ws.bufferedAmount;
      if (buffered < sub.bufferedSeen) sub.tookAt = now;
      sub.bufferedSeen = buffered;
      if (now - sub.tookAt >= this.recoveryStallMs) this.recoveryStalled(sub);
    }
    this.startHistoryReads();
  }

  /**
   * `sub` holds recovered history, and its socket took none of it for `recovery.stallMs` while
   * other recoveries wait for room: the policy of a slow subscriber. 'close': closed (1008), its
   * share let go as it leaves. 'drop': what it has not been sent of that history is skipped, one
   * 'drop' event per message (its payload's size), and its replay goes on with the live messages
   * held meanwhile; the gap shows in its offsets, as for a live message dropped.
   */
  private recoveryStalled(sub: Subscription): void {
    const counted = sub.counted!;
    if (this.policy === 'close') {
      const m = counted.find((c) => c !== null);
      if (m === undefined || m === null) return this.letGoRecovered(sub); // (passed all of it: nothing held)
      this.tooSlow(sub, m.data.length, m, `recovered history not taken for ${this.recoveryStallMs} ms`);
      return;
    }
    for (let i = 0; i < counted.length; i++) {
      const m = counted[i];
      if (m === null || m === undefined) continue;
      counted[i] = null;
      this.letGoMessage(m);
      this.tooSlow(sub, m.data.length, m);
      if (sub.counted !== counted) return; // its listener made it leave (and let the rest go)
    }
    this.letGoRecovered(sub);
    if (sub.replay === counted) {
      // Its replay skips to the live messages held meanwhile, once the frames in flight are taken.
      sub.replayAt = counted.length;
      sub.replayNext = null;
      if (sub.replayInFlight === 0) this.pump(sub);
    } else if (sub.recovered === counted) {
      sub.recovered = []; // (its replay has not started: it starts with what it holds)
    }
  }

  /**
   * What `sub` recovers: with recoveries counted, its own copy of `history`, each message held
   * (`Subscription.counted`) until its replay passes it or it leaves.
   */
  private holdRecovered(sub: Subscription, history: BrokerMessage[] | null): BrokerMessage[] {
    if (history === null || history.length === 0 || this.recoveryMaxBytes === 0) return history ?? [];
    const own = history.slice();
    for (const m of own) this.holdMessage(m);
    sub.counted = own;
    sub.tookAt = performance.now();
    sub.bufferedSeen = sub.member.ws.bufferedAmount;
    this.recoveryHolding.add(sub);
    return own;
  }

  /** `sub`'s replay passed item `i` of `items`: a recovered message it held is let go. */
  private passedRecovered(sub: Subscription, items: (BrokerMessage | Prepared | null)[], i: number): void {
    if (sub.counted === null || items !== sub.counted) return;
    const m = sub.counted[i];
    if (m === null || m === undefined) return;
    sub.counted[i] = null;
    this.letGoMessage(m);
    this.startHistoryReads();
  }

  /** `sub` holds none of its recovered history any more (it left, or its replay is done). */
  private letGoRecovered(sub: Subscription): void {
    const counted = sub.counted;
    if (counted === null) return;
    sub.counted = null;
    this.recoveryHolding.delete(sub);
    for (let i = 0; i < counted.length; i++) {
      const m = counted[i];
      if (m === null || m === undefined) continue;
      counted[i] = null;
      this.letGoMessage(m);
    }
    this.startHistoryReads();
  }

  private holdMessage(m: BrokerMessage): void {
    const holders = this.recoveryHolders.get(m) ?? 0;
    this.recoveryHolders.set(m, holders + 1);
    if (holders === 0) this.recoveryBytes += m.data.length;
  }

  private letGoMessage(m: BrokerMessage): void {
    const holders = this.recoveryHolders.get(m)!;
    if (holders > 1) {
      this.recoveryHolders.set(m, holders - 1);
      return;
    }
    this.recoveryHolders.delete(m);
    this.recoveryBytes -= m.data.length;
  }

  /**
   * `history` with each message replaced by the same one (topic, epoch, offset) that a replay
   * already holds, if any: subscribers recovering one topic hold one copy of its payloads until
   * their sockets take them. (A Redis, NATS or cluster read is a fresh copy each time: fifty
   * subscribers recovering 16 MiB, not reading, held 800 MB. A MemoryBroker hands out its own.)
   */
  private sharedHistory(topic: string, history: BrokerMessage[] | null): BrokerMessage[] | null {
    if (history === null || history.length === 0 || this.broker instanceof MemoryBroker) return history;
    let held = this.recoveredByTopic.get(topic);
    if (!held) this.recoveredByTopic.set(topic, (held = new Map()));
    const byOffset = held;
    return history.map((m) => {
      const kept = byOffset.get(m.offset)?.deref();
      if (kept !== undefined && kept.epoch === m.epoch) return kept;
      byOffset.set(m.offset, new WeakRef(m));
      this.forgetRecovered.register(m, { topic, offset: m.offset });
      return m;
    });
  }

  /** Delivers the recovered history, then what arrived meanwhile, and makes `sub` live. */
  private goLive(sub: Subscription): void {
    const pending = sub.pending;
    const history = sub.recovered;
    if (pending === null || history === null || sub.member.subs.get(sub.topic.name) !== sub) return;
    if (!sub.member.ws.isOpen) {
      // Closed (by either side) before its first turn: it gets nothing more, as any closed stream,
      // and leaves now, also when it held nothing (not when the close handshake ends).
      sub.pending = null;
      sub.pendingBytes = 0;
      sub.recovered = null;
      this.leaveAll(sub.member);
      return;
    }
    sub.recovered = null;
    this.startReplay(sub, history);
  }

  /**
   * Replays `items` (history, in offset order) to `sub`, then what is held for it: paced by the
   * socket (`pump`). Live messages arriving meanwhile are held (`offer`), counted in its backlog.
   */
  private startReplay(sub: Subscription, items: (BrokerMessage | Prepared)[]): void {
    sub.pending ??= [];
    sub.replay = items;
    sub.replayAt = 0;
    sub.replayNext = null;
    sub.replayHeld = false;
    sub.onReplayWritten ??= (err) => {
      sub.replayInFlight--;
      if (err !== null) return;
      if (sub.counted !== null) sub.tookAt = performance.now(); // (its socket took some: not stalled)
      this.pump(sub);
    };
    this.pump(sub);
  }

  /**
   * Sends the replay on as far as the socket takes it: up to `replayHighWater` buffered, and never
   * over the backlog cap counting the held live messages; the callback of a queued frame resumes
   * it. So a recovering subscriber never has thousands of history messages queued at once, and one
   * that stops reading meets the slow-subscriber policy once its held live messages no longer fit.
   * History done, the held messages follow the same way (new live ones are held meanwhile); once
   * nothing is held, the subscription is live.
   */
  private pump(sub: Subscription): void {
    const member = sub.member;
    const ws = member.ws;
    for (;;) {
      const items = sub.replay;
      if (items === null || member.subs.get(sub.topic.name) !== sub) return;
      if (sub.replayAt >= items.length) {
        const held = sub.pending!;
        if (held.length === 0) {
          this.letGoRecovered(sub);
          sub.replay = null;
          sub.pending = null;
          sub.pendingBytes = 0;
          replayEnded(sub);
          return;
        }
        // The held live messages are replayed in turn; they stay counted in pendingBytes until sent.
        this.letGoRecovered(sub);
        sub.replay = held;
        sub.replayAt = 0;
        sub.replayNext = null;
        sub.replayHeld = true;
        sub.pending = [];
        continue;
      }
      let p = sub.replayNext;
      if (p === null) {
        const item = items[sub.replayAt]!;
        p = item instanceof Prepared ? item : this.prepare(item);
        if (p === null) {
          this.passedRecovered(sub, items, sub.replayAt++);
          continue;
        }
        sub.replayNext = p;
      }
      const m = p.message;
      if (m.epoch !== sub.epoch) this.epochChanged(sub, m);
      if (member.subs.get(sub.topic.name) !== sub || sub.replay !== items) return; // (its listener left)
      const heldBytes = sub.replayHeld ? heldSize(p) : 0;
      if (m.offset <= sub.last) {
        this.passedRecovered(sub, items, sub.replayAt++);
        sub.replayNext = null;
        sub.pendingBytes -= heldBytes;
        continue;
      }
      const f = p.frameFor(member.deflateBits);
      const buffered = ws.bufferedAmount;
      const beside = sub.pendingBytes - heldBytes; // the held live messages besides this item
      const over = buffered + beside + f.length > this.maxBytes;
      if (sub.replayInFlight > 0 && (over || buffered >= this.replayHighWater)) return;
      if (over && beside + f.length <= this.maxBytes) {
        // It fits once the socket has sent what it holds (other topics' messages, the application's
        // own): wait for that, as for the replay's own frames, instead of skipping what was
        // promised (`recovered: true`). A subscriber that does not read meets the policy through
        // the live messages it is sent or held meanwhile.
        if (!whenWritten(ws, sub.onReplayWritten!)) {
          this.leaveAll(member, false); // no longer open: its close is on the way
          return;
        }
        sub.replayInFlight++;
        return;
      }
      const history = !sub.replayHeld || p.caughtUp;
      if (
        over &&
        history &&
        this.policy === 'drop' &&
        f.length <= this.maxBytes &&
        this.dropNewestHeld(sub, f.length)
      ) {
        // Under 'drop' history (recovered, or caught up after an outage) is never skipped for the
        // live messages held behind it (they may fill the cap before the first turn): the newest of
        // them go, until it would fit with the socket empty. (Not when it would not fit without
        // them either: they would go for nothing.)
        if (member.subs.get(sub.topic.name) !== sub || sub.replay !== items) return; // (its listener left)
        continue;
      }
      this.passedRecovered(sub, items, sub.replayAt++);
      sub.replayNext = null;
      sub.pendingBytes -= heldBytes;
      if (over) {
        // Not even with the socket empty: it does not fit.
        if (!this.tooSlow(sub, f.length, m)) return;
        continue;
      }
      sub.last = m.offset;
      if (!queuePreparedFrame(ws, f, sub.onReplayWritten!)) {
        this.leaveAll(member, false); // no longer open: its close is on the way
        return;
      }
      sub.replayInFlight++;
      // What it has buffered now, this frame in it: less at the next look (`checkStalls`) is the
      // socket taking some, also of a frame too large for one go (no callback for a long while).
      sub.bufferedSeen = ws.bufferedAmount;
    }
  }

  /**
   * Skips the newest live messages held for `sub` (a 'drop' event each) until `need` more bytes fit
   * its backlog beside the rest, or none is left to skip: those held, then those of a replay of
   * held messages after its current one (never what was caught up after an outage). Stops if a
   * 'drop' listener made it leave. Returns whether it skipped any.
   */
  private dropNewestHeld(sub: Subscription, need: number): boolean {
    const held = sub.pending!;
    const lists: { list: (BrokerMessage | Prepared)[]; keep: number }[] = [{ list: held, keep: -1 }];
    if (sub.replayHeld && sub.replay !== null) lists.push({ list: sub.replay, keep: sub.replayAt });
    let skipped = false;
    for (const { list, keep } of lists) {
      let i = list.length;
      while (sub.pending === held && need + sub.pendingBytes > this.maxBytes) {
        do i--;
        while (i > keep && (list[i] as Prepared).caughtUp);
        if (i <= keep) break;
        const p = list.splice(i, 1)[0] as Prepared;
        const bytes = heldSize(p);
        sub.pendingBytes -= bytes;
        skipped = true;
        this.tooSlow(sub, bytes, p.message);
      }
    }
    return skipped;
  }

  /** Leaving while replaying: what is left of the replay and what is held go out now, within the cap. */
  private flushReplay(sub: Subscription): void {
    const items = sub.replay;
    if (items === null) return;
    const held = sub.pending ?? [];
    sub.replay = null;
    sub.pending = null;
    sub.pendingBytes = 0;
    if (!sub.member.ws.isOpen) return;
    for (let i = sub.replayAt; i < items.length; i++) {
      const item = items[i]!;
      const p =
        i === sub.replayAt && sub.replayNext !== null
          ? sub.replayNext
          : item instanceof Prepared
            ? item
            : this.prepare(item);
      if (p !== null && !this.offer(sub, p)) return;
    }
    for (const p of held) if (!this.offer(sub, p)) return;
  }

  /** A live subscriber meets a new epoch: it starts over from the offset before `m`, and hears so first. */
  private epochChanged(sub: Subscription, m: BrokerMessage): void {
    const known = sub.epoch !== '';
    sub.epoch = m.epoch;
    sub.last = 0;
    if (!known) return;
    try {
      this.emit('epoch', { ws: sub.member.handle, topic: sub.topic.name, offset: m.offset - 1, epoch: m.epoch });
    } catch (err) {
      process.nextTick(rethrow, err); // the listener's own error, as for 'drop'
    }
  }

  // ===================================================================== delivery

  private receive(m: BrokerMessage): void {
    const t = this.topicsByName.get(m.topic);
    if (t === undefined) return;
    if (t.subs.size === 0) {
      // To no one (the last subscriber left, the broker's unsubscribe not answered yet): `last` no
      // longer says where delivery stands, and one who subscribes now was never owed this.
      t.last = -1;
      return;
    }
    if (t.holding !== null) {
      t.holding.push(m);
      return;
    }
    if (m.epoch !== t.epoch) {
      // A new epoch under a topic that was delivering: every message of it was published while
      // this process subscribed, so offsets before the first one here were skipped.
      if (t.last >= 0 && m.offset > 1) this.skipped(t, m.epoch, 1, m.offset - 1, 'not-in-history');
      t.epoch = m.epoch;
      t.last = -1;
    }
    if (t.last >= 0) {
      if (m.offset <= t.last) return; // seen already (a broker may repeat after a reconnect)
      if (m.offset > t.last + 1) {
        // Missed while the broker link was down: fill the gap from history before going on.
        t.holding = [m];
        this.catchUp(t);
        return;
      }
    }
    t.last = m.offset;
    const p = this.prepare(m);
    if (p !== null) this.deliver(t, p);
  }

  /**
   * Reads what `t` missed after its last offset and delivers it, then what was held meanwhile: to
   * each subscriber as a replay paced by its socket, as recovered history is, and never counted in
   * its backlog (it is not slow for the broker's outage). Live messages that come during that
   * replay are held and counted as usual: one that cannot keep up still meets the policy.
   */
  private catchUp(t: Topic): void {
    t.holding ??= [];
    // A gap in what the broker delivers while it is reported unavailable (its own catch-up after a
    // lost link): its reads fail until then (NATS's at once, unavailable), which would skip as
    // 'read-failed' what a read once it is back finds gone, or still there.
    t.readWaitsBroker = !this.available;
    if (t.readWaitsBroker) return;
    this.broker.history(t.name, { offset: t.last, epoch: t.epoch }).then(
      (history) => this.filled(t, history, false),
      () => this.readFailed(t),
    );
  }

  /**
   * `t`'s catch-up read failed (its link stalled or dropped while it ran): history may still hold
   * the range (the README's promise), so the topic keeps holding and reads again, once the broker
   * is reported available again (`availabilityChanged`) or, while it still is, after a short pause
   * (`retryPause`), `CATCH_UP_RETRIES` times at most; only then is the range skipped, 'read-failed'.
   */
  private readFailed(t: Topic): void {
    // Nothing left to read for: the PubSub closed, every subscriber left (the held messages go to
    // no one), or the topic was subscribed anew at the broker (`last` -1: never owed the range).
    if (this.closed || t.subs.size === 0 || t.last < 0) return this.filled(t, null, false);
    // What the topic holds meanwhile grows with every live message: past the bound a broker holds
    // a topic to during its reads (`MAX_HELD`, `MAX_HELD_BYTES`), the range is given up rather than
    // this process's memory, as if no retry were left.
    const held = t.holding ?? [];
    if (held.length > MAX_HELD || payloadBytes(held) > MAX_HELD_BYTES) return this.filled(t, null, true);
    if (!this.available) {
      t.readWaitsBroker = true; // read again once it is back (not a retry: no link to read on)
      return;
    }
    if (t.readFailures >= CATCH_UP_RETRIES) return this.filled(t, null, true);
    void retryPause(t.readFailures++, CATCH_UP_RETRY_MAX_MS).then(() => {
      if (this.closed || t.subs.size === 0 || t.last < 0) this.filled(t, null, false);
      else this.catchUp(t); // (which waits for the broker if it was lost during the pause)
    });
  }

  /**
   * Delivers what `t`'s catch-up read gave (`history`; null when none, `failed` when the read
   * failed for good), then what the topic held meanwhile.
   */
  private filled(t: Topic, history: BrokerMessage[] | null, failed: boolean): void {
    t.readFailures = 0;
    const held = t.holding ?? [];
    t.holding = null;
    const caughtUp: Prepared[] = [];
    for (const m of history ?? []) {
      if (m.epoch !== t.epoch || m.offset <= t.last) continue;
      // A `Broker` of one's own that answered the range's newer part only (against its contract):
      // the older part is skipped, and told as any other.
      if (t.last >= 0 && m.offset > t.last + 1) this.skipped(t, t.epoch, t.last + 1, m.offset - 1, 'not-in-history');
      t.last = m.offset;
      const p = this.prepare(m);
      if (p !== null) caughtUp.push(p);
    }
    // What history could not give is lost for good: take what follows as it is. (A held message
    // of another epoch starts it over in `receive`, which tells what that epoch's start lacks.
    // `last` -1: the topic was subscribed anew at the broker meanwhile, and its new subscribers
    // were never owed what came before.)
    const next = held[0];
    if (next !== undefined && next.epoch === t.epoch && t.last >= 0 && next.offset > t.last + 1) {
      this.skipped(t, t.epoch, t.last + 1, next.offset - 1, failed ? 'read-failed' : 'not-in-history');
      t.last = -1;
    }
    // The held messages follow (a new gap among them holds the rest again, for its own read).
    t.caughtUp = caughtUp;
    try {
      for (const m of held) this.receive(m);
    } finally {
      t.caughtUp = null;
    }
    if (caughtUp.length === 0) return;
    for (const p of caughtUp) p.caughtUp = true;
    runDeferred(); // what was gathered before goes first
    for (const sub of [...t.subs]) {
      if (sub.member.subs.get(t.name) !== sub) continue;
      if (sub.pending === null) this.startReplay(sub, caughtUp);
      else for (const p of caughtUp) sub.pending.push(p); // joining or replaying: after what it holds
    }
  }

  /**
   * Live delivery on `t` goes on past offsets `from` to `to` of `epoch`, which no one here will get:
   * the one place a skip is decided, whichever broker's read came short ('gap', once per topic).
   */
  private skipped(t: Topic, epoch: string, from: number, to: number, reason: GapEvent['reason']): void {
    // No subscriber left (every one left, or the PubSub closed, while the topic's read ran): no one lacks them.
    if (t.subs.size === 0) return;
    try {
      this.emit('gap', { topic: t.name, epoch, from, to, reason });
    } catch (err) {
      process.nextTick(rethrow, err); // the listener's own error, as for 'drop'
    }
  }

  /**
   * `m` ready to send, or null when `format` throws (or returns neither a string nor a Buffer): that
   * message is skipped on every path (live, recovered history, catch-up), with a process warning.
   */
  private prepare(m: BrokerMessage): Prepared | null {
    let formatted: string | Buffer;
    try {
      formatted = this.format === null ? m.data : this.format(m);
      if (typeof formatted !== 'string' && !Buffer.isBuffer(formatted)) {
        throw new TypeError(`PubSub format returned ${typeof formatted}, not a string or a Buffer`);
      }
    } catch (err) {
      warn(err);
      return null;
    }
    const payload = typeof formatted === 'string' ? Buffer.from(formatted) : formatted;
    const opcode = typeof formatted === 'string' || !m.binary ? Opcode.Text : Opcode.Binary;
    const compressible = payload.length >= this.threshold && this.level > 0 && !this.uncompressed.has(m.data);
    return new Prepared(m, payload, opcode, compressible, this.level);
  }

  /**
   * Gathers `p` with the other messages of this turn; they are queued to the subscribers at the
   * end of the turn, or before the next write to any stream, so they keep their place before
   * whatever is written after them. A run of one topic's messages then costs each subscriber one
   * shared Buffer, one queue entry and one check instead of one per message (as uWebSockets' corked
   * publish does); a stream writes what was queued to it in one turn in one system call.
   */
  private deliver(t: Topic, p: Prepared): void {
    if (t.caughtUp !== null) {
      t.caughtUp.push(p);
      return;
    }
    // While the broker is reported unavailable, what it delivers is its own catch-up (Redis and NATS
    // read what a topic missed and release what they held before they report available again).
    if (!this.available) p.caughtUp = true;
    const n = turn.length;
    if (n > 0 && turn[n - 1]!.topic === t) {
      turn[n - 1]!.messages.push(p);
      return;
    }
    turn.push({ pubsub: this, topic: t, messages: [p] });
    if (n === 0 && !delivering) deferQueueing(deliverTurn);
  }

  /**
   * Queues a run of `t`'s messages (offsets increasing) to every subscriber. A live subscriber
   * that has none of them yet, and room for them all, is queued one Buffer holding every frame
   * (joined once per compressor window, shared); any other takes them one by one (`offer`).
   */
  private deliverRun(t: Topic, run: Prepared[], now: boolean): void {
    if (run.length === 1) {
      const p = run[0]!;
      if (p.caughtUp) for (const sub of t.subs) this.offerCaughtUp(sub, p);
      else for (const sub of t.subs) this.offer(sub, p, now);
      return;
    }
    if (run.some((p) => p.caughtUp)) {
      for (const sub of t.subs) {
        for (const p of run) if (!(p.caughtUp ? this.offerCaughtUp(sub, p) : this.offer(sub, p))) break;
      }
      return;
    }
    const first = run[0]!.message;
    const last = run[run.length - 1]!.message;
    const epoch = first.epoch === last.epoch ? first.epoch : null; // a run across a new epoch goes one by one
    // The run as one Buffer per compressor window (0: uncompressed), joined once the first
    // subscriber that may take it asks (a run too big for every backlog is never copied).
    let plain: JoinedRun | null = null;
    let deflated: Map<number, JoinedRun> | null = null;
    for (const sub of t.subs) {
      const member = sub.member;
      if (sub.pending === null && sub.epoch === epoch && sub.last < first.offset) {
        const bits = member.deflateBits;
        let j: JoinedRun | undefined;
        if (bits === 0) j = plain ??= { bytes: runBytes(run, 0), frames: null };
        else {
          deflated ??= new Map();
          j = deflated.get(bits);
          if (j === undefined) deflated.set(bits, (j = { bytes: runBytes(run, bits), frames: null }));
        }
        if (j.bytes <= this.maxBytes) {
          const ws = member.ws;
          // An idle stream (its backlog empty) takes it at once; a busy one queues it if it has room.
          if (now && tryWritePreparedFrameNow(ws, (j.frames ??= joinFrames(run, bits, j.bytes)))) {
            sub.last = last.offset;
            continue;
          }
          if (j.bytes <= this.maxBytes - ws.bufferedAmount) {
            sub.last = last.offset;
            // Not taken: no longer open, its close is on the way.
            if (!queuePreparedFrame(ws, (j.frames ??= joinFrames(run, bits, j.bytes)))) this.leaveAll(member);
            continue;
          }
        }
      }
      for (let i = 0; i < run.length; i++) if (!this.offer(sub, run[i]!)) break;
    }
  }

  /** Hands `p` to one subscriber, or holds it while the subscriber joins. False if the subscriber is gone. */
  private offer(sub: Subscription, p: Prepared, now = false): boolean {
    const m = p.message;
    const member = sub.member;
    if (sub.pending !== null) {
      if (m.offset <= sub.heldThrough && m.epoch === sub.heldEpoch) return true; // a duplicate: it would be skipped
      const bytes = heldSize(p);
      const cap = sub.joining ? this.joinHoldBytes : this.maxBytes;
      if (member.ws.bufferedAmount + sub.pendingBytes + bytes > cap) return this.tooSlow(sub, bytes, m);
      sub.pending.push(p);
      sub.pendingBytes += bytes;
      return true;
    }
    if (m.epoch !== sub.epoch) {
      this.epochChanged(sub, m);
      if (sub.member.subs.get(sub.topic.name) !== sub) return false; // its listener made it leave
    }
    if (m.offset <= sub.last) return true;
    sub.last = m.offset;
    const f = p.frameFor(member.deflateBits);
    if (now && f.length <= this.maxBytes && tryWritePreparedFrameNow(member.ws, f)) return true;
    if (member.ws.bufferedAmount + f.length > this.maxBytes) return this.tooSlow(sub, f.length, m);
    if (queuePreparedFrame(member.ws, f)) return true;
    this.leaveAll(member); // no longer open: its close is on the way
    return false;
  }

  /**
   * Hands `p`, caught up after an outage, to one subscriber: replayed as its socket drains, or after
   * what it holds (uncounted, see `heldSize`). False if the subscriber is gone.
   */
  private offerCaughtUp(sub: Subscription, p: Prepared): boolean {
    if (sub.pending === null) this.startReplay(sub, [p]);
    else sub.pending.push(p);
    return sub.member.subs.get(sub.topic.name) === sub;
  }

  /**
   * Message `m` does not fit a subscriber's backlog (or its recovery stalled: `why`, the close
   * reason): the slow-subscriber policy.
   */
  private tooSlow(sub: Subscription, bytes: number, m: BrokerMessage, why = `over ${this.maxBytes} bytes`): boolean {
    const member = sub.member;
    this.drops++;
    try {
      const { offset, epoch } = m;
      this.emit('drop', { ws: member.handle, topic: sub.topic.name, offset, epoch, bytes, policy: this.policy });
    } catch (err) {
      // The listener's own error: reported as uncaught, but the other subscribers still get the message.
      process.nextTick(rethrow, err);
    }
    if (this.policy === 'drop') return true;
    this.leaveAll(member, false);
    const err = new WebSocketError('ERR_WS_SLOW_SUBSCRIBER', why);
    member.ws.close({ code: err.closeCode, reason: closeReasonOf(err.message) }).catch(() => {});
    return false;
  }

  private availabilityChanged(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    if (available) {
      // Back: what the topics missed while it was down is recovered from history.
      for (const t of this.topicsByName.values()) {
        if (t.readWaitsBroker || (t.live && t.last >= 0 && t.holding === null)) this.catchUp(t);
      }
    }
    this.emit('availability', available);
  }
}

/** A run's frames for one compressor window: their size, and once asked for, the frames in one Buffer. */
interface JoinedRun {
  bytes: number;
  frames: Buffer | null;
}

/** The size of `run`'s frames for compressor window `bits`. */
function runBytes(run: Prepared[], bits: number): number {
  let n = 0;
  for (let i = 0; i < run.length; i++) n += run[i]!.frameFor(bits).length;
  return n;
}

/** The frames of `run` for compressor window `bits` (`bytes` in all), one after the other in one Buffer. */
function joinFrames(run: Prepared[], bits: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let pos = 0;
  for (let i = 0; i < run.length; i++) {
    const f = run[i]!.frameFor(bits);
    out.set(f, pos);
    pos += f.length;
  }
  return out;
}

/**
 * What a held message counts in its subscriber's backlog: its payload and the largest frame header
 * (14 bytes); nothing for one caught up after an outage.
 */
function heldSize(p: Prepared): number {
  return p.caughtUp ? 0 : p.payload.length + 14;
}

function rethrow(err: unknown): never {
  throw err;
}

function rethrowBrokerError(err: unknown): never {
  throw toBrokerError(err);
}
