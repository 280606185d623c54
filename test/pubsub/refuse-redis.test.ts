/**
 * RedisBroker against servers that refuse, through the library and `serve --pubsub --broker`: a
 * URL naming a server that is not Redis (a NATS server, an HTTP server) is a refusal at open, told
 * in one line (`serve` exits 1 before it listens), not an outage waited out forever.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, TcpProxy } from '../support/brokers.js';
import { serveToExit } from './refuse-support.js';

describe('RedisBroker: a URL to a server that is not Redis', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops) await stop();
  });
  const unhandled: unknown[] = [];
  const record = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', record);
  after(() => process.off('unhandledRejection', record));

  async function notRedis(): Promise<{ name: string; url: string; first: string }[]> {
    const nats = await BrokerProcess.nats({ jetstream: false });
    stops.push(() => nats.stop());
    const web = http.createServer((_, res) => res.end('hello'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => web.close(() => resolve())));
    const webPort = (web.address() as { port: number }).port;
    return [
      // NATS greets first with `INFO {…}`; an HTTP server answers the first command with `HTTP/1.1 400`.
      { name: 'nats', url: `redis://127.0.0.1:${nats.port}`, first: 'I' },
      { name: 'http', url: `redis://u:pw@127.0.0.1:${webPort}`, first: 'H' },
    ];
  }

  it('open rejects at once, naming the URL (password masked), and nothing is left running', async () => {
    let checked = 0;
    for (const { url, first } of await notRedis()) {
      const broker = new RedisBroker(url);
      const events = new BrokerRecorder();
      const shown = url.replace(':pw@', ':***@');
      await assert.rejects(broker.open(events, history), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_WS_BROKER_REFUSED');
        assert.equal(
          err.message,
          `the pub/sub broker refused: RedisBroker: ${shown} is not a Redis server: it answered in another protocol (Unknown RESP type ${first.charCodeAt(0)} "${first}")`,
        );
        return true;
      });
      // Refused, not down: no availability report, no connection attempts in the background.
      assert.deepEqual(events.availability, []);
      await assert.rejects(broker.publish('t', Buffer.from('x'), false), {
        code: 'ERR_WS_BROKER_UNAVAILABLE',
        message: /the broker is not open$/,
      });
      await broker.close();
      checked++;
    }
    assert.equal(checked, 2);
    assert.deepEqual(unhandled, []);
  });

  it('serve --pubsub --broker to it: one line on stderr, exit 1, never listening', async () => {
    let checked = 0;
    for (const { url } of await notRedis()) {
      const { code, out, err } = await serveToExit(url);
      assert.equal(code, 1, out + err);
      assert.doesNotMatch(out, /listening/);
      assert.match(
        err,
        /^ws-stream: .*RedisBroker: redis:\/\/\S+ is not a Redis server: it answered in another protocol .*\n$/,
      );
      assert.doesNotMatch(err, /pw@/);
      checked++;
    }
    assert.equal(checked, 2);
  });

  it('beside it, a Redis merely down at open: operations say it is not connected yet (not "not open")', async () => {
    const down = await BrokerProcess.redis({ start: false });
    stops.push(() => down.stop());
    const broker = new RedisBroker(down.url);
    stops.push(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    assert.deepEqual(events.availability, [false]);
    await assert.rejects(broker.publish('t', Buffer.from('x'), false), {
      code: 'ERR_WS_BROKER_UNAVAILABLE',
      message: `the pub/sub broker is unavailable: not connected to ${down.url} yet`,
    });
  });
});

describe('RedisBroker: a Redis that closes idle connections (timeout 1)', () => {
  it('an idle broker pings within the timeout: its connections stay, no outage is reported', async (t) => {
    const server = await BrokerProcess.redis({ args: ['--timeout', '1'] });
    const proxy = await TcpProxy.start(server.port);
    // (pingIntervalMs at its default, 5 s: longer than the timeout; it was what the broker pinged at)
    const broker = new RedisBroker(proxy.url('redis'));
    t.after(async () => {
      await broker.close();
      await proxy.close();
      await server.stop();
    });
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const commands = await proxy.link(['SCRIPT']);
    const pings = (): number => commands.clientText.split('PING').length - 1;
    // Six PINGs on the command connection span twice the timeout of otherwise idle time:
    // Redis would have closed it by then. Ends at the first of: those PINGs, the connection closed.
    await proxy.until(() => (pings() >= 6 || !proxy.links.has(commands) ? true : undefined));
    assert.ok(proxy.links.has(commands), `the idle connection was closed after ${pings()} PINGs`);
    assert.deepEqual(events.availability, []);
  });
});

describe('RedisBroker: ACL users and renamed commands that refuse what the broker runs', () => {
  const users: [string, string[], RegExp][] = [
    ['nopublish', ['~*', '&*', '+@all', '-publish'], /NOPERM this user may not run PUBLISH on ws-stream:: /],
    ['noxadd', ['~*', '&*', '+@all', '-xadd'], /NOPERM this user may not run XADD on ws-stream:\{\}:h: /],
    ['nosubscribe', ['~*', '&*', '+@all', '-subscribe'], /NOPERM this user may not run SUBSCRIBE on ws-stream:: /],
    ['noevalsha', ['~*', '&*', '+@all', '-evalsha'], /NOPERM this user may not run EVALSHA: the broker needs it/],
    ['otherkeys', ['~other:*', '&*', '+@all'], /NOPERM.*keys/],
    ['otherchannels', ['~*', '&other:*', '+@all'], /NOPERM this user may not run PUBLISH on ws-stream:: /],
  ];
  let server: BrokerProcess;
  let renamed: BrokerProcess;
  before(async () => {
    const args = users.flatMap(([name, rules]) => ['--user', name, 'on', '>pw', ...rules]);
    server = await BrokerProcess.redis({ args });
    renamed = await BrokerProcess.redis({ args: ['--rename-command', 'XTRIM', ''] });
  });
  after(async () => {
    await server.stop();
    await renamed.stop();
  });

  it('open rejects, naming the command refused (it used to open, then fail publishes, or take an offset and fail)', async () => {
    const cases: [string, RegExp][] = [
      ...users.map(([name, , reason]): [string, RegExp] => [`redis://${name}:pw@127.0.0.1:${server.port}`, reason]),
      [renamed.url, /XTRIM is not a command of this Redis \(renamed or disabled\): the broker needs it/],
    ];
    let checked = 0;
    for (const [url, reason] of cases) {
      const broker = new RedisBroker(url);
      const events = new BrokerRecorder();
      await assert.rejects(broker.open(events, history), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_WS_BROKER_REFUSED');
        assert.match(err.message, /^the pub\/sub broker refused: RedisBroker: Redis refused the connection: /);
        assert.match(err.message, reason);
        assert.doesNotMatch(err.message, /pw@/);
        return true;
      });
      assert.deepEqual(events.availability, []);
      await broker.close();
      checked++;
    }
    assert.equal(checked, users.length + 1);
    // The same Redis, a user with every permission: opens, publishes, delivers.
    const broker = new RedisBroker(server.url);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    await broker.subscribe('t');
    await broker.publish('t', Buffer.from('x'), false);
    assert.deepEqual(
      (await events.received('t', 1)).map((m) => m.offset),
      [1],
    );
    await broker.close();
  });

  it('serve --pubsub: one line, exit 1, before it listens', async () => {
    const { code, out, err } = await serveToExit(`redis://nopublish:pw@127.0.0.1:${server.port}`);
    assert.equal(code, 1, out + err);
    assert.match(
      err,
      /^ws-stream: the pub\/sub broker refused: RedisBroker: Redis refused the connection: NOPERM this user may not run PUBLISH on ws-stream:: the broker needs it .*\n$/,
    );
  });
});

describe('RedisBroker: an ACL changed while it runs', () => {
  it('PUBLISH taken away: publish rejects with nothing written; given back: the next takes the next offset', async (t) => {
    const server = await BrokerProcess.redis({ args: ['--user', 'pub', 'on', '>pw', '~*', '&*', '+@all'] });
    const admin = createClient({ url: server.url });
    await admin.connect();
    const pub = new RedisBroker(`redis://pub:pw@127.0.0.1:${server.port}`);
    const sub = new RedisBroker(server.url);
    t.after(async () => {
      await pub.close();
      await sub.close();
      admin.destroy();
      await server.stop();
    });
    await pub.open(new BrokerRecorder(), history);
    const events = new BrokerRecorder();
    await sub.open(events, history);
    await sub.subscribe('room');
    await sub.position('room');
    await pub.publish('room', Buffer.from('one'), false);
    await admin.sendCommand(['ACL', 'SETUSER', 'pub', '-publish']);
    await assert.rejects(pub.publish('room', Buffer.from('refused'), false), {
      code: 'ERR_WS_BROKER_REFUSED',
      message: /NOPERM this user may not run PUBLISH on ws-stream:room: nothing was published/,
    });
    assert.equal((await sub.position('room')).offset, 1);
    await admin.sendCommand(['ACL', 'SETUSER', 'pub', '+publish']);
    assert.equal((await pub.publish('room', Buffer.from('two'), false)).offset, 2);
    const got = await events.received('room', 2);
    assert.deepEqual(
      got.map((m) => [m.offset, m.data.toString()]),
      [
        [1, 'one'],
        [2, 'two'],
      ],
    );
    assert.deepEqual(
      (await sub.history('room', { offset: 0, epoch: got[0]!.epoch }))?.map((m) => m.data.toString()),
      ['one', 'two'],
    );
  });
});
