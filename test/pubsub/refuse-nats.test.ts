/**
 * NatsBroker against nats-servers configured to refuse: a user whose permissions deny the
 * subjects the broker subscribes to or publishes on. A refusal is an error a caller sees (typed,
 * naming the server's reason), never a subscription that silently delivers nothing, and never a
 * crash.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createServer, type Socket } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { after, describe, it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';
import { serveToExit } from './refuse-support.js';

/** A nats-server with JetStream whose one user (a:b) has these permissions. */
async function natsWithPermissions(permissions: string): Promise<{ server: BrokerProcess; url: string }> {
  const server = await BrokerProcess.nats({
    config: `authorization { users = [ { user: a, password: b, permissions: { ${permissions} } } ] }`,
  });
  return { server, url: `nats://a:b@127.0.0.1:${server.port}` };
}

describe('NatsBroker: permissions that deny its subjects', () => {
  const closing: { close(): Promise<void> }[] = [];
  const servers: BrokerProcess[] = [];
  after(async () => {
    for (const c of closing) await c.close();
    for (const s of servers) await s.stop();
  });
  async function open(url: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    const broker = new NatsBroker(url);
    closing.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  it('subscribe denied on the live subject: subscribe rejects with the violation (it used to resolve and deliver nothing)', async () => {
    const { server, url } = await natsWithPermissions('subscribe: { deny: ["ws-stream.out.>"] }');
    servers.push(server);
    const { broker, events } = await open(url);
    assert.equal(broker.jetstream, true);
    await assert.rejects(broker.subscribe('room'), {
      code: 'ERR_WS_BROKER_REFUSED',
      message: /NATS refused the subscription to ws-stream\.out\.\S+: Permissions Violation for Subscription/,
    });
    // Publishing is allowed: it is taken (offset 1), and the refused topic is not subscribed.
    assert.equal((await broker.publish('room', Buffer.from('x'), false)).offset, 1);
    // Asked again, refused again (not "already subscribed").
    await assert.rejects(broker.subscribe('room'), { code: 'ERR_WS_BROKER_REFUSED', message: /Permissions/ });
    assert.deepEqual(events.availability, []);
    assert.deepEqual(events.messages, []);
  });

  it('publish denied on the stream subject: publish rejects with the violation; subscribing still works', async () => {
    const { server, url } = await natsWithPermissions('publish: { deny: ["ws-stream.in.>"] }');
    servers.push(server);
    const { broker, events } = await open(url);
    await broker.subscribe('room');
    await assert.rejects(broker.publish('room', Buffer.from('x'), false), {
      code: 'ERR_WS_BROKER_REFUSED',
      message: /Permissions Violation for Publish to "ws-stream\.in\.\S+"/,
    });
    assert.deepEqual(events.availability, []);
    assert.equal((await broker.position('room')).offset, 0); // (nothing was taken)
  });

  it('a server merely down at open: operations say it is not connected yet (not "not open")', async () => {
    const down = await BrokerProcess.nats({ start: false });
    servers.push(down);
    const { broker, events } = await open(down.url);
    assert.deepEqual(events.availability, [false]);
    await assert.rejects(broker.subscribe('t'), {
      code: 'ERR_WS_BROKER_UNAVAILABLE',
      message: `the pub/sub broker is unavailable: not connected to ${down.url} yet`,
    });
  });

  it('the JetStream API denied (its subjects, or the replies inbox): open rejects, instead of running on core NATS', async () => {
    const cases: [string, RegExp][] = [
      ['publish: { deny: ["$JS.API.>"] }', /Permissions Violation for Publish to "\$JS\.API\.INFO"/],
      ['subscribe: { deny: ["_INBOX.>"] }', /Permissions Violation for Subscription to "_INBOX\./],
    ];
    let checked = 0;
    for (const [permissions, reason] of cases) {
      const { server, url } = await natsWithPermissions(permissions);
      servers.push(server);
      const broker = new NatsBroker(url);
      closing.push(broker);
      const events = new BrokerRecorder();
      await assert.rejects(broker.open(events, history), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_WS_BROKER_REFUSED');
        assert.match(
          err.message,
          /^the pub\/sub broker refused: NatsBroker: NATS refused the JetStream API to this user on nats:\/\/a:\*\*\*@127\.0\.0\.1:\d+: /,
        );
        assert.match(err.message, reason);
        return true;
      });
      assert.equal(broker.jetstream, false);
      assert.deepEqual(events.availability, []);
      checked++;
    }
    assert.equal(checked, 2);
    // serve: one line, exit 1, before it listens.
    const { server, url } = await natsWithPermissions('publish: { deny: ["$JS.API.>"] }');
    servers.push(server);
    const { code, out, err } = await serveToExit(url);
    assert.equal(code, 1, out + err);
    assert.match(
      err,
      /^ws-stream: the pub\/sub broker refused: NatsBroker: NATS refused the JetStream API .*Permissions Violation.*\n$/,
    );
    assert.doesNotMatch(err, /a:b@/);
  });
});

describe('NatsBroker: a URL to a server that is not NATS', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const stop of stops) await stop();
  });

  it('Redis, HTTP: open rejects, naming what it answered; serve exits 1 with that line', async () => {
    const redis = await BrokerProcess.redis();
    stops.push(() => redis.stop());
    const web = http.createServer((_, res) => res.end('hello'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    stops.push(async () => {
      web.closeAllConnections(); // (the NATS client's first try, never greeted, is still open)
      await new Promise((resolve) => web.close(resolve));
    });
    const cases: [string, string][] = [
      [`nats://127.0.0.1:${redis.port}`, '"+PONG"'],
      [`nats://u:pw@127.0.0.1:${(web.address() as { port: number }).port}`, '"HTTP/1.1 400 Bad Request"'],
    ];
    // (The serve process runs meanwhile: its broker waits the default commandTimeoutMs, 5 s, for a
    // greeting, then asks the port what it says.)
    const exit = serveToExit(`nats://127.0.0.1:${redis.port}`);
    let checked = 0;
    for (const [url, said] of cases) {
      const shown = url.replace('u:pw@', ''); // (the client's servers: credentials apart)
      const broker = new NatsBroker({ url, commandTimeoutMs: 1000 });
      stops.push(() => broker.close());
      const events = new BrokerRecorder();
      await assert.rejects(broker.open(events, history), {
        code: 'ERR_WS_BROKER_REFUSED',
        message: `the pub/sub broker refused: NatsBroker: ${shown} is not a NATS server: it answered ${said}`,
      });
      assert.deepEqual(events.availability, []);
      checked++;
    }
    assert.equal(checked, 2);
    const { code, out, err } = await exit;
    assert.equal(code, 1, out + err);
    assert.match(
      err,
      /^ws-stream: the pub\/sub broker refused: NatsBroker: nats:\/\/\S+ is not a NATS server: it answered "\+PONG"\n$/,
    );
  });

  it('a server that takes connections and says nothing: waited for as an outage, its connections not left open', {
    timeout: 60_000, // (without the fix, the broker's connections never close: it fails here)
  }, async () => {
    const sockets = new Set<Socket>();
    let accepted = 0;
    const changed: (() => void)[] = [];
    const wake = (): void => {
      for (const w of changed.splice(0)) w();
    };
    const until = (cond: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => (cond() ? resolve() : void changed.push(check));
        check();
      });
    const silent = createServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.resume(); // (read, so that the broker's close is seen)
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        wake();
      });
      wake();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    stops.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const url = `nats://127.0.0.1:${(silent.address() as { port: number }).port}`;
    // (Each try ends at commandTimeoutMs: no answer ever comes, so nothing here waits for one.)
    const broker = new NatsBroker({ url, commandTimeoutMs: 400 });
    const events = new BrokerRecorder();
    await broker.open(events, history);
    assert.deepEqual(events.availability, [false]);
    await assert.rejects(broker.publish('t', Buffer.from('x'), false), {
      code: 'ERR_WS_BROKER_UNAVAILABLE',
      message: `the pub/sub broker is unavailable: not connected to ${url} yet`,
    });
    await until(() => accepted >= 5);
    await broker.close();
    // The NATS client's own first try stays open (nats.js keeps a connection that never greeted);
    // every later one was the broker's, closed by it (they used to pile up, one per try, for good).
    await until(() => sockets.size <= 1);
    assert.ok(accepted >= 5);
  });
});

