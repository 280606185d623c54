/**
 * The default broker: one process, everything in memory. Offsets count from 1 per topic; the epoch
 * names this broker's life (another process, or a restart, is another epoch). History is bounded
 * per topic by a count, a total of payload bytes and an age. A topic nobody subscribes to is
 * forgotten once it holds no history (expired, trimmed or none kept), so abandoned topics cost
 * nothing; made again later, it starts over from offset 1 under a new epoch if it had held any
 * message, and under the same epoch if it never had one (nothing was lost: a `since` at offset 0
 * is still recovered). Across topics, the
 * history is bounded by `totalBytes`: past it, the topics published to least recently lose their
 * oldest messages first. So is what keeping it costs beside the payload (`BOOKKEEPING`): a flood of
 * one-byte messages to distinct topics, a few bytes of payload each, would otherwise hold hundreds
 * of bytes of memory per message until the process runs out of it.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketError } from '../errors.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import { emitMessage, historyBytes } from './broker-support.js';

interface TopicLog {
  /** The topic's name. */
  name: string;
  offset: number;
  epoch: string;
  /**
   * Kept messages, oldest first, from index `start` on (a moving start: no shift per message);
   * the slots before `start` are emptied so that what was dropped is freed at once.
   */
  kept: (BrokerMessage | null)[];
  /** When each kept message was published (ms), parallel to `kept`. */
  times: number[];
  start: number;
  /** Payload bytes of the kept messages. */
  bytes: number;
  /** What this topic costs while it keeps a message, beside the messages (`topicCost`). */
  cost: number;
  /**
   * Neighbours in the broker's line of topics that keep history, published to least recently
   * first (`MemoryBroker.oldest`): what `totalBytes` drops first, found in one step.
   */
  older: TopicLog | null;
  newer: TopicLog | null;
}

export interface MemoryBrokerOptions {
  /**
   * Payload bytes of history kept for all topics together (default 1 GiB; 0: no limit): past it,
   * the oldest messages of the topics published to least recently are dropped first.
   */
  totalBytes?: number;
}

/**
 * Forgotten topics are counted in this many buckets (by a hash of the name): a topic's epoch
 * names how many topics of its bucket lost their offsets, so it changes when the topic itself had
 * messages and was forgotten (or, rarely, one of the same bucket), never when an unrelated topic
 * was, and the count costs bounded memory however many topics come and go.
 */
const EPOCH_BUCKETS = 4096;

/** The bucket of `topic` (FNV-1a over its UTF-16 code units). */
function bucketOf(topic: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) h = Math.imul(h ^ topic.charCodeAt(i), 0x01000193);
  return (h >>> 0) % EPOCH_BUCKETS;
}

/** The default of `MemoryBrokerOptions.totalBytes`. */
const TOTAL_BYTES_DEFAULT = 1024 * 1024 * 1024;

/**
 * What keeping history costs in memory beside the payload, counted against `totalBytes` on its
 * own (not as payload, so `totalBytes` still holds that much payload): a kept message (its object,
 * its Buffer's header, its time, its slot), and a topic while it keeps one (its entry, its log, its
 * name at two bytes a code unit). Measured with node 20 (`--expose-gc`, heap and external memory):
 * about 220 bytes a message and 500 plus the name a topic; rounded up.
 */
export const BOOKKEEPING = Object.freeze({ message: 256, topic: 512 });
/** The least bookkeeping allowed (a `totalBytes` smaller than this bounds the payload only). */
const BOOKKEEPING_MIN = 1024 * 1024;

/** What `topic` costs while it keeps history, beside its messages. */
function topicCost(topic: string): number {
  return BOOKKEEPING.topic + 2 * topic.length;
}

