/**
 * A seeded, model-based check of `ws-stream serve --pubsub` (issue 13, doc/pubsub.md): a driver
 * sends random steps of requests from several clients spread over several server processes, and
 * every reply and message each connection receives is checked against a model of the protocol —
 * per topic, the messages published with their offsets and the epoch; per connection, its
 * subscriptions and, for each, the offsets it must receive, once each, in order.
 *
 * A step is a few actions run at once, each on its own connection: publishes (data of every JSON
 * kind, a big one now and then), subscribes (a second time too) with and without `since` (behind,
 * beyond history, equal, ahead, another epoch, and malformed), unsubscribes (also of a topic not
 * subscribed), subscribe–publish–unsubscribe sent back to back, a connection dropped (mid-stream
 * too) and its client back on another process with `since` = the last offset it saw, and bad
 * input everywhere. A step ends when everything it must deliver has arrived (each wait is for an
 * event: a reply, a message) and every connection has answered one more bad request (its `error`
 * comes after what was queued to it before); then each connection's log since the last step is
 * checked. Publishes of one step to one topic may come from several connections at once: their
 * offsets are then taken from one subscriber that stayed subscribed (a watcher), checked to be an
 * interleaving of each publisher's order, and every other subscriber must match it.
 *
 * With `ModelDeployment.faults` (test/pubsub/chaos-*.test.ts), a fault step now and then follows a
 * step: the broker restarted, a process's broker link cut, a process or worker killed, while
 * publishes are in flight (what the model then requires: `ModelFaults`). The model follows epochs
 * (a new one announced by a re-sent `subscribed`; a subscription's earlier epoch kept for its
 * messages still on the way).
 *
 * `PUBSUB_SEED=N` replays one seed; `PUBSUB_STEPS=N` sets the steps per seed; `PUBSUB_TRACE=1` prints
 * every request sent, every reply and message checked, and every wait as it ends.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { binary, closeFrame } from '../support/frames.js';
import { random } from '../support/random.js';
import { Peer, type Position, type Reply, untilServing } from './outside-support.js';

/** `serve --pubsub` processes sharing one broker, as the model sees them. */
export interface ModelDeployment {
  name: string;
  /** One entry per port (a process, or the cluster of `workers` processes behind it). */
  ports: number[];
  /** Processes behind each port (`--workers N`), 1 without. */
  workers: number;
  /** `--history N` of every process. */
  history: number;
  /** `--history-bytes N` of every process, if given (its default, 16 MiB, is never reached here). */
  historyBytes?: number;
  /** Largest `data` JSON the broker takes (NATS's max_payload, less its headers); larger: ERR_WS_MESSAGE_TOO_BIG. */
  brokerMaxData?: number;
  /**
   * Whether a topic that no subscriber holds is forgotten once its history is empty (the in-memory
   * and cluster brokers): then no message that would empty it is published to a topic without a watcher.
   */
  forgetsIdleTopics?: boolean;
  /** Whether the servers run with `--deflate` (then some clients offer permessage-deflate). */
  deflate?: boolean;
  /**
   * Whether one publisher's messages to several topics reach a subscriber of them all in the order
   * published (the in-memory, cluster and Redis brokers; not NATS: doc/pubsub.md).
   */
  orderAcrossTopics: boolean;
  /** Faults injected between steps (test/pubsub/chaos-*.test.ts), if any. */
  faults?: ModelFaults;
}

/**
 * The faults a chaos run may inject after a step, each given by the test that owns the processes.
 * A fault step: one to three clients publish (each publish's data unique); the fault strikes while
 * those publishes are in flight; more are published while it lasts and after; once every process
 * serves again, a marker is published to every topic. Then every subscriber must have every
 * message up to its topic's marker, once, in offset order; each publish is refused
 * (ERR_WS_BROKER_UNAVAILABLE) or delivered, never twice, in its publisher's order. Only a publish in
 * flight when the fault struck may be both (the broker took it and the answer was lost), or, when
 * the broker lost its data, neither; one sent while the broker is unreachable from its process is
 * refused and never delivered. A broker that lost its data starts a new epoch, announced to every
 * subscriber by a re-sent `subscribed` at 0 (doc/pubsub.md, *Order, offsets, epochs*); otherwise
 * the epoch goes on and a process that lost its broker link fills its gap from history.
 */
export interface ModelFaults {
  /** Chance of a fault step after each step. */
  rate: number;
  /** The broker SIGKILLed and started again; `keeps`: whether its data survives (NATS file storage), or not (Redis without persistence). */
  broker?: { kill(): Promise<void>; start(): Promise<void>; keeps: boolean };
  /** The link between the process at `port` and the broker: every connection destroyed and new ones held (`cut`), then let through (`restore`). */
  link?: { cut(port: number): void; restore(port: number): void };
  /** The process at `port` SIGKILLed (`kill`), and another started in its place (`start`: its port). */
  server?: { kill(port: number): Promise<void>; start(port: number): Promise<number> };
  /** The worker `worker` (X-Ws-Stream-Worker) of the cluster at `port` SIGKILLed (the primary starts another); at most `max` per run. */
  worker?: { kill(port: number, worker: string): Promise<void>; max: number };
}

/** Where a run is, for a test that times out: the step, and the waits not over yet. */
export interface ModelProgress {
  where: string;
  waiting: Set<string>;
}

const BAD = 'ERR_WS_INVALID_ARGUMENT';
const TOO_BIG = 'ERR_WS_MESSAGE_TOO_BIG';
/** A subscriber's backlog in `serve --pubsub` (4 MiB): a publish whose message does not fit it is refused. */
const SERVER_MAX_DATA = 4 * 1024 * 1024;

type Expect =
  | { kind: 'error'; code: string; what: string }
  /** A `subscribed` to a fence topic of a fault step (outside the model's topics). */
  | { kind: 'fence'; topic: string; what: string }
  | { kind: 'subscribed'; topic: string; since?: Position; repeat: boolean; what: string };

interface Sub {
  told: { offset: number; epoch: string; recovered: boolean | undefined };
  /** The epoch it receives now (the told one, or a new one announced by a re-sent `subscribed`). */
  epoch: string;
  /** The next offset this subscription must receive. */
  next: number;
}

/** One WebSocket connection of a client (or a watcher), with what it must receive. */
class Conn {
  /** Log entries checked so far. */
  checked = 0;
  /** Replies expected after `checked`, in order. */
  readonly expected: Expect[] = [];
  /** Its subscriptions as of `checked` (the checker's state). */
  readonly subs = new Map<string, Sub>();
  /** Whether it is subscribed to a topic once the requests sent so far have acted (the driver's state). */
  readonly plan = new Map<string, boolean>();
  dropped = false;
  /** Whether ERR_WS_BROKER_UNAVAILABLE replies (publishes refused in a fault step) may come, counted apart. */
  refusable = false;
  /** Whether its process was cut off from the broker in a fault step (a gap past history is then skipped). */
  cutOff = false;

  constructor(
    readonly peer: Peer,
    readonly port: number,
    readonly name: string,
  ) {}

  get proc(): string {
    return `${this.port}/${this.peer.worker ?? '-'}`;
  }

  send(req: unknown): void {
    if (Conn.trace)
      console.log(
        `  ${this.name} (${this.proc}) sends ${(typeof req === 'string' ? req : JSON.stringify(req)).slice(0, 160)}`,
      );
    this.peer.send(req);
  }

  static trace = false;

  expect(e: Expect): void {
    this.expected.push(e);
  }

  /** Replies (anything but `message`) logged after `checked`. */
  repliesSince(): number {
    let n = 0;
    for (let i = this.checked; i < this.peer.log.length; i++) if (this.peer.log[i].op !== 'message') n++;
    return n;
  }

  /** The highest offset of `topic` seen after `checked` (messages and `subscribed` replies), or `before`. */
  seen(topic: string, before: number): number {
    let max = before;
    for (let i = this.checked; i < this.peer.log.length; i++) {
      const r = this.peer.log[i];
      if (r.topic === topic && (r.op === 'message' || r.op === 'subscribed') && r.offset > max) max = r.offset;
    }
    return max;
  }
}

interface Client {
  name: string;
  conn: Conn | null;
  deflate: boolean;
  /** While offline: the last position it saw of each topic it was subscribed to. */
  lastSeen: Map<string, Position>;
  /** The process it was last on (to come back elsewhere). */
  lastPort: number;
  lastWorker: string | undefined;
}

interface TopicModel {
  name: string;
  /** Watched: a watcher on every process stays subscribed. */
  warm: boolean;
  epoch: string;
  /** Data of offsets 1, 2, … (as a reader parses it). */
  msgs: unknown[];
  /** The messages of its earlier epochs (a broker restarted without its data), by epoch. */
  past: Map<string, unknown[]>;
}

