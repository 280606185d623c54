/**
 * For the pub/sub tests that need a broker's timing chosen: the MemoryBroker behind a gate that
 * holds its next position or history read, and a link that can be "lost" (availability false,
 * live messages not delivered: they are only in history) and "back" (availability true).
 */
import type { TestContext } from 'node:test';
import type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from '../../src/pubsub/broker.js';
import { MemoryBroker } from '../../src/pubsub/memory-broker.js';
import { PubSub, type PubSubOptions } from '../../src/pubsub/pubsub.js';
import { serverFor } from './pubsub-support.js';

/** What a gate holds: a read before it is made ('position', 'history'), or made and answering ('answer'). */
export type Gate = 'position' | 'history' | 'answer';

export class GatedBroker {
  /** The broker behind: publish to it directly as another process would. */
  readonly inner = new MemoryBroker();
  private gated: Gate | null = null;
  private release: (() => void) | null = null;
  private entered: (() => void) | null = null;
  private events: BrokerEvents | null = null;
  private linked = true;

  /** Gates the next `op`; resolves once it is asked for (its caller waits there until `open()`). */
  gate(op: Gate): Promise<void> {
    this.gated = op;
    return new Promise((resolve) => (this.entered = resolve));
  }

  /** Lets the gated read go on. */
  open(): void {
    this.release?.();
  }

  /** The link lost: availability false, and what is published meanwhile is not delivered. */
  down(): void {
    this.linked = false;
    this.events!.onAvailability(false);
  }

  /** The link back: availability true (the PubSub reads what it missed from history). */
  up(): void {
    this.linked = true;
    this.events!.onAvailability(true);
  }

  async openBroker(events: BrokerEvents, history: HistoryOptions): Promise<void> {
    this.events = events;
    await this.inner.open(
      {
        onMessage: (m) => {
          if (this.linked) events.onMessage(m);
        },
        onAvailability: () => {},
      },
      history,
    );
  }

  async position(topic: string): Promise<TopicPosition> {
    await this.wait('position');
    return this.inner.position(topic);
  }

  async history(topic: string, since: TopicPosition): Promise<BrokerMessage[] | null> {
    await this.wait('history');
    const read = await this.inner.history(topic, since);
    await this.wait('answer');
    return read;
  }

  private async wait(op: Gate): Promise<void> {
    if (this.gated !== op) return;
    this.gated = null;
    const released = new Promise<void>((resolve) => (this.release = resolve));
    this.entered!();
    await released;
  }
}

/** The `Broker` a PubSub is given: `g`, its `open` being `openBroker` (its own `open` releases the gate). */
export function asBroker(g: GatedBroker): Broker {
  return {
    open: (events, history) => g.openBroker(events, history),
    publish: (topic, data, binary) => g.inner.publish(topic, data, binary),
    subscribe: (topic) => g.inner.subscribe(topic),
    unsubscribe: (topic) => g.inner.unsubscribe(topic),
    position: (topic) => g.position(topic),
    history: (topic, since) => g.history(topic, since),
    close: () => g.inner.close(),
  };
}

/**
 * For one test: a PubSub with `options` on a GatedBroker (or on the Broker `wrap` makes of its
 * `asBroker`), and a server for its subscribers (`pair()`, see `serverFor`), closed after the test.
 */
export async function gatedPubSub(
  t: TestContext,
  options: Omit<PubSubOptions, 'broker'> = {},
  wrap: (broker: Broker) => Broker = (broker) => broker,
) {
  const gated = new GatedBroker();
  const ps = new PubSub({ ...options, broker: wrap(asBroker(gated)) });
  return { gated, ps, ...(await serverFor(t, ps)) };
}
