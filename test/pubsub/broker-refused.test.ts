/**
 * A broker server that answers but refuses is told apart from one that is down: ERR_WS_BROKER_REFUSED,
 * the server's own error as `cause`, at open (`serve --pubsub` exits 1 with one line before it
 * listens) and later (a password changed while it runs, a server down at open that comes up
 * refusing): the PubSub tells it (`'refused'`, once), `publish` rejects with it instead of
 * ERR_WS_BROKER_UNAVAILABLE, and the broker keeps trying, serving again once put right. Real
 * redis-server and nats-server processes; before, each case here was waited out as an outage.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { WebSocketError } from '../../src/errors.js';
import { PubSub } from '../../src/pubsub/index.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, freePort, TcpProxy } from '../support/brokers.js';
import { redisTlsArgs, selfSigned } from '../support/tls-cert.js';
import { JsonClient } from './pubsub-support.js';
import { serveToExit } from './refuse-support.js';

/** For the tests that wait for a refusal to be told: without it they would wait for the runner's timeout. */
const WAIT = { timeout: 60_000 };

/** The assertion of a refusal: its code, its message, and the server's (or the probe's) own error as `cause`. */
function isRefusal(message: RegExp, cause: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof WebSocketError, String(err));
    assert.equal(err.code, 'ERR_WS_BROKER_REFUSED', err.message);
    assert.match(err.message, message);
    assert.ok(err.cause instanceof Error, `${err.message}: no cause`);
    assert.match(err.cause.message, cause);
    return true;
  };
}

describe('RedisBroker: refused at open, where it used to wait for ever', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops) await stop();
  });

  it('a /db Redis lacks, a password Redis has none for, TLS on one side only: open rejects; serve exits 1, one line', async () => {
    const plain = await BrokerProcess.redis();
    stops.push(() => plain.stop());
    const tlsPort = await freePort();
    const tlsOnly = await BrokerProcess.redis({ args: ['--port', '0', ...redisTlsArgs(tlsPort, selfSigned())] });
    stops.push(() => tlsOnly.stop());
    const cases: [string, RegExp, RegExp][] = [
      [
        `${plain.url}/99`,
        /Redis refused the connection: ERR DB index is out of range$/,
        /^ERR DB index is out of range$/,
      ],
      [
        plain.url.replace('://', '://:pw-1@'),
        /Redis refused the connection: ERR AUTH <password> called without any password configured/,
        /^ERR AUTH/,
      ],
      [
        `rediss://127.0.0.1:${plain.port}`,
        /RedisBroker: rediss:\/\/127\.0\.0\.1:\d+: the server there speaks Redis without TLS \(use redis:\/\/\)$/,
        /speaks Redis without TLS/,
      ],
      [
        `redis://127.0.0.1:${tlsPort}`,
        /RedisBroker: redis:\/\/127\.0\.0\.1:\d+: the server there speaks TLS only \(use rediss:\/\/\)$/,
        /speaks TLS only/,
      ],
    ];
    // (The serve processes run meanwhile: one on rediss:// waits its broker's default
    // commandTimeoutMs, 5 s, for the TLS handshake plain Redis never answers.)
    const exits = cases.map(([url]) => serveToExit(url));
    let checked = 0;
    for (const [i, [url, message, cause]] of cases.entries()) {
      const broker = new RedisBroker({ url, commandTimeoutMs: 1000 });
      const events = new BrokerRecorder();
      await assert.rejects(broker.open(events, history), isRefusal(message, cause), url);
      assert.deepEqual(events.availability, [], `${url}: not reported as down`);
      await broker.close();
      const { code, out, err } = await exits[i]!;
      assert.equal(code, 1, `${url}: ${out}${err}`);
      assert.match(err, /^ws-stream: the pub\/sub broker refused: RedisBroker: [^\n]+\n$/, url);
      assert.doesNotMatch(err, /pw-1/);
      checked++;
    }
    assert.equal(checked, cases.length);
  });
});

/**
 * A redis-server with one ACL user `user` (password pw-1, every permission), stopped after the
 * test; `password(pw)` changes that user's password and drops its connections, as an operator
 * rotating it would: the broker's next connections are refused (or accepted again).
 */
async function redisUser(
  t: TestContext,
  user: string,
): Promise<{ url: string; password(pw: string): Promise<void>; acl(rule: string): Promise<void> }> {
  const server = await BrokerProcess.redis({ args: ['--user', user, 'on', '>pw-1', '~*', '&*', '+@all'] });
  const admin = createClient({ url: server.url });
  await admin.connect();
  t.after(async () => {
    admin.destroy();
    await server.stop();
  });
  return {
    url: `redis://${user}:pw-1@127.0.0.1:${server.port}`,
    async password(pw) {
      await admin.sendCommand(['ACL', 'SETUSER', user, 'resetpass', `>${pw}`]);
      await admin.sendCommand(['CLIENT', 'KILL', 'USER', user]);
    },
    async acl(rule) {
      await admin.sendCommand(['ACL', 'SETUSER', user, rule]);
    },
  };
}

