/**
 * What the Redis, NATS and cluster brokers share (internal: not part of the package's API). Their
 * events are called from inside the client library (node-redis's reply parser and event emitter,
 * the NATS client's dispatch loop and status iterator) or from the IPC 'message' event, which a
 * throw from `PubSub`'s listener must never reach: it would desynchronise node-redis's connection,
 * stop the NATS broker's watch, or crash a cluster worker.
 */
import { shown, WebSocketError } from '../errors.js';
import type { BrokerEvents, BrokerMessage, HistoryOptions, TopicPosition } from './broker.js';

/**
 * Live messages a topic holds at most while a history read runs (Redis and NATS); past it they are
 * dropped and read back from history, which keeps them (up to its size) without this process's
 * memory growing unbounded.
 */
export const MAX_HELD = 10_000;

/**
 * Payload bytes of live messages a topic holds at most by default (Redis and NATS; their
 * `maxHeldBytes` option sets it per broker): the default subscriber
 * backlog (`slowSubscriber.maxBytes`, 4 MiB), what the held messages make when they are let go at
 * once, and a quarter of the default `history.bytes` (16 MiB), so that what is dropped still fits there.
 * While a history read runs, past it (as past `MAX_HELD` of them) the held messages are dropped and
 * read back from history: 10,000 messages of 1 MiB would otherwise be 10 GB held by one slow read.
 * Behind a hole a NATS topic waits for (a late republication), past it the hole is given up as lost.
 */
export const MAX_HELD_BYTES = 4 * 1024 * 1024;

/**
 * Checks a broker's `maxHeldBytes` option (the bound above, per topic; its default is in each
 * broker's defaults): a whole number of bytes, at least 1. Anything else is ERR_WS_INVALID_ARGUMENT, at once.
 */
export function checkMaxHeldBytes(broker: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new WebSocketError(
      'ERR_WS_INVALID_ARGUMENT',
      `${broker}: maxHeldBytes must be a whole number of bytes, at least 1 (not ${shown(value)})`,
    );
  }
}

/**
 * What a broker's constructor was given (`new RedisBroker(url | options)`), as options: a URL string,
 * or an options object whose `url` and `prefix`, when given, are strings; options left undefined
 * are dropped (their defaults apply). Anything else is ERR_WS_INVALID_ARGUMENT, at once — not a
 * broker quietly on its default URL.
 */
export function brokerOptions<T extends { readonly url?: string; readonly prefix?: string }>(
  broker: string,
  urlOrOptions: unknown,
): T {
  if (typeof urlOrOptions === 'string') return { url: urlOrOptions } as T;
  if (typeof urlOrOptions !== 'object' || urlOrOptions === null || Array.isArray(urlOrOptions)) {
    throw new WebSocketError(
      'ERR_WS_INVALID_ARGUMENT',
      `${broker}: expected a URL string or an options object, got ${shown(urlOrOptions)}`,
    );
  }
  const options = Object.fromEntries(Object.entries(urlOrOptions).filter(([, v]) => v !== undefined));
  for (const key of ['url', 'prefix']) {
    if (key in options && typeof options[key] !== 'string') {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `${broker}: ${key} must be a string`);
    }
  }
  return options as T;
}

/** ERR_WS_BROKER_UNAVAILABLE with `detail` (and the client's error as `cause`): an outage, waited out. */
export function unavailable(detail: string, cause?: unknown): WebSocketError {
  return new WebSocketError('ERR_WS_BROKER_UNAVAILABLE', detail, cause === undefined ? undefined : { cause });
}

/**
 * ERR_WS_BROKER_REFUSED with `detail` and the broker's own error as `cause`: the server answered
 * and will not do it (credentials, permissions, not the broker's protocol, a database it does not
 * have): no wait mends it, only a change of configuration on one side.
 */
export function refused(detail: string, cause?: unknown): WebSocketError {
  return new WebSocketError('ERR_WS_BROKER_REFUSED', detail, cause === undefined ? undefined : { cause });
}

/** Whether `err` is a refusal (ERR_WS_BROKER_REFUSED). */
export function isRefusal(err: unknown): err is WebSocketError {
  return err instanceof WebSocketError && err.code === 'ERR_WS_BROKER_REFUSED';
}

/**
 * The user, password (or token) and host of a broker URL, percent-decoded as the clients take
 * them. The one place they are decoded: a `%` not followed by two hex digits, or bytes that are no
 * UTF-8, fails here, as `fail(detail)` (ERR_WS_INVALID_ARGUMENT by default; `serve` makes it a usage
 * error), with `label` (how the caller names the URL, its secret masked) in front — not later, as a
 * bare URIError from inside a client (node-redis at open), or a host DNS never finds.
 */
