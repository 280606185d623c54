/**
 * A black-box suite of `ws-stream serve --pubsub`, run against each kind of server (in memory,
 * `--workers 2`, Redis, NATS) by the blackbox-*.test.ts files: only the wire protocol of issue 13
 * and doc/pubsub.md, spoken by the tests' own framer (JsonClient), against child processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startServer, teardownOrReport } from '../conformance/raw-client.js';
import { BrokerProcess, poll, TcpProxy } from '../support/brokers.js';
import { binary, text } from '../support/frames.js';
import { JsonClient } from './pubsub-support.js';

export type Server = Awaited<ReturnType<typeof startServer>>;
type Position = { offset: number; epoch: string };
// biome-ignore lint/suspicious/noExplicitAny: protocol messages are checked field by field
type Reply = any;

/** History the suite's servers keep per topic (`--history`). */
export const HISTORY = 5;

/**
 * `serve --pubsub` on a real redis-server reached through a TcpProxy (whose links a test stalls or
 * cuts), with `--broker-timeout brokerTimeout` and `args`. After the test, in this order: the
 * clients the test put in `clients` are destroyed, the server stops, then the proxy and Redis.
 */
export async function serveOnProxiedRedis(
  t: TestContext,
  brokerTimeout: string,
  args: string[] = [],
  redisArgs: string[] = [],
): Promise<{ server: Server; proxy: TcpProxy; clients: JsonClient[] }> {
  const clients: JsonClient[] = [];
  let proxy: TcpProxy | undefined;
  let server: Server | undefined;
  const redis = await BrokerProcess.redis({ args: redisArgs });
  t.after(() =>
    teardownOrReport(
      [
        () => {
          for (const c of clients) c.close();
        },
        () => server?.stop(),
        () => proxy?.close(),
        () => redis.stop(),
      ],
      () => server?.left() ?? [],
    ),
  );
  proxy = await TcpProxy.start(redis.port);
  server = await startServer(['--pubsub', '--broker', proxy.url('redis'), '--broker-timeout', brokerTimeout, ...args]);
  return { server, proxy, clients };
}

/** Sends a subscribe and returns its `subscribed` reply (failing on anything else). */
export async function subscribe(c: JsonClient, topic: string, since?: Position): Promise<Reply> {
  c.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
  const r = await c.next(`subscribed to ${topic}`);
  assert.equal(r.op, 'subscribed', JSON.stringify(r));
  assert.equal(r.topic, topic);
  return r;
}

/** The next message of `c`, which must be a `message` of `topic` at `offset`; returns its data. */
export async function message(c: JsonClient, topic: string, offset: number): Promise<unknown> {
  const m = await c.next(`message ${offset} of ${topic}`);
  assert.equal(m.op, 'message', JSON.stringify(m).slice(0, 200));
  assert.deepEqual(Object.keys(m), ['op', 'topic', 'data', 'offset']);
  assert.equal(m.topic, topic);
  assert.equal(m.offset, offset);
  return m.data;
}

/** The next message of `c`, which must be an `error` op with `code` (and exactly op, code, message). */
export async function error(c: JsonClient, code: string, what: string): Promise<Reply> {
  const e = await c.next(`the error for ${what}`);
  assert.equal(e.op, 'error', `${what}: ${JSON.stringify(e).slice(0, 200)}`);
  assert.deepEqual(Object.keys(e), ['op', 'code', 'message'], what);
  assert.equal(e.code, code, what);
  assert.equal(typeof e.message, 'string', what);
  assert.ok(e.message.length > 0, what);
  return e;
}

/** A client accepted by the same worker as `like` (any worker when the server runs none). */
async function connectBeside(port: number, like: JsonClient, opened: JsonClient[]): Promise<JsonClient> {
  for (let i = 0; i < 50; i++) {
    const c = await JsonClient.connect(port);
    opened.push(c);
    if (c.worker === like.worker) return c;
    c.close();
  }
  throw new Error(`no connection reached worker ${like.worker}`);
}

export interface SuiteOptions {
  name: string;
  /** Starts what the server needs (a broker) and returns the extra `serve` arguments, and how to stop it. */
  setup(): Promise<{ args: string[]; teardown(): Promise<void> }>;
}

