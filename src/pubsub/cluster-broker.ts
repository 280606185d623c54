/**
 * A broker for node:cluster: the workers' `ClusterBroker`s talk to the primary over the cluster's
 * IPC channels, and the primary (`ClusterBroker.servePrimary`) assigns offsets and keeps history
 * in one `MemoryBroker`, so every worker sees a topic in the same offset order under one epoch.
 * A message goes to the workers subscribed to its topic before the publisher hears its offset,
 * which it hears once the message is written to each of their channels (flow control: a worker
 * that does not keep up holds back the publishers instead of growing the primary).
 * Payloads cross IPC as base64, which works with either of cluster's serialisations.
 */
import cluster, { type Worker } from 'node:cluster';
import { WebSocketError } from '../errors.js';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
import { bytesToKeep, emitAvailability, emitMessage, historyBytes, unavailable } from './broker-support.js';
import { MemoryBroker, type MemoryBrokerOptions } from './memory-broker.js';

/** The key that marks this broker's IPC messages (the application's own messages pass by untouched). */
const TAG = 'ws-stream/pubsub';

type Op = 'publish' | 'subscribe' | 'unsubscribe' | 'position' | 'history';

interface Request {
  [TAG]: Op;
  id: number;
  topic: string;
  data?: string;
  binary?: boolean;
  since?: TopicPosition;
}

interface WireMessage {
  topic: string;
  offset: number;
  epoch: string;
  data: string;
  binary: boolean;
}

type Reply =
  | { [TAG]: 'reply'; id: number; ok: true; value: TopicPosition | WireMessage[] | null | undefined }
  | { [TAG]: 'reply'; id: number; ok: false; message: string };

type Delivery = { [TAG]: 'message' } & WireMessage;

function toWire(m: BrokerMessage): WireMessage {
  return { topic: m.topic, offset: m.offset, epoch: m.epoch, data: m.data.toString('base64'), binary: m.binary };
}

function fromWire(m: WireMessage): BrokerMessage {
  return { topic: m.topic, offset: m.offset, epoch: m.epoch, data: Buffer.from(m.data, 'base64'), binary: m.binary };
}

function isOurs(msg: unknown): msg is Record<string, unknown> {
  return typeof msg === 'object' && msg !== null && TAG in msg;
}

/** The callback of a send to a worker that may be gone: it is removed when it exits. */
const ignore = (): void => {};

/** What the primary runs: the store, and the topics each worker is subscribed to. */
export interface ClusterPrimary {
  /** Stops answering workers and drops the history. */
  close(): Promise<void>;
}

