/**
 * The default broker: one process, everything in memory. Offsets count from 1 per topic; the epoch
 * names this broker's life (another process, or a restart, is another epoch). History is bounded
 * by a count per topic and an age.
 */
import { randomBytes } from 'node:crypto';
import { WebSocketError } from '../errors.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import { emitMessage } from './broker-support.js';

interface TopicLog {
  offset: number;
  /** Kept messages, oldest first, from index `start` on (a moving start: no shift per message). */
  kept: BrokerMessage[];
  /** When each kept message was published (ms), parallel to `kept`. */
  times: number[];
  start: number;
}

/** A fresh epoch: unique enough that two lives of a broker never share one. */
export function newEpoch(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export class MemoryBroker implements Broker {
  readonly epoch = newEpoch();
  private events: BrokerEvents | null = null;
  private kept: HistoryOptions = { size: 0, ttlSeconds: 0 };
  private readonly logs = new Map<string, TopicLog>();
  private readonly subscribed = new Set<string>();
  private closed = false;

  async open(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    this.events = events;
    this.kept = history;
  }

  /** Assigns the offset, keeps the message and hands it to the subscriber at once, in one step. */
  publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    if (this.closed) return Promise.reject(new WebSocketError('ERR_WS_BROKER_UNAVAILABLE', 'the broker is closed'));
    const log = this.log(topic);
    const message: BrokerMessage = { topic, offset: ++log.offset, epoch: this.epoch, data, binary };
    if (this.kept.size > 0) {
      log.kept.push(message);
      log.times.push(Date.now());
      this.trim(log);
    }
    // (A throw from the listener, such as PubSub's `format` option, is a warning, as with the other
    // brokers: this publication is taken, and `publish` must not throw instead of resolving.)
    if (this.subscribed.has(topic) && this.events) emitMessage(this.events, message);
    return Promise.resolve({ offset: message.offset, epoch: this.epoch });
  }

  async subscribe(topic: string): Promise<void> {
    this.subscribed.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.subscribed.delete(topic);
  }

  async position(topic: string): Promise<TopicPosition> {
    return { offset: this.logs.get(topic)?.offset ?? 0, epoch: this.epoch };
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    return this.historyNow(topic, since);
  }

  /** `history`, synchronously (the cluster primary answers from it). */
  historyNow(topic: string, since: TopicPosition): BrokerMessage[] | null {
    if (since.epoch !== this.epoch || this.kept.size === 0) return null;
    const log = this.logs.get(topic);
    const last = log?.offset ?? 0;
    if (since.offset > last) return null; // an offset this topic never reached
    if (since.offset === last) return [];
    if (log === undefined) return null;
    this.trim(log);
    const first = log.kept.length > log.start ? log.kept[log.start]!.offset : last + 1;
    if (since.offset + 1 < first) return null; // trimmed or expired
    return log.kept.slice(log.start + (since.offset + 1 - first));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribed.clear();
    this.logs.clear();
  }

  private log(topic: string): TopicLog {
    let log = this.logs.get(topic);
    if (log === undefined) {
      log = { offset: 0, kept: [], times: [], start: 0 };
      this.logs.set(topic, log);
    }
    return log;
  }

  /** Drops what is over the count or older than the age. */
  private trim(log: TopicLog): void {
    const { size, ttlSeconds } = this.kept;
    let start = Math.max(log.start, log.kept.length - size);
    if (ttlSeconds > 0) {
      const oldest = Date.now() - ttlSeconds * 1000;
      while (start < log.kept.length && log.times[start]! < oldest) start++;
    }
    log.start = start;
    // Compact once the dropped head outweighs what is kept.
    if (start > 64 && start * 2 > log.kept.length) {
      log.kept = log.kept.slice(start);
      log.times = log.times.slice(start);
      log.start = 0;
    }
  }
}