/** The protocol checks every kind of `serve --pubsub` passes. */
export function protocolSuite(options: SuiteOptions): void {
  describe(options.name, () => {
    let server: Server;
    let teardown = async (): Promise<void> => {};
    const clients: JsonClient[] = [];
    const connect = async (): Promise<JsonClient> => {
      const c = await JsonClient.connect(server.port);
      clients.push(c);
      return c;
    };
    before(async () => {
      const s = await options.setup();
      teardown = s.teardown;
      server = await startServer(['--pubsub', '--history', String(HISTORY), ...s.args]);
    });
    after(() =>
      teardownOrReport(
        [
          () => {
            for (const c of clients) c.close();
          },
          () => server?.stop(),
          () => teardown(),
        ],
        () => server?.left() ?? [],
      ),
    );

    it('answers every kind of bad input with an error op; the connection stays open and others see nothing', async () => {
      const watcher = await connect();
      const w = await subscribe(watcher, 'bad-input');
      const c = await connect();
      const bad = 'ERR_WS_INVALID_ARGUMENT';
      const cases: [string | Buffer, string][] = [
        ['', bad],
        ['not json', bad],
        ['{"op":"publish","topic":"bad-input","data":1', bad],
        ['\ufeff{"op":"subscribe","topic":"bad-input"}', bad],
        ['[{"op":"subscribe","topic":"bad-input"}]', bad],
        ['"publish"', bad],
        ['42', bad],
        ['true', bad],
        ['null', bad],
        ['{}', bad],
        ['{"topic":"bad-input","data":1}', bad],
        ['{"op":"PUBLISH","topic":"bad-input","data":1}', bad],
        ['{"op":null,"topic":"bad-input"}', bad],
        ['{"op":["publish"],"topic":"bad-input","data":1}', bad],
        ['{"op":"subscribe"}', bad],
        ['{"op":"subscribe","topic":null}', bad],
        ['{"op":"subscribe","topic":["bad-input"]}', bad],
        ['{"op":"subscribe","topic":{"name":"bad-input"}}', bad],
        ['{"op":"unsubscribe","topic":5}', bad],
        ['{"op":"publish","topic":"","data":1}', bad],
        ['{"op":"publish","topic":"bad-input"}', bad],
        ['{"op":"publish","topic":"bad-input","dat":1}', bad],
        ...[
          '{"offset":-1,"epoch":"e"}',
          '{"offset":1.5,"epoch":"e"}',
          '{"offset":"1","epoch":"e"}',
          '{"offset":1e300,"epoch":"e"}',
          '{"offset":null,"epoch":"e"}',
          '{"epoch":"e"}',
          '{"offset":1}',
          '{"offset":1,"epoch":5}',
          '{"offset":1,"epoch":null}',
          'null',
          '[]',
          '"1:e"',
          '7',
        ].map((since): [string, string] => [`{"op":"subscribe","topic":"bad-since","since":${since}}`, bad]),
        [binary(Buffer.from('{"op":"publish","topic":"bad-input","data":1}')), bad],
      ];
      for (const [input, code] of cases) {
        const what = typeof input === 'string' ? JSON.stringify(input.slice(0, 80)) : 'a binary frame';
        if (typeof input === 'string') c.send(input);
        else c.sendRaw(input);
        await error(c, code, what);
      }
      // Still open and served: its own request works, and the watcher got exactly that.
      c.send({ op: 'publish', topic: 'bad-input', data: 'after the bad input' });
      assert.equal(await message(watcher, 'bad-input', w.offset + 1), 'after the bad input');
      const s = await subscribe(c, 'bad-since');
      assert.equal(s.offset, 0, 'none of the refused requests published anything');
      assert.equal(c.ended, false);
      assert.equal(watcher.ended, false);
      assert.equal(server.proc.exitCode, null, 'the server is still running');
    });

    it('refuses data nested deeper than the server can serialise, without crashing', async () => {
      const watcher = await connect();
      const w = await subscribe(watcher, 'deep');
      const c = await connect();
      const deep = 100_000;
      // JSON.parse takes any depth; writing it out again recurses: refused as bad input.
      for (const data of [`${'['.repeat(deep)}${']'.repeat(deep)}`, `${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}`]) {
        c.send(`{"op":"publish","topic":"deep","data":${data}}`);
        const e = await error(c, 'ERR_WS_INVALID_ARGUMENT', `data nested ${deep} deep`);
        assert.match(e.message, /nested/);
      }
      const shallow = JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`);
      c.send({ op: 'publish', topic: 'deep', data: shallow });
      assert.deepEqual(await message(watcher, 'deep', w.offset + 1), shallow, 'the first message published');
      assert.equal(server.proc.exitCode, null, 'the server is still running');
    });

    it('refuses a topic that is not well-formed Unicode (a lone surrogate has no UTF-8 form)', async () => {
      const c = await connect();
      for (const req of [
        '{"op":"subscribe","topic":"\\ud800"}',
        '{"op":"subscribe","topic":"room\\udc00","since":{"offset":0,"epoch":"e"}}',
        '{"op":"publish","topic":"room\\udc00","data":1}',
        '{"op":"unsubscribe","topic":"\\udbff"}',
      ]) {
        c.send(req);
        const e = await error(c, 'ERR_WS_INVALID_ARGUMENT', req);
        assert.match(e.message, /surrogate/);
      }
      // A well-formed pair is fine, and comes back as sent.
      const topic = 'room \ud83d\ude00';
      const r = await subscribe(c, topic);
      c.send({ op: 'publish', topic, data: 'pair' });
      assert.equal(await message(c, topic, r.offset + 1), 'pair');
    });

    it('keeps topics apart whatever their characters (broker separators, braces, prototype names)', async () => {
      const c = await connect();
      const topics = [
        '__proto__',
        'constructor',
        'a.b',
        'a.*',
        'a.>',
        'a b',
        '{x}',
        '{x',
        'x}',
        '%s',
        '\u0000',
        'ws-stream:a',
        'A',
      ];
      const starts: number[] = [];
      for (const t of topics) starts.push((await subscribe(c, t)).offset);
      // Each publish reaches its own topic only: one message each, in the order published.
      for (const [i, t] of topics.entries()) c.send({ op: 'publish', topic: t, data: i });
      const got = new Map<string, unknown[]>();
      for (let n = 0; n < topics.length; n++) {
        const m = await c.next();
        assert.equal(m.op, 'message');
        got.set(m.topic, [...(got.get(m.topic) ?? []), [m.offset, m.data]]);
      }
      for (const [i, t] of topics.entries()) assert.deepEqual(got.get(t), [[starts[i]! + 1, i]], JSON.stringify(t));
    });

    it('counts a topic in UTF-8 bytes: 256 bytes are a topic, 257 are not', async () => {
      const c = await connect();
      const topics = ['t'.repeat(256), `${'€'.repeat(85)}x`, 'é'.repeat(128), `${'😀'.repeat(63)}abcd`];
      for (const t of topics) assert.equal(Buffer.byteLength(t), 256);
      for (const [i, t] of topics.entries()) {
        const r = await subscribe(c, t);
        c.send({ op: 'publish', topic: t, data: i });
        assert.equal(await message(c, t, r.offset + 1), i);
      }
      for (const t of topics.map((t) => `${t}!`)) {
        assert.equal(Buffer.byteLength(t), 257);
        for (const req of [
          { op: 'subscribe', topic: t },
          { op: 'publish', topic: t, data: 1 },
          { op: 'unsubscribe', topic: t },
        ]) {
          c.send(req);
          const e = await error(c, 'ERR_WS_INVALID_ARGUMENT', `${req.op} of ${t.length} chars`);
          assert.match(e.message, /256/);
        }
      }
    });

    it('delivers data of every JSON type as it was published', async () => {
      const c = await connect();
      const r = await subscribe(c, 'types');
      const datas: unknown[] = [
        null,
        false,
        true,
        0,
        -1.5,
        1e21,
        2 ** 53 - 1,
        '',
        'ü 😀 "quoted" \\ \n \u0000',
        '\ud800 lone surrogate in data',
        [],
        {},
        [null, [[]], { a: { b: [1, '2'] } }],
        { 'key with spaces': 1, ü: [true], nested: { deep: { deeper: 'x'.repeat(10_000) } } },
        'y'.repeat(512 * 1024),
      ];
      for (const data of datas) c.send({ op: 'publish', topic: 'types', data });
      for (const [i, data] of datas.entries()) {
        const got = await message(c, 'types', r.offset + 1 + i);
        // A lone surrogate travels escaped (\ud800) in the JSON text and comes back the same.
        assert.deepEqual(got, data, `data #${i}`);
      }
    });

    it('answers subscribe with exactly op, topic, offset, epoch, and recovered only when since was given', async () => {
      const c = await connect();
      const first = await subscribe(c, 'fields');
      assert.deepEqual(Object.keys(first), ['op', 'topic', 'offset', 'epoch']);
      assert.ok(Number.isSafeInteger(first.offset) && first.offset >= 0);
      assert.equal(typeof first.epoch, 'string');
      c.send({ op: 'publish', topic: 'fields', data: 1 });
      assert.equal(await message(c, 'fields', first.offset + 1), 1);
      // Subscribed already: answered again as the first time, with recovered since `since` was given
      // (false: this request recovered nothing), and no message twice.
      const again = await subscribe(c, 'fields', { offset: first.offset, epoch: first.epoch });
      assert.deepEqual(again, { ...first, recovered: false });
      c.send({ op: 'publish', topic: 'fields', data: 2 });
      assert.equal(await message(c, 'fields', first.offset + 2), 2);
      // First with since, then again without: no recovered field on the second answer.
      const d = await connect();
      const withSince = await subscribe(d, 'fields', { offset: first.offset + 2, epoch: first.epoch });
      assert.deepEqual(Object.keys(withSince), ['op', 'topic', 'offset', 'epoch', 'recovered']);
      assert.deepEqual(withSince, { ...first, offset: first.offset + 2, recovered: true });
      const plain = await subscribe(d, 'fields');
      assert.deepEqual(Object.keys(plain), ['op', 'topic', 'offset', 'epoch']);
    });

    it(`recovers with since exactly up to the --history ${HISTORY} bound, and reports false past it`, async () => {
      const topic = 'bound';
      const pub = await connect();
      const p = await subscribe(pub, topic);
      const total = HISTORY + 3;
      for (let i = 1; i <= total; i++) pub.send({ op: 'publish', topic, data: i });
      for (let i = 1; i <= total; i++) assert.equal(await message(pub, topic, p.offset + i), i);
      const last = p.offset + total;
      const { epoch } = p;
      const recover = async (since: Position) => {
        const c = await connect();
        return { c, r: await subscribe(c, topic, since) };
      };
      // The oldest kept message is last - HISTORY + 1: since just before it is covered.
      const edge = await recover({ offset: last - HISTORY, epoch });
      assert.deepEqual(edge.r, { op: 'subscribed', topic, offset: last - HISTORY, epoch, recovered: true });
      const trimmed = await recover({ offset: last - HISTORY - 1, epoch });
      assert.deepEqual(trimmed.r, { op: 'subscribed', topic, offset: last, epoch, recovered: false });
      const current = await recover({ offset: last, epoch });
      assert.deepEqual(current.r, { op: 'subscribed', topic, offset: last, epoch, recovered: true });
      const future = await recover({ offset: last + 10, epoch });
      assert.deepEqual(future.r, { op: 'subscribed', topic, offset: last, epoch, recovered: false });
      const other = await recover({ offset: last - 1, epoch: `${epoch}-not` });
      assert.deepEqual(other.r, { op: 'subscribed', topic, offset: last, epoch, recovered: false });
      pub.send({ op: 'publish', topic, data: 'live' });
      // The recovered one gets every message after its since, in order, then the live one.
      for (let i = HISTORY - 1; i >= 0; i--) assert.equal(await message(edge.c, topic, last - i), total - i);
      assert.equal(await message(edge.c, topic, last + 1), 'live');
      // The others get the live one next: nothing before it.
      for (const { c } of [trimmed, current, future, other]) assert.equal(await message(c, topic, last + 1), 'live');
      assert.equal(await message(pub, topic, last + 1), 'live');
    });

    it('subscribes with since while a publisher floods: after the answer, every message once, in order, to the last', async () => {
      const topic = 'race';
      const pub = await connect();
      const p = await subscribe(pub, topic);
      pub.send({ op: 'publish', topic, data: 0 });
      assert.equal(await message(pub, topic, p.offset + 1), 0);
      const since = { offset: p.offset + 1, epoch: p.epoch };
      const count = 300;
      const joiners = [await connect(), await connect(), await connect()];
      // Three joins at three moments of the flood (before, amid, after most of it was sent).
      for (let i = 1; i <= count; i++) {
        pub.send({ op: 'publish', topic, data: i });
        if (i === 1 || i === 100 || i === 250)
          joiners[[1, 100, 250].indexOf(i)]!.send({ op: 'subscribe', topic, since });
      }
      const last = p.offset + 1 + count;
      for (const c of joiners) {
        const r = await c.next('subscribed');
        assert.equal(r.op, 'subscribed', JSON.stringify(r));
        assert.equal(r.epoch, p.epoch);
        // Recovered: from since on; not (history of 5 trimmed meanwhile): from the offset it names.
        if (r.recovered) assert.equal(r.offset, since.offset);
        else assert.ok(r.offset >= since.offset && r.offset <= last, JSON.stringify(r));
        for (let offset = r.offset + 1; offset <= last; offset++) {
          assert.equal(await message(c, topic, offset), offset - p.offset - 1);
        }
      }
      pub.send({ op: 'publish', topic, data: 'end' });
      for (const c of joiners) assert.equal(await message(c, topic, last + 1), 'end', 'nothing twice, nothing more');
    });

    it('acts on one connection’s requests in order: a publish sent with its subscribe, unanswered, comes back', async () => {
      const c = await connect();
      const req = (o: unknown) => text(JSON.stringify(o));
      // One chunk: the server reads both at once.
      c.sendRaw(
        Buffer.concat([
          req({ op: 'subscribe', topic: 'pipelined' }),
          req({ op: 'publish', topic: 'pipelined', data: 'mine' }),
          req({ op: 'subscribe', topic: 'pipelined-2', since: { offset: 0, epoch: 'x' } }),
          req({ op: 'publish', topic: 'pipelined-2', data: 'mine too' }),
        ]),
      );
      // Per topic: its answer, then its message (the two topics' may interleave).
      const byTopic = new Map<string, Reply[]>();
      for (let i = 0; i < 4; i++) {
        const m = await c.next();
        byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
      }
      const [r, mine] = byTopic.get('pipelined')!;
      assert.deepEqual(r, { op: 'subscribed', topic: 'pipelined', offset: r.offset, epoch: r.epoch });
      assert.deepEqual(mine, { op: 'message', topic: 'pipelined', data: 'mine', offset: r.offset + 1 });
      const [r2, mine2] = byTopic.get('pipelined-2')!;
      assert.deepEqual(r2, {
        op: 'subscribed',
        topic: 'pipelined-2',
        offset: r2.offset,
        epoch: r2.epoch,
        recovered: false,
      });
      assert.deepEqual(mine2, { op: 'message', topic: 'pipelined-2', data: 'mine too', offset: r2.offset + 1 });
    });

    it('unsubscribe of a topic never subscribed is silent; after unsubscribe nothing of the topic arrives', async () => {
      const c = await connect();
      c.send({ op: 'unsubscribe', topic: 'never' });
      c.send('not json'); // a marker: its error must be the very next message
      await error(c, 'ERR_WS_INVALID_ARGUMENT', 'the marker');
      const r = await subscribe(c, 'gone');
      const witness = await connectBeside(server.port, c, clients);
      await subscribe(witness, 'gone');
      c.send({ op: 'unsubscribe', topic: 'gone' });
      c.send({ op: 'unsubscribe', topic: 'gone' }); // twice: silent as well
      for (let i = 1; i <= 3; i++) c.send({ op: 'publish', topic: 'gone', data: i });
      // The witness, on the same process, got them: they went past c's process already.
      for (let i = 1; i <= 3; i++) assert.equal(await message(witness, 'gone', r.offset + i), i);
      const again = await subscribe(c, 'gone');
      assert.equal(again.offset, r.offset + 3, 'the next thing c hears is this answer, after the three');
      c.send({ op: 'publish', topic: 'gone', data: 4 });
      assert.equal(await message(c, 'gone', r.offset + 4), 4);
    });

    it('refuses a publish larger than a subscriber may hold, delivers one that fits, and keeps every subscriber', async () => {
      const subs = [await connect(), await connect()];
      const pub = await connect();
      const r = await subscribe(subs[0]!, 'big');
      await subscribe(subs[1]!, 'big');
      pub.send({ op: 'publish', topic: 'big', data: 'z'.repeat(5 * 1024 * 1024) });
      const e = await error(pub, 'ERR_WS_MESSAGE_TOO_BIG', 'a 5 MiB publish');
      assert.match(e.message, /4194304 bytes/);
      pub.send({ op: 'publish', topic: 'big', data: 'small' });
      for (const s of subs)
        assert.equal(await message(s, 'big', r.offset + 1), 'small', 'the refused one took no offset');
      for (const s of subs) assert.equal(s.ended, false);
    });

    it('closes a subscriber that does not read (1008) while the publisher and readers get every message', async () => {
      const topic = 'slow';
      const reader = await connect();
      const r = await subscribe(reader, topic);
      const stalled = await connect();
      await subscribe(stalled, topic);
      stalled.sock.pause(); // reads nothing more: its backlog grows in the kernel, then in the server
      const pub = await connect();
      // 24 MiB: more than loopback's socket buffers hold for a reader that never reads, plus the 4 MiB backlog.
      const count = 384;
      const pad = 'q'.repeat(64 * 1024);
      // In steps the reader keeps up with (a reader slower than the publisher meets the policy too).
      for (let step = 0; step < count; step += 8) {
        for (let i = step; i < step + 8; i++) pub.send({ op: 'publish', topic, data: { i, pad } });
        for (let i = step; i < step + 8; i++)
          assert.deepEqual(await message(reader, topic, r.offset + 1 + i), { i, pad });
      }
      stalled.sock.resume();
      let got = 0;
      for (;;) {
        let m: Reply;
        try {
          m = await stalled.next();
        } catch {
          break; // the connection ended
        }
        assert.equal(m.op, 'message');
        assert.equal(m.offset, r.offset + 1 + got, 'what it got, it got in order');
        got++;
      }
      assert.ok(got < count, `closed before it got everything (got ${got} of ${count})`);
      // The close frame comes after the backlog; if the peer took too long to read it, the server
      // may have ended the connection after its close timeout instead.
      assert.ok(stalled.closeCode === 1008 || stalled.closeCode === null, String(stalled.closeCode));
      assert.equal(reader.ended, false);
      assert.equal(server.proc.exitCode, null);
    });

    it('stays up when subscribers vanish mid-stream; the one left gets every message once, in order', async () => {
      const topic = 'vanish';
      const survivor = await connect();
      const r = await subscribe(survivor, topic);
      const leavers: JsonClient[] = [];
      for (let i = 0; i < 5; i++) {
        const c = await connect();
        await subscribe(c, topic);
        leavers.push(c);
      }
      const pub = await connect();
      const count = 300;
      for (let i = 0; i < count; i++) pub.send({ op: 'publish', topic, data: { i, pad: 'p'.repeat(200) } });
      for (const [k, c] of leavers.entries()) {
        // Gone after a few messages each, without a close handshake.
        for (let i = 1; i <= k * 10 + 1; i++) await c.next();
        c.close();
      }
      for (let i = 0; i < count; i++)
        assert.deepEqual(await message(survivor, topic, r.offset + 1 + i), { i, pad: 'p'.repeat(200) });
      pub.send({ op: 'publish', topic, data: 'end' });
      assert.equal(await message(survivor, topic, r.offset + count + 1), 'end');
      const late = await connect();
      assert.equal((await subscribe(late, topic)).offset, r.offset + count + 1);
      assert.equal(server.proc.exitCode, null);
    });
  });
}