export class ClusterBroker implements Broker {
  private events: BrokerEvents | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: WebSocketError): void }>();
  private connected = false;
  private readonly onIpc = (msg: unknown): void => this.received(msg);
  private readonly onDisconnect = (): void => this.lost();

  /**
   * Runs the primary's side, in the primary process: answers every worker (present and future)
   * from one in-memory store with these history bounds (and `memory`'s, for all topics together).
   * Call it once, before forking.
   */
  static servePrimary(history: HistoryOptions, memory: MemoryBrokerOptions = {}): ClusterPrimary {
    if (!cluster.isPrimary)
      throw new WebSocketError('ERR_WS_INVALID_STATE', 'servePrimary runs in the cluster primary');
    historyBytes(history); // (checked here: the store opens in the background)
    const store = new MemoryBroker(memory);
    const subscribers = new Map<string, Set<Worker>>();
    /** `written` is called once the message is written to the worker's channel, or will never be. */
    const send = (w: Worker, msg: Reply | Delivery, written: () => void = ignore): void => {
      if (!w.isConnected()) return written();
      try {
        // With a callback, a write that fails (EPIPE: the worker was killed and its channel is
        // not seen closed yet) is reported to it, instead of as an 'error' event on the Worker,
        // which has no listener and would crash the primary.
        w.send(msg, undefined, undefined, written);
      } catch {
        // The worker is going: it will be removed when it exits.
        written();
      }
    };
    /**
     * While a publish hands its message out: counts one more delivery of it, and returns what to
     * call once that delivery is written to its worker's channel. The publisher hears its offset
     * only then: a worker that does not read its channel (stopped, or slower than the publishers)
     * holds back the publishers of its topics, whose connections stop being read past their
     * publishes in flight, instead of making this process queue every message for it without bound.
     */
    let delivering: (() => () => void) | null = null;
    void store.open(
      {
        onMessage: (m) => {
          const ws = subscribers.get(m.topic);
          if (ws === undefined) return;
          const delivery: Delivery = { [TAG]: 'message', ...toWire(m) };
          for (const w of ws) send(w, delivery, delivering?.());
        },
        onAvailability: () => {},
      },
      history,
    );
    const reply = (w: Worker, id: number, value: TopicPosition | WireMessage[] | null | undefined): void =>
      send(w, { [TAG]: 'reply', id, ok: true, value });
    const onMessage = (w: Worker, msg: unknown): void => {
      if (!isOurs(msg)) return;
      const req = msg as unknown as Request;
      const { id, topic } = req;
      switch (req[TAG]) {
        case 'publish': {
          // The reply goes once the store answered and every delivery is written (counted in `left`).
          let left = 1;
          let answer: Reply;
          const done = (): void => {
            if (--left === 0) send(w, answer);
          };
          delivering = () => {
            left++;
            return done;
          };
          let taken: Promise<TopicPosition>;
          try {
            // (The store hands the message out within this call.)
            // (Its bytes in memory of their own: the store keeps them.)
            const data = bytesToKeep(Buffer.from(req.data ?? '', 'base64'), false);
            taken = store.publish(topic, data, req.binary === true);
          } finally {
            delivering = null;
          }
          taken.then(
            (pos) => {
              answer = { [TAG]: 'reply', id, ok: true, value: pos };
              done();
            },
            (err: Error) => {
              answer = { [TAG]: 'reply', id, ok: false, message: err.message };
              done();
            },
          );
          return;
        }
        case 'subscribe': {
          // (A worker killed just after sending it may be read after its 'exit': Node orders the two
          // no fixed way, and a dead worker kept here would hold its topics for good.)
          if (w.isDead()) return;
          let set = subscribers.get(topic);
          if (set === undefined) {
            set = new Set();
            subscribers.set(topic, set);
            void store.subscribe(topic);
          }
          set.add(w);
          reply(w, id, undefined);
          return;
        }
        case 'unsubscribe':
          leave(w, topic);
          reply(w, id, undefined);
          return;
        case 'position':
          store.position(topic).then((pos) => reply(w, id, pos));
          return;
        case 'history':
          reply(w, id, store.historyNow(topic, req.since!)?.map(toWire) ?? null);
          return;
      }
    };
    const leave = (w: Worker, topic: string): void => {
      const set = subscribers.get(topic);
      if (set === undefined || !set.delete(w) || set.size > 0) return;
      subscribers.delete(topic);
      void store.unsubscribe(topic);
    };
    const onExit = (w: Worker): void => {
      for (const topic of [...subscribers.keys()]) leave(w, topic);
    };
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    return {
      close: async () => {
        cluster.off('message', onMessage);
        cluster.off('exit', onExit);
        subscribers.clear();
        await store.close();
      },
    };
  }

  async open(events: BrokerEvents, _history: HistoryOptions): Promise<void> {
    // The primary's history bounds apply (ClusterBroker.servePrimary); a worker has none of its own.
    if (!cluster.isWorker || typeof process.send !== 'function' || !process.connected) {
      throw new WebSocketError('ERR_WS_INVALID_STATE', 'ClusterBroker runs in a cluster worker');
    }
    this.events = events;
    this.connected = true;
    process.on('message', this.onIpc);
    process.once('disconnect', this.onDisconnect);
  }

  async publish(topic: string, data: Buffer, binary: boolean): Promise<TopicPosition> {
    return (await this.request({
      [TAG]: 'publish',
      id: 0,
      topic,
      data: data.toString('base64'),
      binary,
    })) as TopicPosition;
  }

  async subscribe(topic: string): Promise<void> {
    await this.request({ [TAG]: 'subscribe', id: 0, topic });
  }

  async unsubscribe(topic: string): Promise<void> {
    await this.request({ [TAG]: 'unsubscribe', id: 0, topic });
  }

  async position(topic: string): Promise<TopicPosition> {
    return (await this.request({ [TAG]: 'position', id: 0, topic })) as TopicPosition;
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    const list = (await this.request({ [TAG]: 'history', id: 0, topic, since })) as WireMessage[] | null;
    return list === null ? null : list.map(fromWire);
  }

  async close(): Promise<void> {
    process.off('message', this.onIpc);
    process.off('disconnect', this.onDisconnect);
    this.fail('the broker is closed');
    this.connected = false;
  }

  private request(req: Request): Promise<unknown> {
    if (!this.connected) return Promise.reject(unavailable('not connected to the cluster primary'));
    req.id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(req.id, { resolve, reject });
      process.send!(req, undefined, undefined, (err: Error | null) => {
        if (err) this.settle(req.id, unavailable(err.message));
      });
    });
  }

  private settle(id: number, err: WebSocketError | null, value?: unknown): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    this.waiting.delete(id);
    if (err) w.reject(err);
    else w.resolve(value);
  }

  private received(msg: unknown): void {
    if (!isOurs(msg)) return;
    if (msg[TAG] === 'message') {
      // Called from the IPC 'message' event: a throw must not reach the process.
      if (this.events) emitMessage(this.events, fromWire(msg as unknown as WireMessage));
      return;
    }
    const r = msg as unknown as Reply;
    if (r.ok) this.settle(r.id, null, r.value);
    else this.settle(r.id, unavailable(r.message));
  }

  private lost(): void {
    this.connected = false;
    this.fail('the cluster primary is gone');
    if (this.events) emitAvailability(this.events, false);
  }

  private fail(detail: string): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) w.reject(unavailable(detail));
  }
}
