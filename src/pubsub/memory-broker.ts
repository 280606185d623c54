/**
 * The default broker: one process, everything in memory. Offsets count from 1 per topic; the epoch
 * names this broker's life (another process, or a restart, is another epoch). History is bounded
 * per topic by a count, a total of payload bytes and an age. A topic nobody subscribes to is
 * forgotten once it holds no history (expired, trimmed or none kept), so abandoned topics cost
 * nothing; made again later, it starts over from offset 1 under a new epoch. Across topics, the
 * history is bounded by `totalBytes`: past it, the topics published to least recently lose their
 * oldest messages first.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketError } from '../errors.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import { emitMessage, historyBytes } from './broker-support.js';

interface TopicLog {
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
}

export interface MemoryBrokerOptions {
  /**
   * Payload bytes of history kept for all topics together (default 1 GiB; 0: no limit): past it,
   * the oldest messages of the topics published to least recently are dropped first.
   */
  totalBytes?: number;
}

/** The default of `MemoryBrokerOptions.totalBytes`. */
const TOTAL_BYTES_DEFAULT = 1024 * 1024 * 1024;

/** A fresh epoch: unique enough that two lives of a broker never share one. */
export function newEpoch(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export class MemoryBroker implements Broker {
  /** The epoch of topics made before any was forgotten (later ones: this with a suffix). */
  readonly epoch = newEpoch();
  private events: BrokerEvents | null = null;
  private kept: Required<HistoryOptions> = { size: 0, ttlSeconds: 0, bytes: 0 };
  private readonly logs = new Map<string, TopicLog>();
  private readonly subscribed = new Set<string>();
  /** Topics forgotten so far: a topic made after one was forgotten gets an epoch of its own. */
  private forgotten = 0;
  private bytes = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly totalBytes: number;

  constructor(options: MemoryBrokerOptions = {}) {
    const total = options.totalBytes ?? TOTAL_BYTES_DEFAULT;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'MemoryBroker: totalBytes must be an integer ≥ 0', {
        captureStack: true,
      });
    }
    this.totalBytes = total === 0 ? Number.POSITIVE_INFINITY : total;
  }

  async open(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    this.events = events;
    this.kept = { size: history.size, ttlSeconds: history.ttlSeconds, bytes: historyBytes(history) };
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

  /** Assigns the offset, keeps the message and hands it to the subscriber at once, in one step. */
  publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    if (this.closed) return Promise.reject(new WebSocketError('ERR_WS_BROKER_UNAVAILABLE', 'the broker is closed'));
    const log = this.log(topic);
    // Last published, last in line when history over `totalBytes` is dropped.
    this.logs.delete(topic);
    this.logs.set(topic, log);
    const message: BrokerMessage = { topic, offset: ++log.offset, epoch: log.epoch, data, binary };
    if (this.kept.size > 0 && data.length <= this.kept.bytes) {
      log.kept.push(message);
      log.times.push(Date.now());
      log.bytes += data.length;
      this.bytes += data.length;
    } else {
      // Not kept: what history held before it no longer leads up to the newest offset.
      this.drop(log, log.kept.length);
    }
    this.trim(log);
    if (this.bytes > this.totalBytes) this.evict();
    // (A throw from the listener, such as PubSub's `format` option, is a warning, as with the other
    // brokers: this publication is taken, and `publish` must not throw instead of resolving.)
    if (this.subscribed.has(topic) && this.events) emitMessage(this.events, message);
    this.forgetIfIdle(topic, log);
    return Promise.resolve({ offset: message.offset, epoch: message.epoch });
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
    return log === undefined ? { offset: 0, epoch: this.nextEpoch() } : { offset: log.offset, epoch: log.epoch };
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    return this.historyNow(topic, since);
  }

  /** `history`, synchronously (the cluster primary answers from it). */
  historyNow(topic: string, since: TopicPosition): BrokerMessage[] | null {
    if (this.kept.size === 0) return null;
    const log = this.logs.get(topic);
    if (log === undefined) return since.epoch === this.nextEpoch() && since.offset === 0 ? [] : null;
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
    this.bytes = 0;
  }

  /** The epoch a topic made now gets. */
  private nextEpoch(): string {
    return this.forgotten === 0 ? this.epoch : `${this.epoch}.${this.forgotten}`;
  }

  private log(topic: string): TopicLog {
    let log = this.logs.get(topic);
    if (log === undefined) {
      log = { offset: 0, epoch: this.nextEpoch(), kept: [], times: [], start: 0, bytes: 0 };
      this.logs.set(topic, log);
    }
    return log;
  }

  /** A topic nobody here subscribes to and with no history left is dropped. */
  private forgetIfIdle(topic: string, log: TopicLog): void {
    if (log.start < log.kept.length || this.subscribed.has(topic) || this.logs.get(topic) !== log) return;
    this.logs.delete(topic);
    this.forgotten++;
  }

  /** Drops the oldest history of the topics published to least recently until under `totalBytes`. */
  private evict(): void {
    for (const [topic, log] of this.logs) {
      while (this.bytes > this.totalBytes && log.start < log.kept.length) this.drop(log, log.start + 1);
      this.forgetIfIdle(topic, log);
      if (this.bytes <= this.totalBytes) return;
    }
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
      log.kept[i] = null;
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
