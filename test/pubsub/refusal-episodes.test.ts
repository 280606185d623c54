/**
 * What a broker says while it is refused on its reconnections, against real redis-server and
 * nats-server processes restarted on the same port with another configuration, as an operator
 * would: a refusal lasts only while the server answers and refuses. The server then down, the
 * broker is in an outage (operations reject with ERR_WS_BROKER_UNAVAILABLE, not the old refusal);
 * back still refusing, a refusal again, told again; put right, available. And a server restarted
 * with TLS on one side only (TLS-only where the broker speaks plain TCP, or the reverse) is a
 * refusal on a reconnection as it is at open — before, it was waited out as an outage. The same
 * holds for a broker whose server was down at open and came up refusing (never connected yet).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocketError } from '../../src/errors.js';
import type { Broker } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, type ProxyLink, poll, TcpProxy } from '../support/brokers.js';
import { redisTlsArgs, selfSigned } from '../support/tls-cert.js';

/** The runner's timeout for each test: without the fixes some would wait for ever. */
const WAIT = { timeout: 90_000 };
/**
 * `commandTimeoutMs` for the brokers whose attempts fail by timing out (default 5000): ample for a
 * broker server on loopback to answer beside CPU burners.
 */
const SHORT_MS = 1000;

/** Changes the password of the Redis on `port` (`CONFIG SET requirepass`), on a connection of its own. */
async function changePassword(port: number, from: string, to: string): Promise<void> {
  const socket = tcpConnect(port, '127.0.0.1');
  let said = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      said += chunk.toString('latin1');
      if (said === '+OK\r\n+OK\r\n') resolve();
      else if (!'+OK\r\n+OK\r\n'.startsWith(said)) reject(new Error(`Redis said ${JSON.stringify(said)}`));
    });
    socket.on('error', reject);
    socket.write(`AUTH ${from}\r\nCONFIG SET requirepass ${to}\r\n`);
  });
  socket.destroy();
}

/** The code a publish rejects with now ('' if it is taken). */
async function publishCode(broker: Broker): Promise<string> {
  try {
    await broker.publish('room', Buffer.from('x'), false);
    return '';
  } catch (err) {
    assert.ok(err instanceof WebSocketError, String(err));
    return err.code;
  }
}

/** Waits until a publish rejects with `code` (no event tells that an outage follows a refusal). */
async function untilPublishFails(broker: Broker, code: string): Promise<void> {
  await poll(async () => (await publishCode(broker)) === code);
}

describe('After a refused reconnection: down is an outage, back still refusing is a refusal again (Redis, NATS)', () => {
  const kinds: {
    name: string;
    /** Starts the server, which accepts the broker. */
    server: () => Promise<BrokerProcess>;
    broker: (port: number) => RedisBroker | NatsBroker;
    accepting: { args?: string[]; config?: string };
    refusing: { args?: string[]; config?: string };
    told: RegExp;
  }[] = [
    {
      name: 'Redis, its password changed',
      server: () => BrokerProcess.redis({ args: ['--requirepass', 'pw-1'] }),
      broker: (port) => new RedisBroker(`redis://:pw-1@127.0.0.1:${port}`),
      accepting: { args: ['--requirepass', 'pw-1'] },
      refusing: { args: ['--requirepass', 'pw-2'] },
      told: /^the pub\/sub broker refused: RedisBroker: Redis refused the connection: WRONGPASS /,
    },
    {
      name: 'NATS, its token changed',
      server: () => BrokerProcess.nats({ config: 'authorization { token: t0ken }' }),
      broker: (port) => new NatsBroker(`nats://t0ken@127.0.0.1:${port}`),
      accepting: { config: 'authorization { token: t0ken }' },
      refusing: { config: 'authorization { token: 0ther }' },
      told: /NATS refused the connection to nats:\/\/\*\*\*@127\.0\.0\.1:\d+: Authorization Violation$/,
    },
  ];
  for (const { name, server: start, broker: make, accepting, refusing, told } of kinds) {
    it(
      `${name}: refused, told; down: UNAVAILABLE; up refusing: told again, REFUSED; put right: available`,
      WAIT,
      async (t) => {
        const server = await start();
        const broker = make(server.port);
        t.after(async () => {
          await broker.close();
          await server.stop();
        });
        const events = new BrokerRecorder();
        await broker.open(events, history);
        await broker.subscribe('room');
        assert.equal((await broker.publish('room', Buffer.from('one'), false)).offset, 1);
        await events.received('room', 1);

        await server.restart(refusing);
        const [first] = await events.refused(1);
        assert.equal(first!.code, 'ERR_WS_BROKER_REFUSED');
        assert.match(first!.message, told);
        assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');

        // Down: nothing answers, nothing refuses. (It used to reject with the refusal until accepted.)
        await server.kill();
        await untilPublishFails(broker, 'ERR_WS_BROKER_UNAVAILABLE');
        await assert.rejects(broker.subscribe('other'), { code: 'ERR_WS_BROKER_UNAVAILABLE' });

        // Up again, still refusing: a refusal again, told again (the outage ended the first).
        await server.restart(refusing);
        const [, second] = await events.refused(2);
        assert.match(second!.message, told);
        assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');
        assert.deepEqual(events.availability, [false], 'refused, down, refused: one loss, no return');

        await server.restart(accepting);
        await events.available(true);
        // (Redis restarted without persistence: a new epoch; NATS kept the stream on file.)
        await broker.publish('room', Buffer.from('two'), false);
        assert.deepEqual(
          (await events.received('room', 2)).map((m) => m.data.toString()),
          ['one', 'two'],
        );
        assert.deepEqual(events.availability, [false, true]);
        assert.equal(events.refusals.length, 2, 'told once per refusal, not per attempt');
      },
    );
  }
});