/** What one step publishes to a topic. */
interface StepTopic {
  cur0: number;
  /** Publishes from several connections at once, observed by `observer`. */
  pubs: Map<Conn, unknown[]>;
  observer?: Conn;
  /** Publishes of one connection alone (subscribe–publish–unsubscribe, publish then unsubscribe): offsets known. */
  own?: unknown[];
  /** The connection of `own`. */
  ownConn?: Conn;
}

export interface ModelStats {
  steps: number;
  published: number;
  delivered: number;
  errors: number;
  recoveredTrue: number;
  recoveredFalse: number;
  drops: number;
  returns: number;
  /** Clients back on the worker they left (the kernel handed no try to another). */
  sameWorker: number;
  /** Messages whose place in their publisher's order across topics was checked. */
  acrossTopics: number;
  /** Fault steps, by kind. */
  faults: Record<string, number>;
  /** New epochs announced to a subscription (re-sent `subscribed`). */
  epochs: number;
  /** Subscribes refused in fault steps (the broker not back yet). */
  refusedSubscribes: number;
  /** Gaps past history skipped by a process cut off from the broker. */
  gapsOverHistory: number;
  /** Publishes refused (ERR_WS_BROKER_UNAVAILABLE) in fault steps. */
  refused: number;
  /** Publishes in flight at a fault that were both refused and delivered (counted per publisher). */
  refusedAndDelivered: number;
  /** Publishes in flight at a fault neither refused nor delivered (a broker that lost its data; a killed server's client). */
  lost: number;
}

/** Short text of ASCII and 2-, 3- and 4-byte UTF-8 characters, escapes and control characters. */
function randomText(rand: () => number, max = 12): string {
  const chars = ['a', 'z', ' ', '"', '\\', '/', 'é', 'ß', '€', '中', '😀', '\n', '\t', '\u0000', '\u2028', '<'];
  let s = '';
  for (let n = Math.floor(rand() * max); n > 0; n--) s += chars[Math.floor(rand() * chars.length)];
  return s;
}

/** A `data` of a random JSON kind; `big` gives a string of tens to hundreds of KiB now and then. */
function randomData(rand: () => number, tag: number): unknown {
  const r = rand();
  if (r < 0.15) return { tag, s: randomText(rand) };
  if (r < 0.25) return randomText(rand);
  if (r < 0.32) return [tag, null, true, false, { k: randomText(rand, 4) }, []];
  if (r < 0.4) return Math.floor(rand() * 2e9) - 1e9;
  if (r < 0.45) return [0.1, -2.5e-7, 1e21, -0, 2 ** 53 - 1][Math.floor(rand() * 5)];
  if (r < 0.5) return null;
  if (r < 0.54) return rand() < 0.5;
  if (r < 0.58) return '';
  if (r < 0.62) return {};
  if (r < 0.66) return JSON.parse(`{"constructor":1,"__proto__":{"x":${tag}},"toString":"s"}`);
  if (r < 0.7) {
    // Nested some hundreds of levels (JSON.stringify takes that; thousands are refused).
    let v: unknown = tag;
    for (let i = Math.floor(rand() * 300); i > 0; i--) v = [v];
    return v;
  }
  if (r < 0.73) return 'x'.repeat(20_000 + Math.floor(rand() * 180_000)) + randomText(rand);
  if (r < 0.76) return { tag, keys: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])) };
  return { tag, n: Math.floor(rand() * 1000) };
}

/** `data` as a reader parses it back (what the server sends on is JSON.stringify of what it parsed). */
function asRead(data: unknown): unknown {
  return JSON.parse(JSON.stringify(data));
}

/** Whether `messages` is an interleaving of the publishers' sequences, each in its own order. */
function isInterleaving(messages: unknown[], sequences: unknown[][]): boolean {
  const memo = new Set<string>();
  const go = (at: number[], i: number): boolean => {
    if (i === messages.length) return at.every((p, k) => p === sequences[k]!.length);
    const key = at.join(',');
    if (memo.has(key)) return false;
    for (let k = 0; k < sequences.length; k++) {
      if (at[k]! < sequences[k]!.length && isDeepStrictEqual(sequences[k]![at[k]!], messages[i])) {
        const next = [...at];
        next[k]!++;
        if (go(next, i + 1)) return true;
      }
    }
    memo.add(key);
    return false;
  };
  return go(
    sequences.map(() => 0),
    0,
  );
}

/** Topic names that mean something to a broker, or to JavaScript, or are at the size limit. */
function topicNames(seed: number, rand: () => number): { name: string; warm: boolean }[] {
  const prefix = `m${seed}-`;
  const pool = [
    'news',
    'a.*',
    '>',
    'é€😀 room',
    '{tag}',
    '__proto__',
    'a.b.c',
    'q?x=1&y=%20#',
    'tab\there',
    'nul\u0000in',
    '$JS.API',
    'trailing.',
  ];
  // A name of exactly 256 UTF-8 bytes (the limit), of 4-byte characters after the prefix.
  let long = prefix;
  while (Buffer.byteLength(long) + 4 <= 256) long += '😀';
  while (Buffer.byteLength(long) < 256) long += 'x';
  const picked: string[] = [];
  while (picked.length < 4) {
    const n = pool[Math.floor(rand() * pool.length)]!;
    if (!picked.includes(prefix + n)) picked.push(prefix + n);
  }
  return [
    { name: `${prefix}plain`, warm: true },
    { name: picked[0]!, warm: true },
    { name: picked[1]!, warm: true },
    { name: long, warm: rand() < 0.5 },
    { name: picked[2]!, warm: false },
    { name: picked[3]!, warm: false },
  ];
}