describe('RedisBroker: refused while it runs', () => {
  it(
    'its password changed: told once (PubSub "refused"), publish rejects with it; put back, it serves again',
    WAIT,
    async (t) => {
      const redis = await redisUser(t, 'pub');
      const ps = new PubSub({ broker: new RedisBroker(redis.url) });
      t.after(() => ps.close());
      const told: WebSocketError[] = [];
      ps.on('refused', (err) => told.push(err));
      const availability: boolean[] = [];
      ps.on('availability', (a) => availability.push(a));
      assert.equal((await ps.publish('t', 'one')).offset, 1);

      const refusal = once(ps, 'refused');
      await redis.password('pw-2');
      const [err] = (await refusal) as [WebSocketError];
      isRefusal(
        /^the pub\/sub broker refused: RedisBroker: Redis refused the connection: WRONGPASS /,
        /^WRONGPASS/,
      )(err);
      assert.doesNotMatch(err.message, /pw-1/);
      assert.equal(ps.brokerAvailable, false);
      await assert.rejects(ps.publish('t', 'refused'), isRefusal(/WRONGPASS/, /^WRONGPASS/));

      const back = once(ps, 'availability');
      await redis.password('pw-1');
      assert.deepEqual(await back, [true]);
      assert.equal((await ps.publish('t', 'two')).offset, 2);
      assert.equal(told.length, 1, 'told once, however many attempts were refused');
      assert.deepEqual(availability, [false, true]);
    },
  );

  it(
    'serve --pubsub: a refusal after it started is one line on stderr (also --quiet); a publish gets ERR_WS_BROKER_REFUSED',
    WAIT,
    async (t) => {
      const redis = await redisUser(t, 'srv');
      const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
      const argv = [main, 'serve', '--port', '0', '--quiet', '--pubsub', '--broker', redis.url];
      const proc = spawn(process.execPath, argv, {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let client: JsonClient | undefined;
      t.after(async () => {
        client?.sock.destroy();
        if (proc.exitCode === null && proc.signalCode === null) {
          const exited = once(proc, 'exit');
          proc.kill('SIGINT');
          await exited;
        }
      });
      let out = '';
      let err = '';
      const said: (() => void)[] = [];
      const wake = (): void => {
        for (const f of said.splice(0)) f();
      };
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        wake();
      });
      proc.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        wake();
      });
      const until = async (cond: () => boolean): Promise<void> => {
        while (!cond()) await new Promise<void>((resolve) => said.push(resolve));
      };
      await until(() => /listening on ws:\/\/[^:]+:\d+\//.test(out));
      client = await JsonClient.connect(Number(/:(\d+)\//.exec(out)![1]));

      await redis.password('pw-2');
      await until(() => err.includes('\n'));
      assert.match(err, /^the pub\/sub broker refused: RedisBroker: Redis refused the connection: WRONGPASS [^\n]*\n$/);
      assert.doesNotMatch(err, /pw-1/);
      client.send({ op: 'publish', topic: 't', data: 'x' });
      const reply = await client.next();
      assert.equal(reply.op, 'error', JSON.stringify(reply));
      assert.equal(reply.code, 'ERR_WS_BROKER_REFUSED', JSON.stringify(reply));
      assert.match(reply.message, /WRONGPASS/);
    },
  );
});

describe('RedisBroker opened with events that have no onRefused', () => {
  it('a refusal met at a reconnection becomes a process warning: never silent', WAIT, async (t) => {
    const redis = await redisUser(t, 'pub');
    const broker = new RedisBroker(redis.url);
    t.after(() => broker.close());
    await broker.open({ onMessage: () => {}, onAvailability: () => {} }, history);
    const warned = once(process, 'warning');
    await redis.password('pw-2');
    const [warning] = (await warned) as [WebSocketError];
    assert.equal(warning.code, 'ERR_WS_BROKER_REFUSED');
    assert.match(warning.message, /WRONGPASS/);
  });
});

describe('A server down at open that comes up refusing (Redis, NATS)', () => {
  const kinds: {
    name: string;
    reserve: () => Promise<BrokerProcess>;
    make: (port: number) => RedisBroker | NatsBroker;
    told: RegExp;
    cause: RegExp;
  }[] = [
    {
      name: 'Redis, another password',
      reserve: () => BrokerProcess.redis({ start: false, args: ['--requirepass', 'pw-2'] }),
      make: (port) => new RedisBroker(`redis://:pw-1@127.0.0.1:${port}`),
      told: /^the pub\/sub broker refused: RedisBroker: Redis refused the connection: WRONGPASS /,
      cause: /^WRONGPASS/,
    },
    {
      name: 'NATS, another token',
      reserve: () => BrokerProcess.nats({ start: false, config: 'authorization { token: t0ken }' }),
      make: (port) => new NatsBroker(`nats://pw-1@127.0.0.1:${port}`),
      told: /NATS refused the connection to nats:\/\/\*\*\*@127\.0\.0\.1:\d+: Authorization Violation$/,
      cause: /Authorization Violation/,
    },
  ];
  for (const { name, reserve, make, told, cause } of kinds) {
    it(
      `${name}: an outage while down (UNAVAILABLE); once up, told, and publish rejects with the refusal`,
      WAIT,
      async (t) => {
        const server = await reserve();
        const broker = make(server.port);
        t.after(async () => {
          await broker.close();
          await server.stop();
        });
        const events = new BrokerRecorder();
        await broker.open(events, history);
        assert.deepEqual(events.availability, [false]);
        await assert.rejects(broker.publish('t', Buffer.from('x'), false), {
          code: 'ERR_WS_BROKER_UNAVAILABLE',
          message: /not connected to \w+:\/\/\S*\*\*\*@127\.0\.0\.1:\d+ yet$/,
        });
        await server.start();
        const [err] = await events.refused();
        isRefusal(told, cause)(err);
        assert.doesNotMatch(err!.message, /pw-1/);
        await assert.rejects(broker.publish('t', Buffer.from('x'), false), isRefusal(told, cause));
        assert.deepEqual(events.availability, [false]);
      },
    );
  }
});

describe('NatsBroker: the JetStream API denied while it runs, seen at a reconnection', () => {
  it(
    'told once, operations reject with the violation (not "no connection"); granted again: available',
    WAIT,
    async (t) => {
      const allow = 'authorization { users = [ { user: a, password: b } ] }';
      const deny =
        'authorization { users = [ { user: a, password: b, permissions: { publish: { deny: ["$JS.API.>"] } } } ] }';
      const server = await BrokerProcess.nats({ config: allow });
      const proxy = await TcpProxy.start(server.port);
      const broker = new NatsBroker(proxy.url('nats').replace('://', '://a:b@'));
      t.after(async () => {
        await broker.close();
        await proxy.close();
        await server.stop();
      });
      const events = new BrokerRecorder();
      await broker.open(events, history);
      await broker.subscribe('room');
      await server.reload(deny);
      // A reconnection (the link cut, then restored) restarts its topics: reading their streams is refused.
      proxy.cut();
      await events.available(false);
      proxy.restore();
      const [err] = await events.refused();
      isRefusal(/Permissions Violation for Publish to "\$JS\.API\./, /Permissions Violation/)(err);
      await assert.rejects(broker.publish('room', Buffer.from('x'), false), isRefusal(/Permissions Violation/, /./));
      assert.deepEqual(events.availability, [false]);
      await server.reload(allow);
      await events.available(true);
      assert.equal((await broker.publish('room', Buffer.from('x'), false)).offset, 1);
      assert.equal(events.refusals.length, 1);
    },
  );
});

describe('RedisBroker: a command denied while it runs, met by a read after a reconnection', () => {
  it(
    'told once (onRefused), the read tried again until granted; then available, what was missed delivered',
    WAIT,
    async (t) => {
      const redis = await redisUser(t, 'sub');
      const pub = new RedisBroker(redis.url.replace(/\/\/sub:pw-1@/, '//'));
      const sub = new RedisBroker(redis.url);
      t.after(async () => {
        await pub.close();
        await sub.close();
      });
      await pub.open(new BrokerRecorder(), history);
      const events = new BrokerRecorder();
      await sub.open(events, history);
      await sub.subscribe('room');
      await sub.position('room');
      await pub.publish('room', Buffer.from('one'), false);
      await events.received('room', 1);
      // GET taken away, and its connections dropped: back, the topic's position is read again (GET), refused.
      await redis.acl('-get');
      await redis.password('pw-1');
      const [err] = await events.refused();
      isRefusal(
        /^the pub\/sub broker refused: ERR The user executing the script can't run this command/,
        /^ERR The user/,
      )(err);
      assert.deepEqual(events.availability, [false]);
      await pub.publish('room', Buffer.from('two'), false);
      await redis.acl('+get');
      await events.available(true);
      assert.deepEqual(
        (await events.received('room', 2)).map((m) => m.data.toString()),
        ['one', 'two'],
      );
      assert.equal(events.refusals.length, 1);
    },
  );
});
