/**
 * The one interface every pub/sub broker implements (memory, cluster IPC, Redis, NATS). A broker
 * orders and stores; it knows nothing of WebSockets: `PubSub` (pubsub.ts) frames what it delivers.
 *
 * Offsets: per topic, assigned by the broker atomically with publication, starting at 1 and
 * increasing by 1; every subscriber on every process sees a topic's messages in offset order.
 * Epoch: a string naming one life of a topic's history (a new one when the history was lost, e.g.
 * an in-memory broker restarted); an offset means nothing under another epoch.
 */
import type { WebSocketError } from '../errors.js';

/** One published message as a broker delivers it. */
export interface BrokerMessage {
  readonly topic: string;
  readonly offset: number;
  readonly epoch: string;
  readonly data: Buffer;
  readonly binary: boolean;
}

/** Where a topic stands: the offset of its last message (0 when none yet) and its epoch. */
export interface TopicPosition {
  readonly offset: number;
  readonly epoch: string;
}

/** How much history a broker keeps per topic. */
export interface HistoryOptions {
  /** Messages kept per topic; 0 keeps none (recovery then always reports `recovered: false`). */
  readonly size: number;
  /** Seconds a message is kept; 0: no time limit. */
  readonly ttlSeconds: number;
  /**
   * Payload bytes kept per topic (default 16 MiB): past it the oldest messages are dropped, and a
   * message larger than it is not kept (nor anything before it); 0 keeps none.
   */
  readonly bytes?: number;
}

export interface BrokerEvents {
  /** Called with each message of a subscribed topic, in offset order, on this process. */
  onMessage(message: BrokerMessage): void;
  /**
   * Called when the broker connection is lost (`false`) and when it is back and every topic is
   * subscribed again (`true`). Messages published while it was down may be recovered from history.
   */
  onAvailability(available: boolean): void;
  /**
   * Called when the broker's server refuses where no operation waits for the answer (a
   * reconnection refused its credentials, a subscription made again refused by its permissions):
   * `err` is ERR_WS_BROKER_REFUSED, the server's own error as its `cause`. The broker goes on
   * trying (once per second at most); until it is accepted, operations reject with the refusal,
   * unless the server can no longer be reached (an outage again: ERR_WS_BROKER_UNAVAILABLE). Told
   * once per refusal, again if the reason changes or after an outage. Without it, a process warning.
   */
  onRefused?(err: WebSocketError): void;
}

export interface Broker {
  /**
   * Called once by `PubSub` before anything else. A networked broker whose server is down opens all
   * the same: it reports `onAvailability(false)`, fails operations with `ERR_WS_BROKER_UNAVAILABLE`,
   * and connects in the background until `close()`, then reports `true`. One whose server answers
   * and refuses (credentials, permissions, another protocol) rejects with `ERR_WS_BROKER_REFUSED`.
   */
  open(events: BrokerEvents, history: HistoryOptions): Promise<void>;
  /**
   * Publishes to every process: assigns the next offset atomically with publication and stores the
   * message in the topic's history. Rejects with `ERR_WS_BROKER_UNAVAILABLE` when the broker
   * cannot take it, `ERR_WS_BROKER_REFUSED` when its server refuses.
   */
  publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition>;
  /** Starts delivering this topic's messages to `events.onMessage`; resolves once it is live. */
  subscribe(topic: string): Promise<void>;
  /** Stops delivering this topic's messages (this process has no subscriber left on it). */
  unsubscribe(topic: string): Promise<void>;
  /** The topic's position now. */
  position(topic: string): Promise<TopicPosition>;
  /**
   * Every stored message after `since.offset`, in order, or `null` when history cannot cover that
   * range (trimmed, expired, another epoch, no history kept). A `since` at the topic's newest offset
   * of its epoch is covered (`[]`: nothing was missed), also when no history is kept.
   */
  history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