describe('TLS on one side only, met on a reconnection: a refusal, as at open (Redis, NATS)', () => {
  const { cert, key } = selfSigned();
  const ca = readFileSync(cert);
  const natsTls = `tls { cert_file: ${JSON.stringify(cert)}, key_file: ${JSON.stringify(key)} }\n`;
  const kinds: {
    name: string;
    /** Reserves the server's port (not started). */
    reserve: () => Promise<BrokerProcess>;
    /** The server's configuration: as the broker expects, then with TLS on one side only. */
    right: (port: number) => { args?: string[]; config?: string };
    wrong: (port: number) => { args?: string[]; config?: string };
    broker: (port: number) => RedisBroker | NatsBroker;
    told: RegExp;
  }[] = [
    {
      name: 'Redis restarted TLS-only, the broker on redis://',
      reserve: () => BrokerProcess.redis({ start: false }),
      right: () => ({ args: [] }),
      wrong: (port) => ({ args: ['--port', '0', ...redisTlsArgs(port, { cert, key })] }),
      broker: (port) => new RedisBroker({ url: `redis://127.0.0.1:${port}`, pingIntervalMs: 600_000 }),
      told: /^the pub\/sub broker refused: RedisBroker: redis:\/\/127\.0\.0\.1:\d+: the server there speaks TLS only \(use rediss:\/\/\)$/,
    },
    {
      name: 'Redis restarted without TLS, the broker on rediss://',
      reserve: () => BrokerProcess.redis({ start: false }),
      right: (port) => ({ args: ['--port', '0', ...redisTlsArgs(port, { cert, key })] }),
      wrong: () => ({ args: [] }),
      broker: (port) =>
        new RedisBroker({
          url: `rediss://127.0.0.1:${port}`,
          pingIntervalMs: 600_000,
          // (A TLS client meets a plain server as a connection that never completes: the attempt
          // at open waits commandTimeoutMs, node-redis's reconnections their connectTimeout.)
          commandTimeoutMs: SHORT_MS,
          clientOptions: { socket: { ca, connectTimeout: SHORT_MS } },
        }),
      told: /^the pub\/sub broker refused: RedisBroker: rediss:\/\/127\.0\.0\.1:\d+: the server there speaks Redis without TLS \(use redis:\/\/\)$/,
    },
    {
      name: 'NATS restarted with TLS (a certificate node does not trust), the broker on nats://',
      reserve: () => BrokerProcess.nats({ start: false, config: '' }),
      right: () => ({ config: '' }),
      wrong: () => ({ config: natsTls }),
      broker: (port) => new NatsBroker(`nats://127.0.0.1:${port}`),
      told: /^the pub\/sub broker refused: NatsBroker: NATS refused the connection to nats:\/\/127\.0\.0\.1:\d+: self-signed certificate$/,
    },
    {
      name: 'NATS restarted without TLS, the broker asking for it (connectOptions.tls)',
      reserve: () => BrokerProcess.nats({ start: false, config: '' }),
      right: () => ({ config: natsTls }),
      wrong: () => ({ config: '' }),
      broker: (port) => new NatsBroker({ url: `tls://127.0.0.1:${port}`, connectOptions: { tls: { ca } } }),
      told: /^the pub\/sub broker refused: NatsBroker: tls:\/\/127\.0\.0\.1:\d+: the server there speaks NATS without TLS, which the broker asks for$/,
    },
  ];
  for (const { name, reserve, right, wrong, broker: make, told } of kinds) {
    it(`${name}: told once, operations reject with it; restarted as before: available`, WAIT, async (t) => {
      const server = await reserve();
      const broker = make(server.port);
      const atOpen = make(server.port);
      t.after(async () => {
        await broker.close();
        await atOpen.close();
        await server.stop();
      });
      await server.restart(right(server.port));
      const events = new BrokerRecorder();
      await broker.open(events, history);
      await broker.subscribe('room');

      await server.restart(wrong(server.port));
      const [err] = await events.refused();
      assert.equal(err!.code, 'ERR_WS_BROKER_REFUSED');
      assert.match(err!.message, told);
      assert.ok(err!.cause instanceof Error, 'the cause is kept');
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');
      assert.deepEqual(events.availability, [false]);
      // The same refusal as a broker opened now would meet.
      await assert.rejects(atOpen.open(new BrokerRecorder(), history), (e: WebSocketError) => {
        assert.equal(e.code, 'ERR_WS_BROKER_REFUSED');
        assert.equal(e.message, err!.message);
        return true;
      });

      await server.restart(right(server.port));
      await events.available(true);
      assert.equal((await broker.publish('room', Buffer.from('back'), false)).offset, 1);
      assert.deepEqual(events.availability, [false, true]);
      assert.equal(events.refusals.length, 1);
    });
  }
});