/** The random model-based run on `d`: `steps` steps from `seed`. Throws (an assertion) at the first divergence. */
export async function runModel(
  d: ModelDeployment,
  seed: number,
  steps: number,
  opened: Peer[],
  progress: ModelProgress = { where: '', waiting: new Set() },
): Promise<ModelStats> {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const H = d.history;
  /**
   * The first offset of `t` history holds when its last is `pos` (pos + 1: none): at most `H`
   * messages and, with `historyBytes`, at most that many bytes of `data` JSON, the oldest dropped
   * first; a message larger than that is not kept, nor anything before it.
   */
  const keptFrom = (t: TopicModel, pos: number): number => {
    let first = pos + 1;
    let bytes = 0;
    for (let o = pos; o >= 1 && pos - o < H; o--) {
      if (d.historyBytes !== undefined) {
        bytes += Buffer.byteLength(JSON.stringify(t.msgs[o - 1]));
        if (bytes > d.historyBytes) break;
      }
      first = o;
    }
    return first;
  };
  /** Whether history covers `since` when the topic's last offset is `pos`. */
  const covered = (t: TopicModel, since: Position, pos: number): boolean =>
    since.epoch === t.epoch && since.offset <= pos && since.offset + 1 >= keptFrom(t, pos);
  const stats: ModelStats = {
    steps: 0,
    published: 0,
    delivered: 0,
    errors: 0,
    recoveredTrue: 0,
    recoveredFalse: 0,
    drops: 0,
    returns: 0,
    acrossTopics: 0,
    sameWorker: 0,
    faults: {},
    epochs: 0,
    refusedSubscribes: 0,
    gapsOverHistory: 0,
    refused: 0,
    refusedAndDelivered: 0,
    lost: 0,
  };
  let tag = 0;
  /** Where the run is, for a failure's message. */
  progress.where = 'setup';
  const trace = process.env.PUBSUB_TRACE !== undefined;
  Conn.trace = trace;
  const track = {
    get where(): string {
      return progress.where;
    },
    set where(w: string) {
      progress.where = w;
      if (trace) console.log(`[${d.name} ${seed}] ${w}`);
    },
  };
  /** The waits not over yet (told by a test that times out, and as they end with PUBSUB_TRACE). */
  const waiting = progress.waiting;
  const fail = (msg: string): never => assert.fail(`${d.name}, seed ${seed}, ${track.where}: ${msg}`);
  const check = (ok: boolean, msg: () => string): void => {
    if (!ok) fail(msg());
  };

  const connect = async (port: number, name: string, deflate: boolean): Promise<Conn> => {
    const peer = await Peer.connect(port, opened, deflate ? 'permessage-deflate' : undefined);
    return new Conn(peer, port, name);
  };
  /** A connection on a process other than `port`/`worker`, if there is one (another port, else another worker). */
  const connectElsewhere = async (c: Client): Promise<Conn> => {
    const others = d.ports.filter((p) => p !== c.lastPort);
    if (others.length > 0) return connect(pick(others), c.name, c.deflate);
    // Another worker, if the kernel hands one of some tries to one (it need not: then the same).
    const tried: Conn[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const conn = await connect(c.lastPort, c.name, c.deflate);
        if (d.workers === 1 || conn.peer.worker !== c.lastWorker) return conn;
        tried.push(conn);
      }
      stats.sameWorker++;
      return tried.pop()!;
    } finally {
      for (const t of tried) t.peer.close();
    }
  };

  // ---- topics, and a watcher on every process subscribed to the warm ones
  const topics = topicNames(seed, rand).map(
    (t): TopicModel => ({
      name: t.name,
      warm: t.warm,
      epoch: '',
      msgs: [],
      past: new Map(),
    }),
  );
  const byName = new Map(topics.map((t) => [t.name, t]));
  const watchers: Conn[] = [];
  for (const port of d.ports) {
    const seenWorkers = new Set<string | undefined>();
    for (let tries = 0; seenWorkers.size < d.workers; tries++) {
      if (tries > 100) fail(`only ${seenWorkers.size} of ${d.workers} workers reached on ${port}`);
      const w = await connect(port, `watcher${watchers.length}`, false);
      if (seenWorkers.has(w.peer.worker)) {
        w.peer.close();
        continue;
      }
      seenWorkers.add(w.peer.worker);
      watchers.push(w);
    }
  }
  // Every topic's epoch, from a subscribe on each process (the same everywhere); cold topics are left again.
  for (const w of watchers) {
    for (const t of topics) {
      const from = w.peer.log.length;
      w.send({ op: 'subscribe', topic: t.name });
      const { reply } = await w.peer.find(`subscribed to ${t.name}`, from, (r) => r.op !== 'message');
      check(reply.op === 'subscribed' && reply.offset === 0, () => `first subscribe: ${JSON.stringify(reply)}`);
      if (t.epoch === '') t.epoch = reply.epoch;
      check(reply.epoch === t.epoch, () => `epoch ${reply.epoch} on ${w.proc}, ${t.epoch} elsewhere`);
      if (!t.warm) w.send({ op: 'unsubscribe', topic: t.name });
    }
    w.checked = w.peer.log.length;
    for (const t of topics) {
      if (t.warm) {
        w.plan.set(t.name, true);
        w.subs.set(t.name, { told: { offset: 0, epoch: t.epoch, recovered: undefined }, epoch: t.epoch, next: 1 });
      }
    }
  }

  // ---- clients, spread over the processes
  const clients: Client[] = [];
  for (let i = 0; i < 6; i++) {
    const port = d.ports[i % d.ports.length]!;
    const deflate = d.deflate === true && i % 2 === 0;
    const conn = await connect(port, `c${i}`, deflate);
    clients.push({
      name: `c${i}`,
      conn,
      deflate,
      lastSeen: new Map(),
      lastPort: port,
      lastWorker: conn.peer.worker,
    });
  }
  const online = (): Client[] => clients.filter((c) => c.conn !== null);

  // ---- requests, each with what it must get back
  const bigData = 'x'.repeat(SERVER_MAX_DATA);
  /** Sends one bad request on `conn` (it must get an `error`, and change nothing). */
  const sendBad = (conn: Conn): void => {
    const t = pick(topics);
    const q = JSON.stringify;
    const T = q(t.name);
    const kinds: [string, string | Buffer, string?][] = [
      ['not JSON', '{"op":"subscribe",'],
      ['empty frame', ''],
      ['an array', '[]'],
      ['a number', '42'],
      ['null', 'null'],
      ['a string', '"subscribe"'],
      ['an unknown op', `{"op":"nope","topic":${T}}`],
      ['a missing op', `{"topic":${T},"data":1}`],
      ['an op that is a number', `{"op":5,"topic":${T}}`],
      ['an op that is an array', `{"op":["subscribe"],"topic":${T}}`],
      ['a missing topic', '{"op":"subscribe"}'],
      ['an empty topic', '{"op":"publish","topic":"","data":1}'],
      ['a topic of 257 bytes', q({ op: 'subscribe', topic: `${'é'.repeat(128)}x` })],
      ['a topic that is a number', '{"op":"subscribe","topic":7}'],
      ['a topic that is null', '{"op":"unsubscribe","topic":null}'],
      ['a topic that is an object', `{"op":"publish","topic":{"t":${T}},"data":1}`],
      ['a topic that is an array', `{"op":"subscribe","topic":[${T}]}`],
      ['a topic with a lone surrogate', '{"op":"subscribe","topic":"a\\ud800b"}'],
      ['a publish without data', `{"op":"publish","topic":${T}}`],
      ['a number no double holds', `{"op":"publish","topic":${T},"data":{"n":1e400}}`],
      ['a negative since', q({ op: 'subscribe', topic: t.name, since: { offset: -1, epoch: t.epoch } })],
      ['a fractional since', q({ op: 'subscribe', topic: t.name, since: { offset: 1.5, epoch: t.epoch } })],
      ['a since offset as text', q({ op: 'subscribe', topic: t.name, since: { offset: '1', epoch: t.epoch } })],
      ['a since without epoch', q({ op: 'subscribe', topic: t.name, since: { offset: 0 } })],
      ['a since without offset', q({ op: 'subscribe', topic: t.name, since: { epoch: t.epoch } })],
      ['a since epoch that is a number', q({ op: 'subscribe', topic: t.name, since: { offset: 0, epoch: 7 } })],
      ['a since that is null', `{"op":"subscribe","topic":${T},"since":null}`],
      ['a since that is text', `{"op":"subscribe","topic":${T},"since":"0"}`],
      ['a since offset past 2^53', `{"op":"subscribe","topic":${T},"since":{"offset":1e300,"epoch":${q(t.epoch)}}}`],
      ['a binary frame', binary(Buffer.from(q({ op: 'subscribe', topic: t.name })))],
    ];
    if (rand() < 0.01)
      kinds.push(['a message over 4 MiB', q({ op: 'publish', topic: t.name, data: bigData }), TOO_BIG]);
    const [what, req, code] = pick(kinds);
    if (Buffer.isBuffer(req)) conn.peer.c.sendRaw(req);
    else conn.send(req);
    conn.expect({ kind: 'error', code: code ?? BAD, what });
    stats.errors++;
  };

  /** A subscribe of `topic` on `conn` with a random `since` (valid or not), expected as the model says. */
  const sendSubscribe = (conn: Conn, t: TopicModel, since?: Position | 'random' | 'none'): void => {
    const cur = t.msgs.length;
    let s: unknown;
    if (since === 'random') {
      const r = rand();
      if (r < 0.15) s = undefined;
      else if (r < 0.3) s = { offset: Math.floor(rand() * (cur + 1)), epoch: t.epoch };
      // At the edge of history: the oldest offset it holds a since for, or one before.
      else if (r < 0.45) s = { offset: Math.max(0, keptFrom(t, cur) - 1 - (rand() < 0.5 ? 1 : 0)), epoch: t.epoch };
      else if (r < 0.6) s = { offset: Math.max(0, cur - Math.floor(rand() * 3)), epoch: t.epoch };
      else if (r < 0.68) s = { offset: cur + 1 + Math.floor(rand() * 3), epoch: t.epoch };
      else if (r < 0.72) s = { offset: Number.MAX_SAFE_INTEGER, epoch: t.epoch };
      else if (r < 0.8) s = { offset: Math.floor(rand() * (cur + 1)), epoch: `${t.epoch}x` };
      else if (r < 0.84) s = { offset: 0, epoch: '' };
      else if (r < 0.88) s = { offset: 0, epoch: t.epoch, extra: true };
      else s = pick([{ offset: -1, epoch: t.epoch }, { offset: 2.5, epoch: t.epoch }, { offset: 0 }, null, 'x', []]);
    } else if (since !== 'none') s = since;
    const req: Record<string, unknown> = { op: 'subscribe', topic: t.name };
    if (s !== undefined) req.since = s;
    conn.send(req);
    const valid =
      s === undefined ||
      (typeof s === 'object' &&
        s !== null &&
        !Array.isArray(s) &&
        Number.isSafeInteger((s as Position).offset) &&
        (s as Position).offset >= 0 &&
        typeof (s as Position).epoch === 'string');
    if (!valid) {
      conn.expect({ kind: 'error', code: BAD, what: `subscribe with since ${JSON.stringify(s)}` });
      stats.errors++;
      return;
    }
    conn.expect({
      kind: 'subscribed',
      topic: t.name,
      since: s as Position | undefined,
      repeat: conn.plan.get(t.name) === true,
      what: `subscribe ${JSON.stringify(req).slice(0, 200)}`,
    });
    conn.plan.set(t.name, true);
  };

  /**
   * `data`, or a small one instead where it would empty the history of a topic nobody may be
   * subscribed to on a server that then forgets the topic (the in-memory brokers: a message over
   * `historyBytes` is not kept, nor anything before it; the topic, forgotten, starts over under a
   * new epoch, as doc/pubsub.md says — which this model does not follow).
   */
  const keepable = (t: TopicModel, data: unknown): unknown =>
    d.forgetsIdleTopics && !t.warm && Buffer.byteLength(JSON.stringify(data)) > (d.historyBytes ?? Infinity)
      ? { tag, kept: true }
      : data;

  /** Publishes `data`, in one of the request's forms (extra fields, a repeated key); returns it as read. */
  const sendPublish = (conn: Conn, t: TopicModel, data: unknown): unknown => {
    const r = rand();
    if (r < 0.1) conn.send({ op: 'publish', topic: t.name, data, id: tag });
    else if (r < 0.15) conn.send({ op: 'publish', topic: t.name, data, since: { offset: -1 } });
    else if (r < 0.2) {
      conn.send(`{"op":"subscribe","topic":${JSON.stringify(t.name)},"data":${JSON.stringify(data)},"op":"publish"}`);
    } else conn.send({ op: 'publish', topic: t.name, data });
    stats.published++;
    return asRead(data);
  };

  // ---- the checker: one connection's log since the last step, against the model
  const walk = (conn: Conn, step: Map<string, StepTopic>, partial: boolean): void => {
    const curOf = (topic: string): [number, number] => {
      const t = byName.get(topic)!;
      const st = step.get(topic);
      return [st ? st.cur0 : t.msgs.length, t.msgs.length];
    };
    const log = conn.peer.log;
    for (; conn.checked < log.length; conn.checked++) {
      const r: Reply = log[conn.checked];
      if (trace) console.log(`  ${conn.name} got ${JSON.stringify(r).slice(0, 160)}`);
      const at = `${conn.name} (${conn.proc}) log[${conn.checked}] ${JSON.stringify(r).slice(0, 300)}`;
      if (r.op === 'message') {
        check(isDeepStrictEqual(Object.keys(r), ['op', 'topic', 'data', 'offset']), () => `${at}: fields`);
        const t = byName.get(r.topic);
        check(t !== undefined, () => `${at}: a message of a topic nobody publishes to`);
        const sub = conn.subs.get(r.topic);
        check(sub !== undefined, () => `${at}: a message of a topic it is not subscribed to`);
        if (r.offset > sub!.next && conn.cutOff && sub!.epoch === t!.epoch) {
          // Cut off from the broker while more than history holds was published: what history still
          // held when the process read it (from keptFrom at a position the topic had), the rest skipped.
          const [lo, hi] = curOf(r.topic);
          const read = Array.from({ length: hi - lo + 1 }, (_, i) => keptFrom(t!, lo + i));
          check(
            read.includes(r.offset),
            () => `${at}: a gap from ${sub!.next} to ${r.offset}, but history held from ${read[0]}..${read.at(-1)}`,
          );
          stats.gapsOverHistory++;
          sub!.next = r.offset;
        }
        check(r.offset === sub!.next, () => `${at}: offset ${r.offset}, expected ${sub!.next} (gap or duplicate)`);
        // (of the epoch it receives: an earlier one's messages until a new epoch is announced)
        const msgs = sub!.epoch === t!.epoch ? t!.msgs : t!.past.get(sub!.epoch);
        check(msgs !== undefined, () => `${at}: a message of epoch ${sub!.epoch}, which the model does not know`);
        check(r.offset <= msgs!.length, () => `${at}: offset past the ${msgs!.length} published in ${sub!.epoch}`);
        check(isDeepStrictEqual(r.data, msgs![r.offset - 1]), () => {
          return `${at}: data differs from what was published at ${r.offset}: ${JSON.stringify(msgs![r.offset - 1])?.slice(0, 200)}`;
        });
        sub!.next++;
        stats.delivered++;
        continue;
      }
      if (conn.refusable && r.op === 'error' && r.code === 'ERR_WS_BROKER_UNAVAILABLE') continue;
      const announced = r.op === 'subscribed' ? conn.subs.get(r.topic) : undefined;
      if (announced && r.epoch !== announced.epoch && !('recovered' in r)) {
        // A new epoch under the subscription (the broker lost its data): announced by a re-sent
        // `subscribed` just before its first message, at 0 (the new epoch from its start: a fault
        // step publishes less than history holds).
        const t = byName.get(r.topic)!;
        check(isDeepStrictEqual(Object.keys(r), ['op', 'topic', 'offset', 'epoch']), () => `${at}: fields`);
        check(r.epoch === t.epoch, () => `${at}: a new epoch, but the topic's is ${t.epoch}`);
        check(r.offset === 0, () => `${at}: a new epoch announced at ${r.offset}, not from its start`);
        Object.assign(announced.told, { offset: 0, epoch: r.epoch });
        announced.epoch = r.epoch;
        announced.next = 1;
        stats.epochs++;
        continue;
      }
      const e = conn.expected.shift();
      check(e !== undefined, () => `${at}: an unexpected reply`);
      if (e!.kind === 'fence') {
        check(r.op === 'subscribed' && r.topic === e!.topic, () => `${at}: expected subscribed for ${e!.what}`);
        continue;
      }
      if (e!.kind === 'error') {
        check(r.op === 'error', () => `${at}: expected an error for ${e!.what}`);
        check(isDeepStrictEqual(Object.keys(r), ['op', 'code', 'message']), () => `${at}: error fields`);
        check(r.code === e!.code, () => `${at}: code for ${e!.what}, expected ${e!.code}`);
        check(typeof r.message === 'string' && r.message.length > 0, () => `${at}: error message`);
        continue;
      }
      const ex = e!;
      check(r.op === 'subscribed' && r.topic === ex.topic, () => `${at}: expected subscribed for ${ex.what}`);
      const keys = ['op', 'topic', 'offset', 'epoch', ...(ex.since ? ['recovered'] : [])];
      check(isDeepStrictEqual(Object.keys(r), keys), () => `${at}: fields, expected ${keys}`);
      const t = byName.get(ex.topic)!;
      check(r.epoch === t.epoch, () => `${at}: epoch, expected ${t.epoch}`);
      if (ex.repeat) {
        const sub = conn.subs.get(ex.topic);
        check(sub !== undefined, () => `${at}: a repeated subscribe without a first one (${ex.what})`);
        check(r.offset === sub!.told.offset, () => `${at}: a repeated subscribe answers ${sub!.told.offset}`);
        if (ex.since) {
          const want = sub!.told.recovered ?? false;
          check(r.recovered === want, () => `${at}: a repeated subscribe's recovered, expected ${want}`);
        }
        continue;
      }
      const [lo, hi] = curOf(ex.topic);
      if (ex.since) {
        const s = ex.since;
        // While the topic is published to, the answer depends on when its position is read (any in
        // lo..hi); history is read after the position, so a `since` at the edge may be covered at
        // one and trimmed at the other (doc/pubsub.md, Recovery).
        const coveredAt = (pos: number): boolean => covered(t, s, pos);
        const positions = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
        const kept = `history (${H} messages${d.historyBytes === undefined ? '' : `, ${d.historyBytes} bytes`}) from ${positions.map((p) => keptFrom(t, p))} at ${lo}..${hi}`;
        if (r.recovered === true) {
          stats.recoveredTrue++;
          check(positions.some(coveredAt), () => `${at}: recovered true, but ${kept} cannot cover it`);
          check(r.offset === s.offset, () => `${at}: recovered true at another offset than since`);
        } else {
          stats.recoveredFalse++;
          check(r.recovered === false, () => `${at}: recovered is not a boolean`);
          check(r.offset >= lo && r.offset <= hi, () => `${at}: offset outside ${lo}..${hi}`);
          check(!positions.every(coveredAt), () => `${at}: recovered false, but ${kept} covers it`);
        }
      } else {
        check(r.offset >= lo && r.offset <= hi, () => `${at}: offset outside ${lo}..${hi}`);
      }
      conn.subs.set(ex.topic, {
        told: { offset: r.offset, epoch: r.epoch, recovered: r.recovered },
        epoch: r.epoch,
        next: r.offset + 1,
      });
    }
    if (partial) return;
    check(conn.expected.length === 0, () => `${conn.name}: replies missing: ${conn.expected.map((x) => x.what)}`);
    for (const [topic, live] of conn.plan) {
      const sub = conn.subs.get(topic);
      const [, cur] = curOf(topic);
      if (live) {
        check(sub !== undefined, () => `${conn.name}: not subscribed to ${topic}`);
        check(sub!.next - 1 === cur, () => `${conn.name}: has ${topic} up to ${sub!.next - 1}, published ${cur}`);
      } else if (sub) {
        // Left in this step: all of it, unless others published to it meanwhile (then a prefix).
        const st = step.get(topic);
        if (!st || st.pubs.size === 0) {
          check(sub.next - 1 === cur, () => `${conn.name}: left ${topic} at ${sub.next - 1}, published ${cur}`);
        }
        conn.subs.delete(topic);
      }
    }
  };

  const untilSeen = async (conn: Conn, topic: string, offset: number): Promise<void> => {
    const before = conn.subs.get(topic)?.next;
    const what = `${conn.name} (${conn.proc}) to get ${topic} up to ${offset}`;
    waiting.add(what);
    await conn.peer.until(what, () => conn.seen(topic, before === undefined ? -1 : before - 1) >= offset);
    waiting.delete(what);
    if (trace) console.log(`  got ${what}; still waiting for ${[...waiting].join(', ') || 'nothing'}`);
  };

  /** Waits for `cond` on `conn`, named (a test that times out says what it waited for). */
  const untilNamed = async (conn: Conn, what: string, cond: () => boolean): Promise<void> => {
    waiting.add(what);
    await conn.peer.until(what, cond);
    waiting.delete(what);
  };

  // ---- fault steps (d.faults): a fault while publishes are in flight, then the model caught up
  let workerKills = 0;
  const faultStep = async (n: number, f: ModelFaults): Promise<void> => {
    const kinds: string[] = [];
    if (f.broker) kinds.push('broker');
    if (f.link) kinds.push('link');
    if (f.server && d.ports.length > 1) kinds.push('server');
    if (f.worker && workerKills < f.worker.max) kinds.push('worker');
    const publishers = online()
      .map((c) => ({ conn: c.conn!, r: rand() }))
      .sort((a, b) => a.r - b.r)
      .slice(0, 1 + Math.floor(rand() * 3))
      .map(({ conn }) => conn);
    if (kinds.length === 0 || publishers.length === 0) return;
    const kind = pick(kinds);
    stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
    track.where = `fault after step ${n}: ${kind}`;
    // What it strikes: the broker (every process), or the process (or worker) of the first publisher.
    const port = publishers[0]!.port;
    /** The port of the process that takes a killed one's place. */
    let fresh = port;
    const worker = publishers[0]!.peer.worker;
    if (kind === 'worker') workerKills++;
    const struck = (conn: Conn): boolean =>
      kind === 'broker' || (conn.port === port && (kind !== 'worker' || conn.peer.worker === worker));
    const killed = new Set<Conn>();
    const warm = topics.filter((t) => t.warm);
    const fence = (conn: Conn, k: string): string => `m${seed}-fence${k}-${conn.name}`;
    for (const conn of publishers) {
      for (const k of ['a', 'b']) {
        conn.send({ op: 'subscribe', topic: fence(conn, k) });
        conn.expect({ kind: 'fence', topic: fence(conn, k), what: `fence ${k}` });
      }
      conn.refusable = true;
    }
    await Promise.all(
      publishers.map((conn) =>
        untilNamed(conn, `${conn.name} (${conn.proc}) subscribed to its fences`, () => conn.repliesSince() >= 2),
      ),
    );
    const logFrom = new Map(publishers.map((c) => [c, c.peer.log.length]));
    /** Sent before the fault (some in flight when it strikes), while it lasts, just after, once all is served again. */
    type Phase = 'before' | 'during' | 'after' | 'served';
    const sentBy = new Map<Conn, { topic: string; data: unknown; phase: Phase }[]>(publishers.map((c) => [c, []]));
    const budget = new Map<string, number>();
    const overHistory = kind === 'link' && rand() < 0.3;
    if (overHistory) stats.faults['link past history'] = (stats.faults['link past history'] ?? 0) + 1;
    /** Publishes per publisher and phase scale with history (what a cut-off process can catch up). */
    const burst = Math.max(1, Math.floor(H / 8));
    const publishSome = (phase: Phase, max: number, min = 0): void => {
      for (const conn of publishers) {
        if (killed.has(conn)) continue;
        for (let k = min + Math.floor(rand() * (max - min + 1)); k > 0; k--) {
          // At most H - 1 messages per topic with its marker (history holds all that a process cut
          // off from the broker missed), or, for a cut link now and then, 3 H (what it no longer
          // holds is skipped, as documented).
          const room = warm.filter((x) => (budget.get(x.name) ?? 0) < (overHistory ? 3 * H : H - 2));
          if (room.length === 0) return;
          // (past history: all to one topic, so that a process cut off misses more than it holds)
          const t = overHistory && phase === 'during' && room.includes(warm[0]!) ? warm[0]! : pick(room);
          budget.set(t.name, (budget.get(t.name) ?? 0) + 1);
          const data = { tag: tag++, fault: phase, s: randomText(rand, 6) };
          conn.send({ op: 'publish', topic: t.name, data });
          sentBy.get(conn)!.push({ topic: t.name, data: asRead(data), phase });
          stats.published++;
        }
      }
    };
    /** Each connection's publishes sent so far settled (its fence `k` left, then a request answered). */
    const barrier = async (conns: Conn[], k: string, what: string): Promise<void> => {
      await Promise.all(
        conns.map(async (conn) => {
          const from = conn.peer.log.length;
          conn.send({ op: 'unsubscribe', topic: fence(conn, k) });
          conn.send({ op: 'fence' });
          conn.expect({ kind: 'error', code: BAD, what: `the fence ${what}` });
          await untilNamed(conn, `${conn.name} (${conn.proc}): its publishes settled ${what}`, () =>
            conn.peer.log.slice(from).some((r) => r.op === 'error' && r.code === BAD),
          );
        }),
      );
    };
    const everyone = (): Conn[] => [...watchers, ...online().map((c) => c.conn!)];

    /** Whether the broker (or link) goes again as soon as it is back, and comes back again. */
    const flaps = (kind === 'broker' || kind === 'link') && rand() < 0.3;
    if (flaps) stats.faults[`${kind} twice`] = (stats.faults[`${kind} twice`] ?? 0) + 1;
    // Idle clients leave topics and subscribe to others (with `since` or not) during the fault and
    // just after: refused, or answered as the model says once the fault is over.
    const churners = online()
      .map((c) => c.conn!)
      .filter((c) => !publishers.includes(c) && rand() < 0.4)
      .map((conn) => ({ conn, asked: [] as { topic: string; since?: Position }[] }));
    const churn = (): void => {
      for (const { conn, asked } of churners) {
        if (killed.has(conn)) continue;
        const t = pick(topics);
        if (conn.plan.get(t.name) === true) {
          conn.send({ op: 'unsubscribe', topic: t.name });
          conn.plan.set(t.name, false);
        } else if (!conn.subs.has(t.name) && !asked.some((a) => a.topic === t.name)) {
          const since = rand() < 0.5 ? { offset: Math.floor(rand() * (t.msgs.length + 1)), epoch: t.epoch } : undefined;
          conn.send(since ? { op: 'subscribe', topic: t.name, since } : { op: 'subscribe', topic: t.name });
          asked.push({ topic: t.name, since });
        }
      }
    };
    // The fault, struck while the first publishes are in flight: once one of them reached a watcher.
    const firstTag = tag;
    publishSome('before', 8 * burst, 2);
    await Promise.race(
      watchers.map((w) =>
        untilNamed(w, `${w.name} (${w.proc}) to get a publish of the fault step`, () =>
          w.peer.log
            .slice(w.checked)
            .some((r) => r.op === 'message' && r.data?.fault === 'before' && r.data.tag >= firstTag),
        ),
      ),
    );
    waiting.clear();
    if (kind === 'broker') {
      await f.broker!.kill();
      churn();
      publishSome('during', 3 * burst);
      await barrier(publishers, 'a', 'while the broker is down');
      await f.broker!.start();
      if (flaps) {
        await f.broker!.kill();
        await f.broker!.start();
      }
    } else if (kind === 'link') {
      f.link!.cut(port);
      for (const conn of everyone()) if (struck(conn)) conn.cutOff = true;
      churn();
      publishSome('during', overHistory ? 2 * H : 3 * burst, overHistory ? H : 0);
      await barrier(publishers.filter(struck), 'a', 'while the link is cut');
      f.link!.restore(port);
      if (flaps) {
        f.link!.cut(port);
        f.link!.restore(port);
      }
    } else {
      await (kind === 'server' ? f.server!.kill(port) : f.worker!.kill(port, worker!));
      for (const conn of everyone()) if (struck(conn)) killed.add(conn);
      await Promise.all([...killed].map((conn) => conn.peer.c.closed()));
      publishSome('during', 3 * burst);
      if (kind === 'server') d.ports[d.ports.indexOf(port)] = fresh = await f.server!.start(port);
    }
    // Clients away come back on the struck process, each topic with its `since`, while it may still
    // be reconnecting: answered as the model says once the fault is over, or refused meanwhile.
    const returners: { conn: Conn; asked: { topic: string; since?: Position }[] }[] = [];
    const before = new Map(topics.map((t) => [t.name, { epoch: t.epoch, cur: t.msgs.length }]));
    for (const c of clients.filter((x) => x.conn === null && x.lastSeen.size > 0)) {
      // (not between two restarts of a broker that loses its data: answered in the epoch between, which the model does not follow)
      if (rand() < 0.5 || flaps) continue;
      const conn = await connect(fresh, c.name, c.deflate);
      c.conn = conn;
      stats.returns++;
      const asked: { topic: string; since?: Position }[] = [];
      for (const [name, last] of c.lastSeen) {
        conn.send({ op: 'subscribe', topic: name, since: last });
        asked.push({ topic: name, since: last });
      }
      c.lastSeen.clear();
      returners.push({ conn, asked });
    }
    churn();
    if (!flaps) publishSome('after', 2 * burst);
    track.where = `fault after step ${n}: ${kind}, every process serving again`;
    await untilServing({ ports: d.ports, opened, workers: d.workers });
    publishSome('served', 2 * burst);
    track.where = `fault after step ${n}: ${kind}, its publishes settled`;
    const alive = publishers.filter((c) => !killed.has(c));
    await barrier(alive, 'b', 'after the fault');
    for (const conn of alive) conn.send({ op: 'unsubscribe', topic: fence(conn, 'a') });
    for (const { conn, asked } of [
      ...returners,
      ...churners.filter((x) => !killed.has(x.conn) && x.asked.length > 0),
    ]) {
      // (its answers: an error, or `subscribed` to a topic it was not subscribed to before the fault)
      const answers = (): Reply[] =>
        conn.peer.log
          .slice(conn.checked)
          .filter((r) => r.op === 'error' || (r.op === 'subscribed' && !conn.subs.has(r.topic)))
          .slice(0, asked.length);
      await untilNamed(
        conn,
        `${conn.name} (${conn.proc}) answered its ${asked.length} subscribes`,
        () => answers().length >= asked.length,
      );
      answers().forEach((r, i) => {
        if (r.op === 'subscribed')
          check(
            r.topic === asked[i]!.topic,
            () => `${conn.name}: ${JSON.stringify(r)} answers a subscribe to ${asked[i]!.topic}`,
          );
        if (r.op === 'error') {
          stats.refusedSubscribes++;
          conn.expect({
            kind: 'error',
            code: 'ERR_WS_BROKER_UNAVAILABLE',
            what: 'a subscribe while the broker is unreachable',
          });
          return;
        }
        const t = byName.get(r.topic);
        check(t !== undefined, () => `${conn.name}: ${JSON.stringify(r)} answers a subscribe`);
        conn.expect({
          kind: 'subscribed',
          topic: r.topic,
          since: asked[i]!.since,
          repeat: false,
          what: `a subscribe with since ${JSON.stringify(asked[i]!.since)} during a ${kind} fault`,
        });
        conn.plan.set(r.topic, true);
      });
    }

    // A marker on every topic from a connection outside the model: where each topic stands now.
    track.where = `fault after step ${n}: ${kind}, markers`;
    const helper = await Peer.connect(pick(d.ports), opened);
    for (const t of topics) helper.send({ op: 'subscribe', topic: t.name });
    const markers = new Map(topics.map((t) => [t.name, { tag: tag++, marker: true }]));
    for (const t of topics) helper.send({ op: 'publish', topic: t.name, data: markers.get(t.name) });
    const isMarker = (r: Reply, t: TopicModel): boolean =>
      r.op === 'message' && r.topic === t.name && isDeepStrictEqual(r.data, markers.get(t.name));
    await helper.until(
      'the markers back at their publisher',
      () => helper.log.some((r) => r.op === 'error') || topics.every((t) => helper.log.some((r) => isMarker(r, t))),
    );
    check(!helper.log.some((r) => r.op === 'error'), () => `the marker publisher got ${JSON.stringify(helper.log)}`);
    helper.close();
    // Every subscriber gets each marker (and so everything before it).
    const survivors = everyone().filter((c) => !killed.has(c));
    await Promise.all(
      survivors.flatMap((conn) =>
        topics
          .filter((t) => conn.plan.get(t.name) === true)
          .map((t) =>
            untilNamed(conn, `${conn.name} (${conn.proc}) to get the marker of ${t.name}`, () =>
              conn.peer.log.slice(conn.checked).some((r) => isMarker(r, t)),
            ),
          ),
      ),
    );

    // What reached anyone, by topic, epoch and offset (the same data wherever it reached).
    track.where = `fault after step ${n}: ${kind}, checking`;
    const seen = new Map<string, Map<string, Map<number, unknown>>>(topics.map((t) => [t.name, new Map()]));
    const record = (topic: string, epoch: string, offset: number, data: unknown, who: string): void => {
      const byEpoch = seen.get(topic)!;
      let m = byEpoch.get(epoch);
      if (!m) byEpoch.set(epoch, (m = new Map()));
      const had = m.get(offset);
      check(
        !m.has(offset) || isDeepStrictEqual(had, data),
        () => `${topic} ${epoch}:${offset} is ${JSON.stringify(data)} at ${who}, ${JSON.stringify(had)} elsewhere`,
      );
      m.set(offset, data);
    };
    for (const conn of [...survivors, ...killed]) {
      const epochOf = new Map([...conn.subs].map(([name, sub]) => [name, sub.epoch]));
      for (const r of conn.peer.log.slice(conn.checked)) {
        if (!byName.has(r.topic) || !epochOf.has(r.topic)) continue;
        if (r.op === 'subscribed' && !('recovered' in r)) epochOf.set(r.topic, r.epoch);
        else if (r.op === 'message') record(r.topic, epochOf.get(r.topic)!, r.offset, r.data, conn.name);
      }
    }
    for (const t of topics) {
      const mine = helper.log.filter((r) => r.topic === t.name);
      const marker = mine.find((r) => isMarker(r, t));
      const epoch = mine
        .slice(0, mine.indexOf(marker))
        .filter((r: Reply) => r.op === 'subscribed')
        .at(-1).epoch;
      record(t.name, epoch, marker.offset, marker.data, 'the marker publisher');
      const byEpoch = seen.get(t.name)!;
      /** The messages of `e` after `from`, up to `to` (or as far as they go on), each reached somewhere. */
      const run = (e: string, from: number, to?: number): unknown[] => {
        const m = byEpoch.get(e) ?? new Map<number, unknown>();
        const out: unknown[] = [];
        for (let o = from + 1; to === undefined ? m.has(o) : o <= to; o++) {
          check(m.has(o), () => `${t.name}: offset ${o} of ${e} reached no subscriber (lost), marker at ${to}`);
          out.push(m.get(o));
        }
        const beyond = [...m.keys()].filter((o) => o > from + out.length);
        check(
          beyond.length === 0,
          () => `${t.name}: offsets ${beyond} of ${e} after a gap at ${from + out.length + 1}`,
        );
        return out;
      };
      if (epoch === t.epoch) {
        t.msgs.push(...run(epoch, t.msgs.length, marker.offset));
      } else {
        check(
          kind === 'broker' && !f.broker!.keeps,
          () => `${t.name}: a new epoch ${epoch} (was ${t.epoch}) after a ${kind} fault`,
        );
        t.msgs.push(...run(t.epoch, t.msgs.length));
        t.past.set(t.epoch, t.msgs);
        const others = [...byEpoch.keys()].filter((e) => e !== t.epoch && e !== epoch);
        check(others.length === 0, () => `${t.name}: messages of epochs ${others}`);
        t.epoch = epoch;
        t.msgs = run(epoch, 0, marker.offset);
      }
    }

    // Each publish refused or delivered, as the fault allows; each publisher's in its order.
    const delivered = new Map<string, { rank: number; offset: number }[]>();
    for (const t of topics) {
      for (const [e, m] of seen.get(t.name)!) {
        for (const [offset, data] of m) {
          const k = JSON.stringify(data);
          if (!delivered.has(k)) delivered.set(k, []);
          delivered.get(k)!.push({ rank: e === t.epoch ? 1 : 0, offset });
        }
      }
    }
    for (const [conn, list] of sentBy) {
      const refused = conn.peer.log
        .slice(logFrom.get(conn))
        .filter((r) => r.op === 'error' && r.code === 'ERR_WS_BROKER_UNAVAILABLE').length;
      const who = `${conn.name} (${conn.proc}${killed.has(conn) ? ', killed' : ''})`;
      let got = 0;
      let inFlight = 0;
      let mustRefuse = 0;
      const places = new Map<string, { rank: number; offset: number; i: number }[]>();
      list.forEach((p, i) => {
        const at = delivered.get(JSON.stringify(p.data)) ?? [];
        check(at.length <= 1, () => `${who}: ${JSON.stringify(p.data)} delivered twice, at ${JSON.stringify(at)}`);
        if (p.phase === 'during' && struck(conn) && (kind === 'broker' || kind === 'link')) {
          mustRefuse++;
          check(
            at.length === 0,
            () => `${who}: ${JSON.stringify(p.data)}, published while the broker was unreachable, delivered`,
          );
        }
        if (struck(conn) && p.phase === 'before') inFlight++;
        if (p.phase === 'served')
          check(
            at.length === 1,
            () => `${who}: ${JSON.stringify(p.data)}, published once all was served again, not delivered`,
          );
        got += at.length;
        if (at[0]) {
          if (!places.has(p.topic)) places.set(p.topic, []);
          places.get(p.topic)!.push({ ...at[0], i });
        }
      });
      for (const [topic, ps] of places) {
        const byOffset = [...ps].sort((a, b) => a.rank - b.rank || a.offset - b.offset);
        check(
          byOffset.every((p, j) => j === 0 || p.i > byOffset[j - 1]!.i),
          () => `${who}: its publishes to ${topic} delivered out of its order: ${JSON.stringify(byOffset)}`,
        );
      }
      stats.refused += refused;
      if (killed.has(conn)) {
        // Its connection died with the process: no refusal reached it; each delivered at most once.
        if (trace) console.log(`  ${kind} fault: ${who}: ${list.length} published, ${got} delivered`);
        stats.lost += list.length - got;
        continue;
      }
      const counts = `${list.length} published (${inFlight} in flight), ${got} delivered, ${refused} refused`;
      check(refused >= mustRefuse, () => `${who}: ${counts}; ${mustRefuse} sent while unreachable`);
      if (!struck(conn)) check(refused === 0, () => `${who}: refused, its process unaffected: ${counts}`);
      check(got + refused <= list.length + inFlight, () => `${who}: ${counts}: refused and delivered`);
      const loses = kind === 'broker' && !f.broker!.keeps;
      check(got + refused >= list.length - (loses ? inFlight : 0), () => `${who}: ${counts}: lost`);
      if (trace) {
        const missing = list
          .filter((p) => !delivered.has(JSON.stringify(p.data)))
          .map((p) => `${p.phase}:${(p.data as { tag: number }).tag}`);
        console.log(`  ${kind} fault: ${who}: ${counts}; not delivered: ${missing}`);
      }
      stats.refusedAndDelivered += Math.max(0, got + refused - list.length);
      stats.lost += Math.max(0, list.length - got - refused);
    }

    // Every connection's log against the model (an answer during the fault from any position the
    // topic had in it); the killed ones' clients come back later.
    const none = new Map<string, StepTopic>(
      topics.map((t) => {
        const was = before.get(t.name)!;
        // (a subscription left during the fault has a prefix of the topic: as if others published)
        return [t.name, { cur0: was.epoch === t.epoch ? was.cur : 0, pubs: new Map([[watchers[0]!, []]]) }];
      }),
    );
    for (const conn of killed) {
      walk(conn, none, true);
      const i = watchers.indexOf(conn);
      if (i >= 0) watchers.splice(i, 1);
      const c = clients.find((x) => x.conn === conn);
      if (c) {
        for (const [name, sub] of conn.subs) c.lastSeen.set(name, { offset: sub.next - 1, epoch: sub.epoch });
        c.lastPort = conn.port;
        c.lastWorker = conn.peer.worker;
        c.conn = null;
        stats.drops++;
      }
    }
    for (const conn of survivors) walk(conn, none, false);
    for (const conn of publishers) conn.refusable = false;
    for (const conn of everyone()) conn.cutOff = false;
    // A watcher on the process (or worker) started in the killed one's place.
    if (kind === 'server' || kind === 'worker') await addWatcher(fresh);
  };

  /** A watcher of every warm topic on `port`, on a worker no watcher is on (the one started after a kill). */
  const addWatcher = async (port: number): Promise<void> => {
    const on = new Set(watchers.filter((w) => w.port === port).map((w) => w.peer.worker));
    let w: Conn | undefined;
    for (let tries = 0; !w; tries++) {
      if (tries > 500) fail(`no connection on ${port} reached a worker but ${[...on]}`);
      const c = await connect(port, `watcher${watchers.length}+`, false);
      if (d.workers > 1 && on.has(c.peer.worker)) c.peer.close();
      else w = c;
    }
    for (const t of topics.filter((x) => x.warm)) {
      const from = w.peer.log.length;
      w.send({ op: 'subscribe', topic: t.name });
      const { reply } = await w.peer.find(`${w.name} subscribed to ${t.name}`, from, (r) => r.op !== 'message');
      check(
        reply.op === 'subscribed' && reply.offset === t.msgs.length && reply.epoch === t.epoch,
        () =>
          `a new watcher's subscribe to ${t.name}: ${JSON.stringify(reply)}, the model at ${t.epoch}:${t.msgs.length}`,
      );
      w.plan.set(t.name, true);
      w.subs.set(t.name, {
        told: { offset: reply.offset, epoch: reply.epoch, recovered: undefined },
        epoch: reply.epoch,
        next: reply.offset + 1,
      });
    }
    w.checked = w.peer.log.length;
    watchers.push(w);
  };

  // ---- the steps
  for (let n = 0; n < steps; n++) {
    track.where = `step ${n}`;
    stats.steps++;
    const step = new Map<string, StepTopic>();
    const stepOf = (t: TopicModel): StepTopic => {
      let st = step.get(t.name);
      if (!st) step.set(t.name, (st = { cur0: t.msgs.length, pubs: new Map() }));
      return st;
    };
    /** Each publisher's publishes of this step to topics others observe, in the order sent. */
    const sent = new Map<Conn, { topic: string; data: unknown }[]>();
    const watchedFrom = new Map(watchers.map((w) => [w, w.checked]));
    /** Connections that act in this step (one action each), or stand still as observers. */
    const busy = new Set<Conn>();
    const actions: Promise<void>[] = [];
    const free = (): Client[] => online().filter((c) => !busy.has(c.conn!));
    const maybeBad = (conn: Conn): void => {
      if (rand() < 0.2) sendBad(conn);
    };

    // Subscribe, publish, unsubscribe back to back (or publish then unsubscribe when subscribed):
    // the connection gets its own messages, offsets known.
    if (rand() < 0.35 && free().length > 0) {
      const c = pick(free());
      const conn = c.conn!;
      const t = pick(topics);
      busy.add(conn);
      const st = stepOf(t);
      st.own = [];
      st.ownConn = conn;
      const wasIn = conn.plan.get(t.name) === true;
      if (!wasIn || rand() < 0.3)
        sendSubscribe(conn, t, rand() < 0.3 ? { offset: t.msgs.length, epoch: t.epoch } : 'none');
      maybeBad(conn);
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--)
        st.own.push(sendPublish(conn, t, keepable(t, randomData(rand, tag++))));
      if (rand() < 0.8) {
        conn.send({ op: 'unsubscribe', topic: t.name });
        conn.plan.set(t.name, false);
      }
      maybeBad(conn);
    }

    // Publishes from one to three connections at once, to topics someone stands subscribed to.
    if (rand() < 0.75) {
      const publishers = free()
        .map((c) => ({ c, r: rand() }))
        .sort((a, b) => a.r - b.r)
        .slice(0, 1 + Math.floor(rand() * 3))
        .map(({ c }) => c);
      for (const c of publishers) busy.add(c.conn!);
      for (const c of publishers) {
        const conn = c.conn!;
        for (let k = 1 + Math.floor(rand() * 6); k > 0; k--) {
          const t = pick(topics);
          const st = stepOf(t);
          if (st.own) continue;
          if (!st.observer) {
            const obs = t.warm
              ? pick(watchers)
              : online()
                  .map((o) => o.conn!)
                  .find((o) => !busy.has(o) && o.plan.get(t.name) === true);
            if (!obs) continue;
            st.observer = obs;
            busy.add(obs);
          }
          maybeBad(conn);
          let data = randomData(rand, tag++);
          if (rand() < 0.01) data = { tag, big: 'y'.repeat(1024 * 1024 + 10) };
          data = keepable(t, data);
          const size = Buffer.byteLength(JSON.stringify(data));
          if (d.brokerMaxData !== undefined && size > d.brokerMaxData) {
            // Larger than the broker takes: refused, no offset (its reply comes when the broker refuses it).
            conn.send({ op: 'publish', topic: t.name, data });
            conn.expect({ kind: 'error', code: TOO_BIG, what: `a publish of ${size} bytes` });
            stats.errors++;
            const want = conn.expected.length;
            actions.push(conn.peer.until('the broker refusing a big publish', () => conn.repliesSince() >= want));
            break;
          }
          let list = st.pubs.get(conn);
          if (!list) st.pubs.set(conn, (list = []));
          const read = sendPublish(conn, t, data);
          list.push(read);
          let mine = sent.get(conn);
          if (!mine) sent.set(conn, (mine = []));
          mine.push({ topic: t.name, data: read });
        }
      }
    }

    // Subscription changes on topics nobody publishes to alone in this step.
    for (let k = Math.floor(rand() * 3); k > 0 && free().length > 0; k--) {
      const conn = pick(free()).conn!;
      busy.add(conn);
      for (let r = 1 + Math.floor(rand() * 3); r > 0; r--) {
        const t = pick(topics);
        if (step.get(t.name)?.own || step.get(t.name)?.observer === conn) continue;
        maybeBad(conn);
        const r = rand();
        if (r < 0.45) sendSubscribe(conn, t, 'random');
        else if (r < 0.65 && conn.plan.get(t.name) === true) {
          // Left and joined again back to back (the topic may go from this process meanwhile).
          conn.send({ op: 'unsubscribe', topic: t.name });
          conn.plan.set(t.name, false);
          sendSubscribe(conn, t, rand() < 0.5 ? 'none' : 'random');
        } else {
          conn.send({ op: 'unsubscribe', topic: t.name });
          conn.plan.set(t.name, false);
        }
      }
    }

    // A connection dropped: at once, or once it has some of a topic being published to.
    if (rand() < 0.12 && free().length > 1) {
      const c = pick(free());
      const conn = c.conn!;
      busy.add(conn);
      const midway = [...step.entries()].find(([name, st]) => st.pubs.size > 0 && conn.plan.get(name) === true);
      const abrupt = rand() < 0.5;
      actions.push(
        (async () => {
          if (midway) {
            const [name, st] = midway;
            const count = [...st.pubs.values()].reduce((a, l) => a + l.length, 0);
            const want = st.cur0 + 1 + Math.floor(rand() * count);
            await untilSeen(conn, name, Math.min(want, st.cur0 + count));
          }
          if (abrupt) conn.peer.close();
          else {
            conn.peer.c.sendRaw(closeFrame(1000));
            await conn.peer.c.closed();
          }
        })(),
      );
      conn.dropped = true;
      stats.drops++;
    }

    // A client that dropped comes back on another process, with `since` = the last offset it saw.
    const away = clients.filter((c) => c.conn === null);
    if (away.length > 0 && rand() < 0.5) {
      const c = pick(away);
      const conn = await connectElsewhere(c);
      c.conn = conn;
      busy.add(conn);
      stats.returns++;
      for (const [name, last] of c.lastSeen) {
        const t = byName.get(name)!;
        if (step.get(name)?.own) continue;
        const r = rand();
        sendSubscribe(conn, t, r < 0.8 ? last : r < 0.9 ? 'none' : { offset: last.offset, epoch: 'old' });
        maybeBad(conn);
      }
      c.lastSeen.clear();
    }

    // ---- wait for the step to be delivered
    track.where = `step ${n}: actions`;
    await Promise.all(actions);
    for (const [name, st] of step) {
      const t = byName.get(name)!;
      if (st.own) {
        t.msgs.push(...st.own);
        continue;
      }
      const count = [...st.pubs.values()].reduce((a, l) => a + l.length, 0);
      if (count === 0) continue;
      const obs = st.observer!;
      await untilSeen(obs, name, st.cur0 + count);
      const got = obs.peer.log
        .slice(obs.checked)
        .filter((r: Reply) => r.op === 'message' && r.topic === name && r.offset > st.cur0)
        .slice(0, count);
      track.where = `step ${n}`;
      check(
        got.every((r: Reply, i: number) => r.offset === st.cur0 + 1 + i),
        () => `${obs.name} (${obs.proc}): offsets of ${name} ${got.map((r: Reply) => r.offset)} after ${st.cur0}`,
      );
      const data = got.map((r: Reply) => r.data);
      check(isInterleaving(data, [...st.pubs.values()]), () => {
        const sent = [...st.pubs.entries()].map(([c, l]) => `${c.name}: ${JSON.stringify(l).slice(0, 300)}`);
        return `${name}: ${obs.name} got ${JSON.stringify(data).slice(0, 300)}, not an interleaving of ${sent}`;
      });
      t.msgs.push(...data);
    }
    // Dropped connections: whatever they got must be right; their client resumes from its last offset.
    for (const c of clients) {
      const conn = c.conn;
      if (!conn?.dropped) continue;
      track.where = `step ${n}: checking the dropped ${c.name}`;
      walk(conn, step, true);
      for (const [name, sub] of conn.subs) c.lastSeen.set(name, { offset: sub.next - 1, epoch: sub.epoch });
      c.lastPort = conn.port;
      c.lastWorker = conn.peer.worker;
      c.conn = null;
    }
    const live = [...watchers, ...online().map((c) => c.conn!)];
    // Every reply asked for so far, checked with what arrived with them (an unexpected error fails here).
    track.where = `step ${n}: replies`;
    await Promise.all(
      live.map((conn) => {
        const want = conn.expected.length;
        return conn.peer.until(`${conn.name}'s replies`, () => conn.repliesSince() >= want);
      }),
    );
    track.where = `step ${n}: checking what arrived`;
    for (const conn of live) walk(conn, step, true);
    await Promise.all(
      live.flatMap((conn) =>
        [...conn.plan].map(([name, on]) => {
          const t = byName.get(name)!;
          // Subscribed now: it gets every offset of the topic. (One that left after its own
          // publishes has them before the reply to its next request: checked, not waited for.)
          return on ? untilSeen(conn, name, t.msgs.length) : undefined;
        }),
      ),
    );
    // One more bad request each: its error comes after anything queued to the connection before.
    for (const conn of live) sendBad(conn);
    await Promise.all(
      live.map((conn) => {
        const want = conn.expected.length;
        track.where = `step ${n}: the last error of each connection`;
        return conn.peer.until(`${conn.name}'s replies`, () => conn.repliesSince() >= want);
      }),
    );
    track.where = `step ${n}: checking`;
    for (const conn of live) walk(conn, step, false);
    if (d.orderAcrossTopics) {
      // Each publisher's messages, as a watcher of every warm topic got them, in the order it sent
      // them, across topics (those whose topic and data no other publish of the step repeats).
      const keyOf = (topic: string, data: unknown): string => `${topic}\u0001${JSON.stringify(data)}`;
      const origin = new Map<string, { conn: Conn; i: number } | null>();
      for (const [conn, list] of sent) {
        list.forEach(({ topic, data }, i) => {
          const k = keyOf(topic, data);
          origin.set(k, origin.has(k) ? null : { conn, i });
        });
      }
      for (const w of watchers) {
        const last = new Map<Conn, number>();
        for (const r of w.peer.log.slice(watchedFrom.get(w), w.checked)) {
          if (r.op !== 'message') continue;
          const o = origin.get(keyOf(r.topic, r.data));
          if (!o) continue;
          const before = last.get(o.conn) ?? -1;
          check(o.i > before, () => {
            const order = sent.get(o.conn)!.map((x) => `${x.topic}:${JSON.stringify(x.data).slice(0, 40)}`);
            return `${w.name} (${w.proc}) got ${o.conn.name}'s publish ${o.i} after its ${before}, across topics; sent ${order}`;
          });
          last.set(o.conn, o.i);
          stats.acrossTopics++;
        }
      }
    }
    if (d.faults && rand() < d.faults.rate) await faultStep(n, d.faults);
  }
  return stats;
}