export function urlCredentials(
  url: URL,
  label: string,
  fail: (detail: string) => Error = (detail) => new WebSocketError('ERR_WS_INVALID_ARGUMENT', detail),
): { user: string; password: string; host: string } {
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw fail(`${label}: bad percent-encoding in the ${what} (%XX: two hex digits, the bytes UTF-8)`);
    }
  };
  return {
    user: decode(url.username, url.password === '' ? 'user or token' : 'user'),
    password: decode(url.password, 'password'),
    host: decode(url.hostname, 'host'),
  };
}

/** Payload bytes of `messages` (what a topic holds, see `MAX_HELD_BYTES`). */
export function payloadBytes(messages: readonly { readonly data: Uint8Array }[]): number {
  let bytes = 0;
  for (const m of messages) bytes += m.data.length;
  return bytes;
}

/**
 * `bytes` in memory of their own, for a message that history may keep for minutes: a copy, unless
 * `bytes` are not the caller's (`copy` false) and alone in their memory already. Node makes a
 * short Buffer (`Buffer.from` a string of fewer than 4096 characters, utf8 or base64, or fewer
 * than 4 KiB of bytes) as a slice of a shared 8 KiB pool, and one kept slice holds the whole
 * pool: a client publishing a short message to each of many topics between longer ones, which
 * history drops, kept 8 KiB for each short one, about ten times what the MemoryBroker's bounds count.
 */
