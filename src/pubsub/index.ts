/** `ws-stream/pubsub`: topics over WebSocketStreams, and the brokers that carry them. */
export { PubSub, pubSubDefaults, TOPIC_MAX_BYTES } from './pubsub.js';
export type {
  PubSubOptions,
  PubSubEvents,
  PubSubSocket,
  SubscribeOptions,
  SubscribeResult,
  PublishOptions,
  SlowSubscriberOptions,
  DropEvent,
  EpochEvent,
  GapEvent,
} from './pubsub.js';
export type { Broker, BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';
export { MemoryBroker } from './memory-broker.js';
export type { MemoryBrokerOptions } from './memory-broker.js';
export { ClusterBroker } from './cluster-broker.js';
export type { ClusterPrimary } from './cluster-broker.js';
export { RedisBroker } from './redis-broker.js';
export type { RedisBrokerOptions } from './redis-broker.js';
export { NatsBroker } from './nats-broker.js';
export type { NatsBrokerOptions } from './nats-broker.js';