/** The seeds to run: `PUBSUB_SEED` alone when set, else `fixed`. */
export function modelSeeds(fixed: number[]): number[] {
  const one = process.env.PUBSUB_SEED;
  return one !== undefined && one !== '' ? [Number(one)] : fixed;
}

/** Steps per seed: `PUBSUB_STEPS`, else 120. */
export function modelSteps(): number {
  return Number(process.env.PUBSUB_STEPS ?? 120);
}

/**
 * That a run met what it is there to check (every kind of step happened, and its checks were
 * reached): for the fixed seeds, whose runs are long enough; a replayed seed may be short.
 */
export function assertCoverage(stats: ModelStats, d: Pick<ModelDeployment, 'orderAcrossTopics'>): void {
  if (process.env.PUBSUB_SEED !== undefined || process.env.PUBSUB_STEPS !== undefined) return;
  for (const k of [
    'published',
    'delivered',
    'errors',
    'recoveredTrue',
    'recoveredFalse',
    'drops',
    'returns',
  ] as const) {
    assert.ok(stats[k] > 0, `no ${k} in ${JSON.stringify(stats)}`);
  }
  assert.equal(stats.acrossTopics > 0, d.orderAcrossTopics, `order across topics checked: ${JSON.stringify(stats)}`);
}

/**
 * One test per seed (`modelSeeds(fixed)`): the model run on the deployment `deployment()` gives
 * once the suite's servers are up, then its coverage checked. A lost message or reply shows as a
 * wait that never ends: the test's timeout, then what it waited for.
 */
export function modelSeedTests(fixed: number[], deployment: () => ModelDeployment, opened: Peer[]): void {
  for (const seed of modelSeeds(fixed)) {
    const progress: ModelProgress = { where: '', waiting: new Set() };
    let finished = false;
    after(() => {
      if (!finished) console.log(`seed ${seed} stopped at ${progress.where}; waiting for ${[...progress.waiting]}`);
    });
    it(`seed ${seed} (PUBSUB_SEED=${seed} to replay): every reply and message as the model says`, {
      timeout: 120_000,
    }, async () => {
      const d = deployment();
      const stats = await runModel(d, seed, modelSteps(), opened, progress);
      finished = true;
      assertCoverage(stats, d);
      console.log(`${d.name}, seed ${seed}: ${JSON.stringify(stats)}`);
    });
  }
}