describe('Down at open, up refusing, down again: an outage; up refusing again: told again (Redis, NATS)', () => {
  const kinds: {
    name: string;
    reserve: () => Promise<BrokerProcess>;
    broker: (port: number) => RedisBroker | NatsBroker;
    accepting: { args?: string[]; config?: string };
    told: RegExp;
  }[] = [
    {
      name: 'Redis, another password',
      reserve: () => BrokerProcess.redis({ start: false, args: ['--requirepass', 'pw-2'] }),
      broker: (port) => new RedisBroker(`redis://:pw-1@127.0.0.1:${port}`),
      accepting: { args: ['--requirepass', 'pw-1'] },
      told: /^the pub\/sub broker refused: RedisBroker: Redis refused the connection: WRONGPASS /,
    },
    {
      name: 'NATS, another token',
      reserve: () => BrokerProcess.nats({ start: false, config: 'authorization { token: t0ken }' }),
      broker: (port) => new NatsBroker(`nats://pw-1@127.0.0.1:${port}`),
      accepting: { config: 'authorization { token: pw-1 }' },
      told: /NATS refused the connection to nats:\/\/\*\*\*@127\.0\.0\.1:\d+: Authorization Violation$/,
    },
  ];
  for (const { name, reserve, broker: make, accepting, told } of kinds) {
    it(`${name}: never connected, the refusal ends when the server is down, and is told again`, WAIT, async (t) => {
      const server = await reserve();
      const broker = make(server.port);
      t.after(async () => {
        await broker.close();
        await server.stop();
      });
      const events = new BrokerRecorder();
      await broker.open(events, history);
      await server.start();
      const [first] = await events.refused(1);
      assert.match(first!.message, told);
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');

      await server.kill();
      await untilPublishFails(broker, 'ERR_WS_BROKER_UNAVAILABLE');
      await server.start();
      const [, second] = await events.refused(2);
      assert.match(second!.message, told);
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');
      assert.deepEqual(events.availability, [false]);

      await server.restart(accepting);
      await events.available(true);
      await broker.publish('room', Buffer.from('x'), false);
      assert.deepEqual(events.availability, [false, true]);
      assert.equal(events.refusals.length, 2);
    });
  }
});

