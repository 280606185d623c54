/**
 * An outsider's checker of `ws-stream serve --pubsub`, written from issue 13's "Server" section and
 * doc/pubsub.md only, with a client that is not ours: the `ws` package. It hits every corner of the
 * protocol — each op with each field missing or of another JSON type, every wrong kind of `since`,
 * unknown fields, topics of 256 and 257 UTF-8 bytes (1- to 4-byte characters, escaped surrogates),
 * JSON that is no object or nested 100,000 deep, binary, fragmented, invalid and oversized frames,
 * recovery at every edge of history, a topic published to while nobody subscribes, the same offsets
 * and epoch on every process, and the HTTP side — against real servers: one process in memory,
 * `--workers 2`, two processes on one Redis, two on one NATS (protocol-outsider-*.test.ts).
 * Requests of one connection act in the order sent and a `subscribe` is answered before the next is
 * read (doc/pubsub.md), so a repeated subscribe to a topic of its own is a barrier: what the
 * requests before it answered has arrived when its `subscribed` does. No timer anywhere: a hang is
 * the test's timeout, which prints what each connection waited for.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startServer, teardownOrReport } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';

// biome-ignore lint/suspicious/noExplicitAny: protocol messages are checked field by field
type Reply = any;
type Server = Awaited<ReturnType<typeof startServer>>;

const BAD = 'ERR_WS_INVALID_ARGUMENT';
/** `--history` of every server here. */
const HISTORY = 5;
/** The topic each connection's barrier subscribes to (again and again: each answered). */
const SYNC = 'outsider-sync';

/** Every connection of a test, for the report of what each waited for when a test times out. */
const opened = new Set<Peer>();

/** A `ws` client that logs every message it receives (text parsed as JSON) and how it closed. */
class Peer {
  readonly log: Reply[] = [];
  /** How many entries of `log` `next()` has handed out. */
  read = 0;
  closed: { code: number; reason: string } | null = null;
  /** The worker that took the connection (`X-Ws-Stream-Worker`), with `--workers`. */
  worker: string | undefined;
  waiting = '';
  #wake: (() => void) | null = null;

  private constructor(
    readonly ws: WebSocket,
    readonly name: string,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.log.push(isBinary ? { binaryFrame: data.length } : JSON.parse(data.toString('utf8')));
      this.#wake?.();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake?.();
    });
    ws.on('error', () => {}); // (a close follows)
  }

  static open(port: number, name: string, path = '/'): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
      const peer = new Peer(ws, name);
      ws.once('upgrade', (res) => {
        peer.worker = res.headers['x-ws-stream-worker'] as string | undefined;
      });
      ws.once('open', () => {
        opened.add(peer);
        resolve(peer);
      });
      ws.once('unexpected-response', (_req, res) => reject(new Error(`${name}: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(request: string | object): void {
    this.ws.send(typeof request === 'string' ? request : JSON.stringify(request));
  }

  /** Waits until `done()` holds, re-checked on each message and on close. */
  async until(what: string, done: () => boolean): Promise<void> {
    this.waiting = what;
    while (!done()) {
      if (this.closed) throw new Error(`${this.name}: closed ${JSON.stringify(this.closed)} while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = null;
    }
    this.waiting = '';
  }

  /** The next message not handed out yet. */
  async next(what: string): Promise<Reply> {
    await this.until(what, () => this.log.length > this.read);
    return this.log[this.read++];
  }

  /** Everything the requests sent so far answered: the messages up to the barrier's `subscribed`. */
  async answers(): Promise<Reply[]> {
    this.send({ op: 'subscribe', topic: SYNC });
    const got: Reply[] = [];
    for (;;) {
      const m = await this.next('the barrier');
      if (m.op === 'subscribed' && m.topic === SYNC) return got;
      got.push(m);
    }
  }

  /** Sends `request` and returns what it answered (through the barrier). */
  async ask(request: string | object): Promise<Reply[]> {
    this.send(request);
    return this.answers();
  }

  /** Subscribes and returns the `subscribed` answer, checking its fields. */
  async subscribe(topic: string, since?: { offset: number; epoch: string }): Promise<Reply> {
    this.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
    const r = await this.next(`subscribed to ${topic}`);
    checkSubscribed(r, topic, since !== undefined);
    return r;
  }

  /** The next `n` messages of `topic` (anything else in between fails). */
  async messages(topic: string, n: number, after?: number): Promise<Reply[]> {
    const got: Reply[] = [];
    while (got.length < n) {
      const m = await this.next(`message ${got.length + 1} of ${n} of ${JSON.stringify(topic).slice(0, 40)}`);
      assert.equal(m.op, 'message', `${this.name}: ${JSON.stringify(m).slice(0, 200)}`);
      assert.deepEqual(Object.keys(m).sort(), ['data', 'offset', 'op', 'topic']);
      assert.equal(m.topic, topic);
      // With `after`, each offset must follow the one before: a gap fails at once, naming it.
      if (after !== undefined) assert.equal(m.offset, after + 1 + got.length, `${this.name}: a gap or a repeat`);
      got.push(m);
    }
    return got;
  }

  async closedWith(): Promise<{ code: number; reason: string }> {
    this.waiting = 'the close';
    while (!this.closed) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.closed;
  }

  close(): void {
    this.ws.terminate();
    opened.delete(this);
  }
}