describe('NatsBroker: a stream of its name made otherwise (by an operator)', () => {
  it('without its republish: subscribe and publish reject, saying what to do (they were taken, and nothing was delivered)', async (t) => {
    const server = await BrokerProcess.nats();
    const admin = await connect({ servers: server.url });
    const broker = new NatsBroker(server.url);
    t.after(async () => {
      await broker.close();
      await admin.close();
      await server.stop();
    });
    const name = `ws-stream_${createHash('sha256').update('room').digest('hex').slice(0, 40)}`;
    const subject = `ws-stream.in.t${Buffer.from('room').toString('base64url')}`;
    const jsm = await jetstreamManager(admin);
    await jsm.streams.add({ name, subjects: [subject], max_msgs: 5 });
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const refused = new RegExp(
      `^the pub/sub broker refused: stream ${name} \\(topic "room"\\) was made without the broker's republish to ws-stream\\.out\\.\\S+, its live delivery, and the server cannot add it \\(.+\\): delete the stream, the broker makes it again$`,
    );
    await assert.rejects(broker.subscribe('room'), { code: 'ERR_WS_BROKER_REFUSED', message: refused });
    await assert.rejects(broker.publish('room', Buffer.from('x'), false), {
      code: 'ERR_WS_BROKER_REFUSED',
      message: refused,
    });
    assert.equal((await jsm.streams.info(name)).state.messages, 0);
    // Deleted as told: the broker makes it again, and delivers.
    await jsm.streams.delete(name);
    await broker.subscribe('room');
    const at = await broker.publish('room', Buffer.from('x'), false);
    assert.deepEqual(
      (await events.received('room', 1)).map((m) => [m.offset, m.data.toString()]),
      [[at.offset, 'x']],
    );
  });
});