describe('One attempt failing otherwise, the server still up and refusing: the same refusal, not told again (NATS)', () => {
  const kinds = [
    // Connected, then refused on its reconnections: the client's attempt fails, the broker asks the
    // port alongside the next one (which waits at the proxy until that is answered).
    { name: 'refused on its reconnections', connectedFirst: true },
    // Down at open, then up refusing: the broker's own attempts (asked after the failed one, before the next).
    { name: 'never connected, the server up refusing', connectedFirst: false },
  ];
  for (const { name, connectedFirst } of kinds) {
    it(`${name}: a connection dropped before its CONNECT passes is no outage, one refusal told`, WAIT, async (t) => {
      const refusing = { config: 'authorization { token: 0ther }' };
      const server = await BrokerProcess.nats({ start: connectedFirst, config: 'authorization { token: t0ken }' });
      const proxy = await TcpProxy.start(server.port);
      // (An attempt whose connection the proxy drops fails once it times out.)
      const broker = new NatsBroker({ url: `nats://t0ken@127.0.0.1:${proxy.port}`, commandTimeoutMs: SHORT_MS });
      // From `holding` on, every new connection's CONNECT waits at the proxy until the test lets it
      // through (set as the proxy accepts it, before a byte passes).
      let holding = false;
      const held: ProxyLink[] = [];
      let watching = true;
      const watched = new Set<ProxyLink>();
      const watch = proxy.until(() => {
        for (const link of proxy.links) {
          if (watched.has(link)) continue;
          watched.add(link);
          if (holding) {
            link.holdClientFrom('CONNECT');
            held.push(link);
          }
        }
        return watching ? undefined : true;
      });
      t.after(async () => {
        watching = false;
        await broker.close();
        await proxy.close();
        await watch;
        await server.stop();
      });
      const events = new BrokerRecorder();
      await broker.open(events, history);
      if (connectedFirst) await broker.subscribe('room');
      await server.restart(refusing);
      await events.refused(1);
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');

      holding = true;
      // An attempt whose connection drops after the server's INFO, before its CONNECT passes:
      // failed, but not refused (a flaky link, a proxy restarting).
      const dropped = await proxy.until(() => held.find((l) => l.clientText.includes('CONNECT')));
      dropped.destroy();
      if (connectedFirst) {
        // The broker asks the port (the server greets: it is up) while the next reconnection's
        // CONNECT waits; its answer is in once its connection is closed.
        await proxy.until(() =>
          held.find((l) => l.serverText.startsWith('INFO') && l.clientText === '' && !proxy.links.has(l)),
        );
      }
      const next = await proxy.until(() => held.find((l) => l !== dropped && l.clientText.includes('CONNECT')));
      next.release();
      // That one refused, the one after it comes (its refusal is handled by then).
      await proxy.until(() => held.find((l) => l !== dropped && l !== next && l.clientText.includes('CONNECT')));
      assert.equal(events.refusals.length, 1, 'the refusal goes on: not told again');
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');
      assert.deepEqual(events.availability, [false]);

      holding = false;
      for (const link of held) link.release();
      await server.restart({ config: 'authorization { token: t0ken }' });
      await events.available(true);
      assert.equal(events.refusals.length, 1);
    });
  }
});

describe('One attempt failing otherwise, the server still up and refusing: the same refusal, not told again (Redis)', () => {
  const kinds = [
    // Connected, then refused as node-redis makes its pair again: the broker asks the port once
    // both connections' last attempts failed otherwise.
    { name: 'refused on its reconnections', connectedFirst: true },
    // Down at open, then up refusing: the broker's own attempts (a pair each), asked after one fails.
    { name: 'never connected, the server up refusing', connectedFirst: false },
  ];
  for (const { name, connectedFirst } of kinds) {
    it(`${name}: connections dropped before Redis answers them are no outage, one refusal told`, WAIT, async (t) => {
      const server = await BrokerProcess.redis({ start: connectedFirst, args: ['--requirepass', 'pw-1'] });
      const proxy = await TcpProxy.start(server.port);
      // (No keep-alive check in the test's time: the pair is made again by node-redis only.)
      const broker = new RedisBroker({ url: `redis://:pw-1@127.0.0.1:${proxy.port}`, pingIntervalMs: 600_000 });
      // From `dropping` on, new connections are held; the broker's own (node-redis writes a command
      // array first) are dropped once they have written, the broker's asks of the port (a plain
      // PING, a TLS handshake) pass. Dropping ends once an ask made since is over: its connections
      // closed (not those of one made before, while Redis restarted), none left open unseen.
      let phase: 'before' | 'dropping' | 'after' = 'before';
      /** The connections open when dropping began. */
      let earlier = new Set<ProxyLink>();
      /** The connections of the asks made since dropping began. */
      const asks: ProxyLink[] = [];
      /** The broker's connections let through after dropping ended. */
      const after: ProxyLink[] = [];
      let watching = true;
      const classified = new Set<ProxyLink>();
      const watch = proxy.until(() => {
        for (const link of proxy.links) {
          if (classified.has(link) || link.clientText === '') continue;
          classified.add(link);
          if (phase === 'before') continue;
          if (!link.clientText.startsWith('*')) {
            if (!earlier.has(link)) asks.push(link);
            link.release();
          } else if (phase === 'dropping') {
            link.destroy();
          } else {
            after.push(link);
            link.release();
          }
        }
        const pending = [...proxy.links].some((l) => !earlier.has(l) && (l.clientText === '' || asks.includes(l)));
        if (phase === 'dropping' && asks.length > 0 && !pending) {
          phase = 'after';
          proxy.holding = false;
          for (const link of proxy.links) if (classified.has(link)) link.release();
        }
        return watching ? undefined : true;
      });
      t.after(async () => {
        watching = false;
        await broker.close();
        await proxy.close();
        await watch;
        await server.stop();
      });
      const events = new BrokerRecorder();
      await broker.open(events, history);
      if (connectedFirst) {
        await broker.subscribe('room');
        await server.restart({ args: ['--requirepass', 'pw-2'] });
      } else {
        await server.restart({ args: ['--requirepass', 'pw-2'] });
      }
      await events.refused(1);
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');

      proxy.holding = true;
      earlier = new Set(proxy.links);
      phase = 'dropping';
      // Three refused connections after the ask: one of the broker's clients (or attempts) had one
      // after another, so a refusal came in after the ask's answer and was handled.
      await proxy.until(() => (after.filter((l) => l.serverText.includes('WRONGPASS')).length >= 3 ? true : undefined));
      assert.equal(events.refusals.length, 1, 'the refusal goes on: not told again');
      assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');
      assert.deepEqual(events.availability, [false]);

      await server.restart({ args: ['--requirepass', 'pw-1'] });
      await events.available(true);
      assert.equal(events.refusals.length, 1);
    });
  }
});