function checkSubscribed(r: Reply, topic: string, withSince: boolean): void {
  assert.equal(r.op, 'subscribed', JSON.stringify(r).slice(0, 300));
  assert.equal(r.topic, topic);
  assert.deepEqual(
    Object.keys(r).sort(),
    withSince ? ['epoch', 'offset', 'op', 'recovered', 'topic'] : ['epoch', 'offset', 'op', 'topic'],
  );
  assert.ok(Number.isSafeInteger(r.offset) && r.offset >= 0, `offset ${r.offset}`);
  assert.equal(typeof r.epoch, 'string');
  assert.ok(r.epoch.length > 0);
  if (withSince) assert.equal(typeof r.recovered, 'boolean');
}

/** `answers` must be exactly one error op with `code` (and op, code, message only). */
function oneError(answers: Reply[], code: string, what: string): Reply {
  assert.equal(answers.length, 1, `${what}: ${JSON.stringify(answers).slice(0, 300)}`);
  const [e] = answers;
  assert.equal(e.op, 'error', `${what}: ${JSON.stringify(e).slice(0, 300)}`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'op'], what);
  assert.equal(e.code, code, `${what}: ${e.message}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(
    e.message.length > 0 && e.message.length < 1000,
    `${what}: an error message of ${e.message.length} characters`,
  );
  return e;
}

/** The offsets of `messages` follow `after` one by one. */
function contiguous(messages: Reply[], after: number, what: string): void {
  assert.deepEqual(
    messages.map((m) => m.offset),
    messages.map((_, i) => after + 1 + i),
    what,
  );
}

export type Mode =
  /** One process, or (`workers`) one with `--workers 2`, in memory. */
  | { name: string; workers: boolean }
  /** Two processes on one broker server, started for the suite. */
  | { name: string; broker: 'redis' | 'nats' };

const str = (s: string): string => JSON.stringify(s);

/** Topics of exactly 256 UTF-8 bytes, in characters of 1 to 4 bytes, and one of each kind 1 byte longer. */
function topicsAtTheEdge(): { ok: string[]; over: string[] } {
  const ok = ['a'.repeat(256), 'é'.repeat(128), `${'€'.repeat(85)}a`, '😀'.repeat(64), `${'a'.repeat(253)}€`];
  const over = [...ok.map((t) => `${t}a`), `${'a'.repeat(254)}€`, `${'a'.repeat(253)}😀`, `${'é'.repeat(128)}é`];
  for (const t of ok) assert.equal(Buffer.byteLength(t), 256);
  for (const t of over) assert.ok(Buffer.byteLength(t) > 256 && Buffer.byteLength(t) <= 260);
  return { ok, over };
}

/**
 * The requests that must each get exactly one `error` op (ERR_WS_INVALID_ARGUMENT), as JSON text:
 * for every op, each field missing or of every other JSON type, every bad `since`, JSON that is
 * no object, no JSON at all, and values nested far deeper than anyone would.
 */
function badRequests(topic: string, epoch: string): string[] {
  const t = str(topic);
  const notStrings = ['null', '5', '-1.5', 'true', 'false', '[]', `[${t}]`, '{}', `{"name":${t}}`];
  const bad: string[] = [];
  for (const op of ['subscribe', 'unsubscribe', 'publish']) {
    const data = op === 'publish' ? ',"data":1' : '';
    bad.push(`{"op":"${op}"${data}}`); // no topic
    for (const v of [...notStrings, '""']) bad.push(`{"op":"${op}","topic":${v}${data}}`);
    for (const escaped of ['"\\ud800"', '"a\\udc00b"', '"ab\\udbff"', '"\\ude00\\ud83d"']) {
      bad.push(`{"op":"${op}","topic":${escaped}${data}}`);
    }
    for (const over of topicsAtTheEdge().over) bad.push(`{"op":"${op}","topic":${str(over)}${data}}`);
  }
  bad.push(`{"op":"publish","topic":${t}}`, `{"op":"publish","topic":${t},"dat":1}`, `{"topic":${t},"data":1}`);
  for (const op of [
    'null',
    '1',
    'true',
    '"SUBSCRIBE"',
    '"sub"',
    '" publish"',
    '"message"',
    '"error"',
    '["publish"]',
    '{}',
  ]) {
    bad.push(`{"op":${op},"topic":${t},"data":1}`);
  }
  const e = str(epoch);
  for (const since of [
    'null',
    '"1"',
    '7',
    'true',
    '[]',
    `[1,${e}]`,
    '{}',
    `{"epoch":${e}}`,
    '{"offset":1}',
    `{"offset":-1,"epoch":${e}}`,
    `{"offset":1.5,"epoch":${e}}`,
    `{"offset":"1","epoch":${e}}`,
    `{"offset":null,"epoch":${e}}`,
    `{"offset":[1],"epoch":${e}}`,
    `{"offset":1e300,"epoch":${e}}`,
    `{"offset":9007199254740992,"epoch":${e}}`,
    '{"offset":1,"epoch":5}',
    '{"offset":1,"epoch":null}',
    '{"offset":1,"epoch":[]}',
    '{"offset":1,"epoch":{}}',
    '{"offset":1,"epoch":true}',
  ]) {
    bad.push(`{"op":"subscribe","topic":${t},"since":${since}}`);
  }
  bad.push('', ' ', '{', 'nope', '{"op":"publish",}', `\ufeff{"op":"subscribe","topic":${t}}`, "{'op':'subscribe'}");
  bad.push('[]', `[{"op":"subscribe","topic":${t}}]`, '"subscribe"', '42', '-0', 'null', 'true');
  const deep = 100_000;
  bad.push(`{"op":"publish","topic":${t},"data":${'['.repeat(deep)}${']'.repeat(deep)}}`);
  bad.push(`{"op":"publish","topic":${t},"data":${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}}`);
  bad.push(`{"op":"subscribe","topic":${'['.repeat(deep)}${']'.repeat(deep)}}`);
  bad.push(`{"op":${'['.repeat(deep)}${']'.repeat(deep)},"topic":${t}}`);
  bad.push(`{"op":"subscribe","topic":${t},"since":${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}}`);
  bad.push(`{"op":"publish","topic":${t},"data":1e400}`, `{"op":"publish","topic":${t},"data":[1,{"x":-1e999}]}`);
  bad.push(`{"op":${str('x'.repeat(1_000_000))},"topic":${t}}`);
  return bad;
}

/** The checks, against `serve --pubsub --history 5` run as `mode` says. */
export function outsiderSuite(mode: Mode): void {
  describe(`an outsider's client against serve --pubsub: ${mode.name}`, () => {
    let servers: Server[] = [];
    let teardown = async (): Promise<void> => {};
    /** Two "places": two processes, or two workers of one. */
    let ports: number[] = [];
    let workers = false;
    const peers: Peer[] = [];

    /** A connection to place `at` (0 or 1): with `--workers`, one the kernel gave to worker at + 1. */
    const connect = async (at: number, name: string): Promise<Peer> => {
      for (let tries = 0; tries < 500; tries++) {
        const p = await Peer.open(ports[at]!, name);
        if (!workers || p.worker === String(at + 1)) {
          peers.push(p);
          return p;
        }
        p.close();
      }
      throw new Error(`500 connections and none reached worker ${at + 1}`);
    };

    /** The arguments of the mode's servers. */
    let args: string[] = [];
    before(async () => {
      let processes = 1;
      if ('broker' in mode) {
        const broker = await (mode.broker === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats());
        teardown = () => broker.stop();
        args = ['--broker', broker.url];
        processes = 2;
      } else if (mode.workers) {
        workers = true;
        args = ['--workers', '2'];
      }
      servers = await Promise.all(
        Array.from({ length: processes }, () => startServer(['--pubsub', '--history', String(HISTORY), ...args])),
      );
      ports = processes === 1 ? [servers[0]!.port, servers[0]!.port] : servers.map((x) => x.port);
    });
    after(() =>
      teardownOrReport(
        [
          () => {
            for (const p of peers) p.close();
          },
          () => Promise.all(servers.map((s) => s.stop())),
          () => teardown(),
        ],
        () => servers.flatMap((s) => s.left()),
      ),
    );

    /** Runs `scenario`; if the test is cut short (its timeout), says what each connection waited for. */
    const check = (title: string, scenario: () => Promise<void>): void => {
      it(title, { timeout: 60_000 }, async (t) => {
        let over = false;
        t.signal.addEventListener('abort', () => {
          if (over) return;
          // What each connection of the test waited for, got (how much, the last few) and how it ended.
          const lines = [...opened].map(
            (p) =>
              `  ${p.name}${p.worker ? ` (worker ${p.worker})` : ''}: ${p.waiting ? `waiting for ${p.waiting}` : 'not waiting'}; ${p.log.length} received, the last ${JSON.stringify(p.log.slice(-3)).slice(0, 300)}${p.closed ? `; closed ${p.closed.code}` : ''}`,
          );
          console.log(`${t.name}: aborted\n${lines.join('\n') || '  (nothing)'}`);
        });
        try {
          await scenario();
        } finally {
          over = true;
        }
      });
    };

    const alive = (): void => {
      for (const s of servers) assert.equal(s.proc.exitCode, null, 'every server still runs');
      for (const p of peers) assert.equal(p.closed, null, `${p.name} still open`);
    };

    check(
      'answers every malformed request with exactly one error op; the connection stays and others see only good ones',
      async () => {
        const topic = 'outsider bad input';
        const watcher = await connect(1, 'watcher');
        const start = await watcher.subscribe(topic);
        const c = await connect(0, 'client');
        for (const request of badRequests(topic, start.epoch)) {
          oneError(await c.ask(request), BAD, JSON.stringify(request.slice(0, 120)));
        }
        // A binary frame, even of a good request.
        c.ws.send(Buffer.from(JSON.stringify({ op: 'publish', topic, data: 'binary' })), { binary: true });
        const e = oneError(await c.answers(), BAD, 'a binary frame');
        assert.match(e.message, /binary/);
        // Good requests with what the protocol does not name: fields ignored, the last of a key twice.
        const good: [string, unknown][] = [
          [`{"op":"publish","topic":${str(topic)},"data":1,"id":7}`, 1],
          [`{"op":"publish","topic":${str(topic)},"data":2,"since":{"offset":"x"}}`, 2],
          [`{"op":"publish","topic":${str(topic)},"data":"first","data":3}`, 3],
          [`{"data":{"op":"x"},"topic":${str(topic)},"op":"publish"}`, { op: 'x' }],
          [`  {"op":"publish","topic":${str(topic)},"data":[]}\n`, []],
        ];
        for (const [request] of good) assert.deepEqual(await c.ask(request), [], request);
        assert.deepEqual(await c.ask(`{"op":"unsubscribe","topic":${str(topic)},"data":{"since":1}}`), []);
        const extra = await c.ask(`{"op":"subscribe","topic":${str(topic)},"recovered":true,"offset":99,"epoch":5}`);
        assert.equal(extra.length, 1);
        checkSubscribed(extra[0], topic, false);
        c.send({ op: 'publish', topic, data: 'last' });
        const got = await watcher.messages(topic, good.length + 1);
        assert.deepEqual(
          got.map((m) => m.data),
          [...good.map(([, d]) => d), 'last'],
          'the watcher got the good publishes only, in order',
        );
        contiguous(got, start.offset, 'no refused request took an offset');
        assert.equal(
          (await c.messages(topic, 1))[0].offset,
          got.at(-1).offset,
          'the client subscribed with extra fields',
        );
        alive();
      },
    );

    check('counts a topic in UTF-8 bytes: 256 are a topic in every op, as sent escaped or not', async () => {
      const c = await connect(0, 'edge');
      const other = await connect(1, 'edge elsewhere');
      const { ok } = topicsAtTheEdge();
      for (const topic of ok) {
        const here = await c.subscribe(topic);
        const there = await other.subscribe(topic);
        assert.deepEqual([there.offset, there.epoch], [here.offset, here.epoch], 'one topic on both');
        other.send({ op: 'publish', topic, data: topic.length });
        const [m] = await c.messages(topic, 1);
        assert.deepEqual([m.offset, m.data], [here.offset + 1, topic.length]);
        assert.deepEqual((await other.messages(topic, 1))[0], m, 'the same message there');
        assert.deepEqual(await c.ask({ op: 'unsubscribe', topic }), []);
        assert.deepEqual(await other.ask({ op: 'unsubscribe', topic }), []);
      }
      // Escaped in JSON, a surrogate pair is the character: the same topic.
      const emoji = `room ${'😀'}`;
      const s = await c.subscribe(emoji);
      other.send('{"op":"publish","topic":"room \\ud83d\\ude00","data":"escaped"}');
      assert.equal((await c.messages(emoji, 1))[0].data, 'escaped');
      other.send(
        `{"op":"subscribe","topic":"room \\ud83d\\ude00","since":{"offset":${s.offset},"epoch":${str(s.epoch)}}}`,
      );
      const r = await other.next('subscribed, escaped');
      checkSubscribed(r, emoji, true);
      assert.deepEqual([r.offset, r.recovered], [s.offset, true]);
      assert.equal((await other.messages(emoji, 1))[0].data, 'escaped');
      alive();
    });

    check('carries data of every JSON type as sent, refuses what would not survive, keeps the connection', async () => {
      const topic = 'outsider data';
      const c = await connect(0, 'data');
      const w = await connect(1, 'data watcher');
      const start = await w.subscribe(topic);
      const values: unknown[] = [
        null,
        true,
        false,
        0,
        -1.5e-7,
        2 ** 53 - 1,
        '',
        'text with "quotes", \\ and \n and \u2028 and 😀 and \u0000',
        [],
        {},
        [null, [1, [2, [3]]], { a: { b: { c: [] } } }],
        { '': 1, __proto__: 2, constructor: 3, 'a.b': 4 },
        JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`),
        'x'.repeat(100_000),
      ];
      for (const data of values) c.send({ op: 'publish', topic, data });
      // -0 is 0 in JSON.
      c.send(`{"op":"publish","topic":${str(topic)},"data":-0}`);
      const got = await w.messages(topic, values.length + 1);
      contiguous(got, start.offset, 'one offset each');
      assert.deepEqual(
        got.map((m) => m.data),
        [...values, 0],
      );
      alive();
    });

    check(
      'subscribe twice answers the same; unsubscribe when not subscribed is silent; nothing comes twice or after',
      async () => {
        const topic = 'outsider twice';
        const c = await connect(0, 'twice');
        const p = await connect(1, 'twice publisher');
        const first = await c.subscribe(topic);
        const second = await c.subscribe(topic);
        assert.deepEqual(second, first);
        assert.deepEqual(await c.ask({ op: 'unsubscribe', topic: 'outsider never subscribed' }), []);
        for (let i = 0; i < 3; i++) p.send({ op: 'publish', topic, data: i });
        const got = await c.messages(topic, 3);
        contiguous(got, first.offset, 'each once');
        // Unsubscribed: a publish after that reaches it no more, and a subscribe with since is a
        // new subscription (a repeated one would answer the first offset).
        assert.deepEqual(await c.ask({ op: 'unsubscribe', topic }), []);
        assert.deepEqual(await c.ask({ op: 'unsubscribe', topic }), [], 'twice is silent too');
        await p.subscribe(topic);
        p.send({ op: 'publish', topic, data: 'after' });
        const [after] = await p.messages(topic, 1);
        const again = await c.subscribe(topic, { offset: after.offset - 1, epoch: first.epoch });
        assert.deepEqual([again.offset, again.epoch, again.recovered], [after.offset - 1, first.epoch, true]);
        const [recovered] = await c.messages(topic, 1);
        assert.deepEqual([recovered.offset, recovered.data], [after.offset, 'after']);
        assert.deepEqual(await c.answers(), [], 'nothing more: "after" came once, by recovery');
        alive();
      },
    );

    check(
      'a topic published to while nobody subscribes: offsets go on and since recovers it, on the other process',
      async () => {
        const topic = 'outsider nobody';
        const a = await connect(0, 'first');
        const s = await a.subscribe(topic);
        assert.deepEqual(await a.ask({ op: 'unsubscribe', topic }), []);
        const p = await connect(1, 'lonely publisher');
        for (let i = 1; i <= 3; i++) p.send({ op: 'publish', topic, data: `alone ${i}` });
        const b = await connect(1, 'late');
        const late = await b.subscribe(topic, { offset: s.offset, epoch: s.epoch });
        assert.deepEqual([late.offset, late.epoch, late.recovered], [s.offset, s.epoch, true]);
        const got = await b.messages(topic, 3);
        contiguous(got, s.offset, 'recovered in order');
        assert.deepEqual(
          got.map((m) => m.data),
          ['alone 1', 'alone 2', 'alone 3'],
        );
        // Subscribed with the offset `subscribed` gave: recovered, nothing to send, the next is live.
        const now = await a.subscribe(topic, { offset: s.offset + 3, epoch: s.epoch });
        assert.deepEqual([now.offset, now.recovered], [s.offset + 3, true]);
        p.send({ op: 'publish', topic, data: 'live' });
        assert.equal((await a.messages(topic, 1))[0].offset, s.offset + 4);
        assert.equal((await b.messages(topic, 1))[0].offset, s.offset + 4);
        alive();
      },
    );

    check(`since at every edge of --history ${HISTORY}: recovered true exactly when history covers it`, async () => {
      const topic = 'outsider since';
      const p = await connect(0, 'since publisher');
      const s = await p.subscribe(topic);
      const n = HISTORY + 3;
      for (let i = 0; i < n; i++) p.send({ op: 'publish', topic, data: i });
      await p.messages(topic, n);
      const end = s.offset + n;
      const c = await connect(1, 'since');
      const cases: [string, { offset: number; epoch: string }, boolean][] = [
        ['at the end', { offset: end, epoch: s.epoch }, true],
        ['the oldest kept', { offset: end - HISTORY, epoch: s.epoch }, true],
        ['one before history', { offset: end - HISTORY - 1, epoch: s.epoch }, false],
        ['zero, trimmed', { offset: 0, epoch: s.epoch }, false],
        ['beyond the end', { offset: end + 1, epoch: s.epoch }, false],
        ['far beyond', { offset: Number.MAX_SAFE_INTEGER, epoch: s.epoch }, false],
        ['another epoch', { offset: end - 1, epoch: `${s.epoch}x` }, false],
        ['an empty epoch', { offset: end - 1, epoch: '' }, false],
        ['an epoch of 1 MB', { offset: end - 1, epoch: 'e'.repeat(1_000_000) }, false],
      ];
      for (const [what, since, recovered] of cases) {
        const r = await c.subscribe(topic, since);
        assert.equal(r.recovered, recovered, what);
        assert.equal(r.epoch, s.epoch, what);
        assert.equal(r.offset, recovered ? since.offset : end, what);
        const got = recovered ? await c.messages(topic, end - since.offset) : [];
        contiguous(got, r.offset, what);
        assert.deepEqual(
          await c.ask({ op: 'unsubscribe', topic }),
          [],
          `${what}: nothing more than the recovered messages`,
        );
      }
      alive();
    });

    check(
      'every subscriber, on either process, sees one sequence: offsets contiguous, the same epoch, each publisher in order',
      async () => {
        const topic = 'outsider order';
        const subs = [await connect(0, 'sub 0'), await connect(1, 'sub 1'), await connect(0, 'sub 2')];
        const answers = [];
        for (const s of subs) answers.push(await s.subscribe(topic));
        const pubs = [await connect(1, 'pub 0'), await connect(0, 'pub 1')];
        const n = 60;
        for (let i = 0; i < n; i++)
          for (const [k, p] of pubs.entries()) p.send({ op: 'publish', topic, data: { k, i } });
        const seen: string[] = [];
        for (const [j, s] of subs.entries()) {
          assert.equal(answers[j].epoch, answers[0].epoch, 'one epoch everywhere');
          const got = await s.messages(topic, n * pubs.length, answers[j].offset);
          contiguous(got, answers[j].offset, s.name);
          for (const k of pubs.keys()) {
            assert.deepEqual(
              got.filter((m) => m.data.k === k).map((m) => m.data.i),
              Array.from({ length: n }, (_, i) => i),
              `${s.name}: publisher ${k} in order, each once`,
            );
          }
          seen.push(JSON.stringify(got.map((m) => [m.offset, m.data])));
        }
        assert.equal(answers[1].offset, answers[0].offset, 'one offset everywhere');
        assert.deepEqual(new Set(seen).size, 1, 'the same messages at the same offsets everywhere');
        alive();
      },
    );

    check(
      'frames: fragmented text works, a ping is answered; invalid UTF-8 closes 1007, over 16 MiB closes 1009, over 4 MiB of data is refused; others go on',
      async () => {
        const topic = 'outsider frames';
        const w = await connect(1, 'frames watcher');
        const start = await w.subscribe(topic);
        const c = await connect(0, 'fragments');
        c.ws.send('{"op":"publish",', { fin: false });
        c.ws.send(`"topic":${str(topic)},`, { fin: false });
        c.ws.send('"data":"in three"}', { fin: true });
        const pong = new Promise((resolve) => c.ws.once('pong', resolve));
        c.ws.ping('are you there');
        assert.equal(((await pong) as Buffer).toString(), 'are you there');
        const tooBig = await c.ask({ op: 'publish', topic, data: 'x'.repeat(4 * 1024 * 1024) });
        oneError(tooBig, 'ERR_WS_MESSAGE_TOO_BIG', 'data of 4 MiB');
        // Data under 4 MiB that the envelope takes over: the answer says what it counted.
        const under = 4 * 1024 * 1024 - 60;
        const e = oneError(
          await c.ask({ op: 'publish', topic, data: 'x'.repeat(under) }),
          'ERR_WS_MESSAGE_TOO_BIG',
          'under',
        );
        assert.match(e.message, /4194304 bytes, its data as JSON, its topic and about \d+ bytes of envelope/);
        assert.match(e.message, new RegExp(`would be ${under + 2 + str(topic).length + 96}$`));
        const broken = await connect(0, 'invalid UTF-8');
        broken.ws.send(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
        assert.equal((await broken.closedWith()).code, 1007);
        const huge = await connect(0, 'a frame over 16 MiB');
        huge.ws.send(Buffer.alloc(16 * 1024 * 1024 + 1, 0x20), { binary: false });
        assert.equal((await huge.closedWith()).code, 1009);
        peers.splice(peers.indexOf(broken), 1);
        peers.splice(peers.indexOf(huge), 1);
        c.send({ op: 'publish', topic, data: 'still here' });
        const got = await w.messages(topic, 2);
        contiguous(got, start.offset, 'the refused one took no offset');
        assert.deepEqual(
          got.map((m) => m.data),
          ['in three', 'still here'],
        );
        alive();
      },
    );

    // In memory only: Redis and NATS keep history on their own servers.
    if (!('broker' in mode))
      it('--history-total-bytes bounds what history holds, also for one-byte messages to thousands of fresh topics', {
        timeout: 60_000,
      }, async (t) => {
        const server = await startServer(['--pubsub', '--history-total-bytes', String(1024 * 1024), ...args]);
        t.after(() => server.stop());
        const c = await Peer.open(server.port, 'flood');
        t.after(() => c.close());
        const first = await c.subscribe('first');
        c.send({ op: 'publish', topic: 'first', data: 1 });
        await c.messages('first', 1);
        assert.deepEqual(await c.ask({ op: 'unsubscribe', topic: 'first' }), []);
        // 4,000 bytes of payload; each costs the server some hundreds of bytes beside it.
        const name = 'f'.repeat(200);
        for (let i = 0; i < 4000; i++) c.send(`{"op":"publish","topic":"${name}${i}","data":1}`);
        assert.deepEqual(await c.answers(), []);
        const r = await c.subscribe('first', { offset: first.offset, epoch: first.epoch });
        assert.equal(r.recovered, false, 'published to least recently: its history went first');
        assert.equal(server.proc.exitCode, null);
      });

    check('HTTP: GET / is the chat page (HEAD its head), POST / is 405 with Allow, another path 404', async () => {
      for (const port of ports) {
        const get = await request(port, 'GET', '/');
        assert.equal(get.status, 200);
        assert.match(get.headers['content-type'] ?? '', /^text\/html/);
        assert.match(get.body, /<html/i);
        assert.match(get.body, /WebSocket/);
        assert.equal(Number(get.headers['content-length']), Buffer.byteLength(get.body));
        for (const path of ['/index.html', '/?room=lobby&name=x']) {
          assert.equal((await request(port, 'GET', path)).body, get.body, path);
        }
        const head = await request(port, 'HEAD', '/');
        assert.equal(head.status, 200);
        assert.equal(head.body, '');
        assert.equal(head.headers['content-length'], get.headers['content-length']);
        const post = await request(port, 'POST', '/', 'op=publish');
        assert.equal(post.status, 405);
        assert.equal(post.headers.allow, 'GET, HEAD');
        for (const [method, path] of [
          ['GET', '/nope'],
          ['GET', '/../etc/passwd'],
          ['PUT', '/x'],
          ['DELETE', '/nope'],
        ] as const) {
          const r = await request(port, method, path);
          assert.equal(r.status, 404, `${method} ${path}`);
        }
        // The WebSocket endpoint is every path: the server does not read it.
        const ws = await Peer.open(port, 'on another path', '/room/lobby?since=0');
        peers.push(ws);
        await ws.subscribe('outsider path');
      }
      alive();
    });
  });
}

/** One HTTP request on a connection of its own. */
function request(
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