export function bytesToKeep(bytes: Buffer, copy: boolean): Buffer {
  if (!copy && bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

/** What an error says, whatever was thrown (a broker client's Error, or anything else). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `url` (or a comma-separated list of them, or text that failed to parse as one) with each
 * `scheme://cred@`'s password or token masked: `user:***@`, `***@`. A broker URL is quoted this way
 * in every error and log line, which may reach a client or a log that must not hold the secret.
 */
export function maskCredentials(url: string): string {
  return url.replace(/\/\/([^/?#]*)@/g, (_, cred: string) =>
    cred.includes(':') ? `//${cred.split(':')[0]}:***@` : '//***@',
  );
}

/** `HistoryOptions.bytes` when not given: 16 MiB of payloads per topic. */
export const HISTORY_BYTES_DEFAULT = 16 * 1024 * 1024;

/** `history.bytes`, checked (ERR_WS_INVALID_ARGUMENT), or the default when not given. */
export function historyBytes(history: HistoryOptions): number {
  const v = history.bytes;
  if (v === undefined) return HISTORY_BYTES_DEFAULT;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'history.bytes must be an integer ≥ 0', { captureStack: true });
  }
  return v;
}

/** Reports an error that has no caller left to reject, as a process warning. */
export function warn(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : String(err));
}

/** Hands `m` to `events.onMessage`; a throw becomes a process warning. */
export function emitMessage(events: BrokerEvents, m: BrokerMessage): void {
  try {
    events.onMessage(m);
  } catch (err) {
    warn(err);
  }
}

/**
 * Reports a refusal met where no caller waits (a reconnection, a subscription made again) to
 * `events.onRefused`, or as a process warning when the events have none: never silent. A throw
 * becomes a process warning.
 */
export function emitRefused(events: BrokerEvents, err: WebSocketError): void {
  if (events.onRefused === undefined) return warn(err);
  try {
    events.onRefused(err);
  } catch (thrown) {
    warn(thrown);
  }
}

/** Reports availability to `events.onAvailability`; a throw becomes a process warning. */
export function emitAvailability(events: BrokerEvents, available: boolean): void {
  try {
    events.onAvailability(available);
  } catch (err) {
    warn(err);
  }
}

/**
 * The wait before the next try of a read that failed while the connection stayed (a timeout, an
 * error reply): 50 ms doubling up to `max`. A timer, not a loop: nothing runs meanwhile, and it
 * does not keep the process alive.
 */
export function retryPause(attempt: number, max: number): Promise<void> {
  // (The exponent is bounded only so that a long outage's count stays a finite number: max decides.)
  const ms = Math.min(50 * 2 ** Math.min(attempt, 30), max);
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** What `withDeadline` rejects with when the deadline passed first (not a failure of the work). */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * `work`, or a rejection once `ms` have passed without it settling: a stalled connection (the
 * socket open, no byte either way) never answers, and the client libraries' own timeouts do not
 * cover every wait.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what}: no reply within ${ms} ms`)), ms);
  });
  work.catch(() => {}); // (what it says after the deadline has no one to tell)
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Milliseconds from `now` to the clock's next multiple of `period` (never 0). A wait counted from
 * each process's own last attempt puts the processes of a deployment out of step: after a server
 * restart one came back up to a wait later than another, whose publishers meanwhile outran history.
 * Attempts on the clock's multiples are made by every process at once.
 */
export function untilNextMultiple(period: number, now = Date.now()): number {
  return period - (now % period);
}

/**
 * The wait before a reconnection attempt, `elapsed` ms after the server was lost: until the clock's
 * next multiple (`untilNextMultiple`) of a step that doubles as the outage goes on, from 50 ms to
 * `max` (at most the time already waited). The step follows the time since the loss, which the
 * processes that lost one server share within a few ms, not each process's count of attempts (one
 * whose first attempt fell just past a multiple would stay a step behind the others).
 */
export function reconnectDelay(elapsed: number, max: number, now = Date.now()): number {
  let step = 50;
  while (step < max && step * 2 <= elapsed) step *= 2;
  return untilNextMultiple(Math.min(step, max), now);
}

/**
 * Tries `connect` again in the background after a broker's first connection failed, so that a
 * broker made while its server is down opens by itself once the server is up: at `reconnectDelay`
 * (50 ms doubling up to `max`, on the clock's multiples), on an unref'd timer (waiting does not
 * keep the process alive). `connect` resolves true when done (connected, or the broker closed
 * meanwhile), false to try again. Returns what stops it (the broker's `close()`).
 */
export function keepConnecting(connect: () => Promise<boolean>, max: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const since = Date.now();
  const next = (): void => {
    timer = setTimeout(
      () => {
        timer = undefined;
        connect().then(
          (done) => {
            if (!done && !stopped) next();
          },
          () => {
            if (!stopped) next();
          },
        );
      },
      reconnectDelay(Date.now() - since, max),
    );
    timer.unref();
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A publication of this process, waiting to be handed to this process's own listener. A broker
 * whose topic is subscribed here resolves `publish` only once its message was delivered here (as
 * the in-memory and cluster brokers do by design), so that a publisher that awaits `publish` and
 * then leaves the topic has been given its message first. A wait ends when the topic delivers
 * that offset or a later one of that epoch, when it is released (the topic left, the link lost,
 * the broker closed), or after `ms` at the latest: it never holds a publication that was taken.
 */
export class OwnDeliveries {
  /** Per topic, in the order the broker answered the publications (so, by offset, mostly). */
  #waits = new Map<string, OwnWait[]>();
  /** Topics whose waits are not all of one epoch in offset order (answered out of order). */
  #unordered = new Set<string>();

  wait(topic: string, at: TopicPosition, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waits = this.#waits.get(topic);
      if (waits === undefined) this.#waits.set(topic, (waits = []));
      const list = waits;
      const entry: OwnWait = {
        at,
        timer: setTimeout(() => {
          const i = list.indexOf(entry);
          if (i >= 0) list.splice(i, 1);
          if (list.length === 0 && this.#waits.get(topic) === list) this.#forget(topic);
          resolve();
        }, ms),
        resolve,
      };
      entry.timer.unref();
      const last = list[list.length - 1];
      if (last !== undefined && (last.at.epoch !== at.epoch || last.at.offset > at.offset)) this.#unordered.add(topic);
      list.push(entry);
    });
  }

  /** `m` was handed to the listener. */
  delivered(m: BrokerMessage): void {
    this.reached(m.topic, m.epoch, m.offset);
  }

  /**
   * `topic` is delivered up to `offset` of `epoch`: a message, or the position a subscription
   * starts from (a publication that took its offset before then is not delivered here: it was
   * published before this process subscribed).
   */
  reached(topic: string, epoch: string, offset: number): void {
    const waits = this.#waits.get(topic);
    if (waits === undefined) return;
    const isReached = (w: OwnWait): boolean => w.at.epoch === epoch && w.at.offset <= offset;
    let done: OwnWait[];
    if (this.#unordered.has(topic)) {
      // Answered out of offset order, or waits of two epochs (the topic's history started again):
      // each one is looked at.
      done = waits.filter(isReached);
      const rest = waits.filter((w) => !isReached(w));
      waits.length = 0;
      waits.push(...rest);
    } else {
      // In offset order: what was reached is at the front (one look per message).
      let n = 0;
      while (n < waits.length && isReached(waits[n]!)) n++;
      done = waits.splice(0, n);
    }
    if (waits.length === 0) this.#forget(topic);
    for (const w of done) finish(w);
  }

  #forget(topic: string): void {
    this.#waits.delete(topic);
    this.#unordered.delete(topic);
  }

  /** Ends the waits of `topic`, or all of them. */
  release(topic?: string): void {
    const topics = topic === undefined ? [...this.#waits.keys()] : [topic];
    for (const t of topics) {
      const waits = this.#waits.get(t);
      this.#forget(t);
      for (const w of waits ?? []) finish(w);
    }
  }
}

interface OwnWait {
  readonly at: TopicPosition;
  readonly timer: NodeJS.Timeout;
  readonly resolve: () => void;
}

function finish(w: OwnWait): void {
  clearTimeout(w.timer);
  w.resolve();
}