it(
  'Redis: an ask begun before a refusal came, answered nothing after it: the refusal goes on, not told again',
  WAIT,
  async (t) => {
    const server = await BrokerProcess.redis({ args: ['--requirepass', 'pw-1'] });
    const proxy = await TcpProxy.start(server.port);
    const broker = new RedisBroker({ url: `redis://:pw-1@127.0.0.1:${proxy.port}`, pingIntervalMs: 600_000 });
    // node-redis's connections (a command array first) are dropped or let through as `drop` says;
    // the broker's asks of the port (a plain PING, a TLS handshake) are held, never answered.
    let drop = false;
    let drops = 0;
    const asks: ProxyLink[] = [];
    /** node-redis's connections let through, in order. */
    const through: ProxyLink[] = [];
    let watching = true;
    const seen = new Set<ProxyLink>();
    const watch = proxy.until(() => {
      for (const link of proxy.links) {
        if (seen.has(link) || link.clientText === '') continue;
        seen.add(link);
        if (!link.clientText.startsWith('*')) asks.push(link);
        else if (drop) {
          drops++;
          link.destroy();
        } else {
          through.push(link);
          link.release();
        }
      }
      return watching ? undefined : true;
    });
    t.after(async () => {
      watching = false;
      await broker.close();
      await proxy.close();
      await watch;
      await server.stop();
    });
    const events = new BrokerRecorder();
    await broker.open(events, history);
    await broker.subscribe('room');

    // Lost, each attempt dropped: the broker asks the port, and the ask waits (held).
    drop = true;
    proxy.cut();
    await proxy.until(() => (asks.length >= 2 ? true : undefined));
    // Meanwhile Redis's password changes (the server stays up, the asks stay held): told.
    await changePassword(server.port, 'pw-1', 'pw-2');
    drop = false;
    await events.refused(1);
    // Then both clients' attempts fail otherwise again (four drops: each client reconnects at
    // least once a second), and the ask begun before the refusal ends, having heard nothing.
    drop = true;
    const dropped = drops;
    await proxy.until(() => (drops >= dropped + 4 ? true : undefined));
    for (const ask of asks) ask.destroy();
    await proxy.until(() => (asks.every((l) => !proxy.links.has(l)) ? true : undefined));
    drop = false;
    const since = through.length;
    // Three refused connections after it: one client had one after another, so a refusal came in
    // after the ask's answer and was handled.
    await proxy.until(() =>
      through.slice(since).filter((l) => l.serverText.includes('WRONGPASS')).length >= 3 ? true : undefined,
    );
    assert.equal(events.refusals.length, 1, 'the refusal goes on: not told again');
    assert.equal(await publishCode(broker), 'ERR_WS_BROKER_REFUSED');
  },
);