/** A fresh epoch: unique enough that two lives of a broker never share one. */
function newEpoch(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export class MemoryBroker implements Broker {
  /** The epoch of topics made before any of their bucket lost its offsets (later ones: this with a suffix). */
  readonly epoch = newEpoch();
  private events: BrokerEvents | null = null;
  private kept: Required<HistoryOptions> = { size: 0, ttlSeconds: 0, bytes: 0 };
  private readonly logs = new Map<string, TopicLog>();
  /**
   * The topics that keep history, published to least recently first: a list rather than the
   * order of `logs`, whose iteration would step over every entry deleted since the map last grew.
   */
  private oldest: TopicLog | null = null;
  private newest: TopicLog | null = null;
  private readonly subscribed = new Set<string>();
  /** Per bucket (`bucketOf`), the topics forgotten after they had messages (0: absent). */
  private readonly forgotten = new Map<number, number>();
  private bytes = 0;
  /** Bookkeeping of the history kept (`BOOKKEEPING`), bounded by `maxBookkeeping`. */
  private bookkeeping = 0;
  private readonly maxBookkeeping: number;
  private sweeper: NodeJS.Timeout | undefined;
  /**
   * Messages published while one is being handed to the listener (from within it: PubSub's
   * `format`), handed out after it, in offset order; null when none is being handed out.
   */
  private handing: BrokerMessage[] | null = null;
  private closed = false;
  private readonly totalBytes: number;

  constructor(options: MemoryBrokerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'MemoryBroker: options must be an object', {
        captureStack: true,
      });
    }
    const total = options.totalBytes ?? TOTAL_BYTES_DEFAULT;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'MemoryBroker: totalBytes must be an integer ≥ 0', {
        captureStack: true,
      });
    }
    this.totalBytes = total === 0 ? Number.POSITIVE_INFINITY : total;
    this.maxBookkeeping = Math.max(this.totalBytes, BOOKKEEPING_MIN);
  }

  async open(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    // A second PubSub would silently take the first one's deliveries (and leak its sweeper).
    if (this.events !== null || this.closed) {
      throw new WebSocketError('ERR_WS_INVALID_STATE', `MemoryBroker: already ${this.closed ? 'closed' : 'opened'}`);
    }
    this.kept = { size: history.size, ttlSeconds: history.ttlSeconds, bytes: historyBytes(history) };
    this.events = events; // (after the options are checked: a refused open leaves it unopened)
    if (history.ttlSeconds > 0) {
      // Expired history of topics nobody touches any more is dropped (and the topic forgotten)
      // within a quarter of the TTL.
      const every = Math.min(Math.max(history.ttlSeconds * 250, 250), 60_000);
      this.sweeper = setInterval(() => this.sweep(), every);
      this.sweeper.unref();
    }
  }

  /**
   * What this broker holds now: `topics` (subscribed here, or holding history) and `bytes` (the
   * payload bytes of the history kept, all topics together).
   */
  stats(): { topics: number; bytes: number } {
    return { topics: this.logs.size, bytes: this.bytes };
  }

  /**
   * Assigns the offset, keeps the message and hands it to the subscriber at once, in one step.
   * `data` itself is kept: PubSub hands over a copy of its caller's bytes.
   */
  publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    if (this.closed) return Promise.reject(new WebSocketError('ERR_WS_BROKER_UNAVAILABLE', 'the broker is closed'));
    const log = this.log(topic);
    const message: BrokerMessage = { topic, offset: ++log.offset, epoch: log.epoch, data, binary };
    if (this.kept.size > 0 && data.length <= this.kept.bytes) {
      this.bookkeeping += BOOKKEEPING.message + (log.start === log.kept.length ? log.cost : 0);
      log.kept.push(message);
      log.times.push(Date.now());
      log.bytes += data.length;
      this.bytes += data.length;
      // Last published, last in line when history over `totalBytes` is dropped.
      this.unlist(log);
      this.list(log);
    } else {
      // Not kept: what history held before it no longer leads up to the newest offset.
      this.drop(log, log.kept.length);
    }
    this.trim(log);
    if (this.over()) this.evict();
    // (A throw from the listener, such as PubSub's `format` option, is a warning, as with the other
    // brokers: this publication is taken, and `publish` must not throw instead of resolving.)
    if (this.subscribed.has(topic) && this.events) this.hand(this.events, message);
    this.forgetIfIdle(topic, log);
    return Promise.resolve({ offset: message.offset, epoch: message.epoch });
  }

  /** Hands `message` to the listener, after those being handed out (the listener may publish). */
  private hand(events: BrokerEvents, message: BrokerMessage): void {
    if (this.handing !== null) {
      this.handing.push(message);
      return;
    }
    this.handing = [];
    try {
      emitMessage(events, message);
      for (let i = 0; i < this.handing.length; i++) emitMessage(events, this.handing[i]!);
    } finally {
      this.handing = null;
    }
  }

  async subscribe(topic: string): Promise<void> {
    if (this.closed) return;
    this.log(topic);
    this.subscribed.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.subscribed.delete(topic);
    const log = this.logs.get(topic);
    if (log !== undefined) {
      this.trim(log);
      this.forgetIfIdle(topic, log);
    }
  }

  async position(topic: string): Promise<TopicPosition> {
    const log = this.logs.get(topic);
    return log === undefined ? { offset: 0, epoch: this.nextEpoch(topic) } : { offset: log.offset, epoch: log.epoch };
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    return this.historyNow(topic, since);
  }

  /** @internal `history`, synchronously (the cluster primary answers from it). */
  historyNow(topic: string, since: TopicPosition): BrokerMessage[] | null {
    // (With history size 0 nothing is kept, and only a `since` at the newest offset is covered.)
    const log = this.logs.get(topic);
    if (log === undefined) return since.epoch === this.nextEpoch(topic) && since.offset === 0 ? [] : null;
    if (since.epoch !== log.epoch) return null;
    const last = log.offset;
    if (since.offset > last) return null; // an offset this topic never reached
    if (since.offset === last) return [];
    this.trim(log);
    const first = log.kept.length > log.start ? log.kept[log.start]!.offset : last + 1;
    if (since.offset + 1 < first) return null; // trimmed or expired
    return log.kept.slice(log.start + (since.offset + 1 - first)) as BrokerMessage[];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.subscribed.clear();
    this.logs.clear();
    this.oldest = this.newest = null;
    this.bytes = 0;
    this.bookkeeping = 0;
  }

  /** The epoch `topic` gets if it is made now. */
  private nextEpoch(topic: string): string {
    const n = this.forgotten.get(bucketOf(topic));
    return n === undefined ? this.epoch : `${this.epoch}.${n}`;
  }

  private log(topic: string): TopicLog {
    let log = this.logs.get(topic);
    if (log === undefined) {
      log = {
        name: topic,
        offset: 0,
        epoch: this.nextEpoch(topic),
        kept: [],
        times: [],
        start: 0,
        bytes: 0,
        cost: topicCost(topic),
        older: null,
        newer: null,
      };
      this.logs.set(topic, log);
    }
    return log;
  }

  /**
   * A topic nobody here subscribes to and with no history left is dropped. If it had messages, its
   * offsets start over when it is made again: under a new epoch, so that no old `since` is
   * answered from the new life. If it never had one, nothing was lost: it keeps its epoch.
   */
  private forgetIfIdle(topic: string, log: TopicLog): void {
    if (log.start < log.kept.length || this.subscribed.has(topic) || this.logs.get(topic) !== log) return;
    this.logs.delete(topic);
    if (log.offset > 0) {
      const b = bucketOf(topic);
      this.forgotten.set(b, (this.forgotten.get(b) ?? 0) + 1);
    }
  }

  /** Whether the history kept is over `totalBytes` (its payload, or its bookkeeping). */
  private over(): boolean {
    return this.bytes > this.totalBytes || this.bookkeeping > this.maxBookkeeping;
  }

  /** Drops the oldest history of the topics published to least recently until under `totalBytes`. */
  private evict(): void {
    for (let log = this.oldest; log !== null && this.over(); log = this.oldest) {
      while (this.over() && log.start < log.kept.length) this.drop(log, log.start + 1);
      this.forgetIfIdle(log.name, log);
    }
  }

  /** Puts `log` last in the line of topics that keep history. */
  private list(log: TopicLog): void {
    log.older = this.newest;
    log.newer = null;
    if (this.newest) this.newest.newer = log;
    else this.oldest = log;
    this.newest = log;
  }

  /** Takes `log` out of that line (if it is in it). */
  private unlist(log: TopicLog): void {
    if (log.older) log.older.newer = log.newer;
    else if (this.oldest === log) this.oldest = log.newer;
    if (log.newer) log.newer.older = log.older;
    else if (this.newest === log) this.newest = log.older;
    log.older = log.newer = null;
  }

  /** Drops the expired history of every topic, forgetting those left idle. */
  private sweep(): void {
    for (const [topic, log] of this.logs) {
      this.trim(log);
      this.forgetIfIdle(topic, log);
    }
  }

  /** Drops what is over the count or the bytes, or older than the age. */
  private trim(log: TopicLog): void {
    const { size, ttlSeconds, bytes } = this.kept;
    let start = Math.max(log.start, log.kept.length - size);
    if (ttlSeconds > 0) {
      const oldest = Date.now() - ttlSeconds * 1000;
      while (start < log.kept.length && log.times[start]! < oldest) start++;
    }
    this.drop(log, start);
    while (log.bytes > bytes) this.drop(log, log.start + 1);
  }

  /** Drops the kept messages before index `start`. */
  private drop(log: TopicLog, start: number): void {
    for (let i = log.start; i < start; i++) {
      const n = log.kept[i]!.data.length;
      log.bytes -= n;
      this.bytes -= n;
      this.bookkeeping -= BOOKKEEPING.message;
      log.kept[i] = null;
    }
    // The topic's own cost, and its place in line, go with its last kept message.
    if (start > log.start && start === log.kept.length) {
      this.bookkeeping -= log.cost;
      this.unlist(log);
    }
    log.start = start;
    if (start === log.kept.length) {
      log.kept = [];
      log.times = [];
      log.start = 0;
    } else if (start > 64 && start * 2 > log.kept.length) {
      // Compact once the dropped head outweighs what is kept.
      log.kept = log.kept.slice(start);
      log.times = log.times.slice(start);
      log.start = 0;
    }
  }
}