/**
 * A server started while its broker is down serves once the broker is up: requests meanwhile get
 * ERR_WS_BROKER_UNAVAILABLE, then subscribe and publish work without a restart.
 */
export async function brokerDownAtStart(broker: {
  url: string;
  kill(): Promise<void>;
  start(): Promise<void>;
}): Promise<void> {
  await broker.kill();
  const server = await startServer(['--pubsub', '--broker', broker.url]);
  const clients: JsonClient[] = [];
  try {
    const c = await JsonClient.connect(server.port);
    clients.push(c);
    c.send({ op: 'subscribe', topic: 'late' });
    await error(c, 'ERR_WS_BROKER_UNAVAILABLE', 'a subscribe while the broker is down');
    c.send({ op: 'publish', topic: 'late', data: 0 });
    await error(c, 'ERR_WS_BROKER_UNAVAILABLE', 'a publish while the broker is down');
    await broker.start();
    let r: Reply = null;
    // The server learns the broker is back when its next try to open succeeds: ask until then.
    await poll(async () => {
      c.send({ op: 'subscribe', topic: 'late' });
      r = await c.next('subscribed or an error');
      if (r.op === 'subscribed') return true;
      assert.equal(r.code, 'ERR_WS_BROKER_UNAVAILABLE', JSON.stringify(r));
      return false;
    });
    const other = await JsonClient.connect(server.port);
    clients.push(other);
    await subscribe(other, 'late');
    other.send({ op: 'publish', topic: 'late', data: 'works' });
    assert.equal(await message(c, 'late', r.offset + 1), 'works');
    assert.equal(await message(other, 'late', r.offset + 1), 'works');
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}