describe('NatsBroker: permissions changed while it runs (configuration reloaded)', () => {
  it('subscribing denied: told (onRefused, ERR_WS_BROKER_REFUSED); allowed again: subscribed again, what was missed delivered from history', {
    timeout: 60_000, // (without the resubscription, nothing more comes: it fails here)
  }, async (t) => {
    const allow = 'authorization { users = [ { user: a, password: b } ] }';
    const deny =
      'authorization { users = [ { user: a, password: b, permissions: { subscribe: { deny: ["ws-stream.out.>"] } } } ] }';
    const server = await BrokerProcess.nats({ config: allow });
    const url = `nats://a:b@127.0.0.1:${server.port}`;
    const pub = new NatsBroker(url);
    const sub = new NatsBroker(url);
    t.after(async () => {
      await pub.close();
      await sub.close();
      await server.stop();
    });
    await pub.open(new BrokerRecorder(), history);
    const events = new BrokerRecorder();
    await sub.open(events, history);
    await sub.subscribe('room');
    await pub.publish('room', Buffer.from('one'), false);
    await events.received('room', 1);

    await server.reload(deny);
    const [told] = await events.refused();
    assert.equal(told!.code, 'ERR_WS_BROKER_REFUSED');
    assert.match(
      told!.message,
      /NATS refused the subscription to ws-stream\.out\.\S+: Permissions Violation for Subscription/,
    );
    await pub.publish('room', Buffer.from('two'), false); // (taken: publishing is allowed)
    await server.reload(allow);
    await pub.publish('room', Buffer.from('three'), false);
    const got = await events.received('room', 3);
    assert.deepEqual(
      got.map((m) => [m.offset, m.data.toString()]),
      [
        [1, 'one'],
        [2, 'two'],
        [3, 'three'],
      ],
    );
    assert.deepEqual(events.availability, []);
  });
});
