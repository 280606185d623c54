/**
 * NatsBroker against nats-servers that ask for credentials or serve TLS, all started here: the
 * credentials of the URL (user and password, token, URL-encoded, one set for a list) reach the
 * server; `connectOptions`' own win; a refusal at the first connection (wrong credentials, a
 * certificate node does not trust) fails `open()` with ERR_WS_BROKER_REFUSED, while a server
 * merely down is waited for; no error ever holds the password or token.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { WebSocketError } from '../../src/errors.js';
import type { HistoryOptions } from '../../src/pubsub/broker.js';
import { NatsBroker, type NatsBrokerOptions } from '../../src/pubsub/nats-broker.js';
import { BrokerProcess, BrokerRecorder, freePort } from '../support/brokers.js';
import { selfSigned } from '../support/tls-cert.js';

const history: HistoryOptions = { size: 100, ttlSeconds: 60 };
/** A password with characters a URL must encode (`@`, `:`, `/`, `%`, a space). */
const PASSWORD = 'p@ss:w/rd% 1';
const encoded = encodeURIComponent(PASSWORD);

/**
 * A TCP proxy whose target can change: a connection goes to the server the target names when it is
 * made, and `switchTo` drops the ones open, as a server restarted with another configuration would;
 * while `late`, a new connection is as slow as the server's authentication timeout.
 */
class SwitchProxy {
  connections = 0;
  /** New connections are slow: the server's bytes are held until it closes the connection. */
  late = false;
  readonly #sockets = new Set<Socket>();
  #waiters: (() => void)[] = [];
  private constructor(
    readonly server: Server,
    public target: number,
  ) {
    server.on('connection', (client) => {
      const upstream = tcpConnect(this.target, '127.0.0.1');
      const late = this.late;
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.#sockets.add(a);
        a.on('error', () => b.destroy());
        if (late && a === upstream) {
          // The server's bytes reach the client only once the server gave up on it, all at once.
          const held: Buffer[] = [];
          a.on('data', (d: Buffer) => held.push(d));
          a.on('close', () => {
            b.end(Buffer.concat(held));
            this.#sockets.delete(a);
          });
          continue;
        }
        a.pipe(b);
        a.on('close', () => {
          b.destroy();
          this.#sockets.delete(a);
        });
      }
      this.connections++;
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  static async start(target: number): Promise<SwitchProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new SwitchProxy(server, target);
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  switchTo(target: number): void {
    this.target = target;
    for (const s of this.#sockets) s.destroy();
  }
  /** Waits until `count` connections were made in all. */
  async made(count: number): Promise<void> {
    while (this.connections < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('NatsBroker with credentials', () => {
  const brokers: BrokerProcess[] = [];
  const opened: NatsBroker[] = [];
  after(async () => {
    for (const b of opened) await b.close();
    for (const b of brokers) await b.stop();
  });
  async function server(config: string, jetstream = false): Promise<BrokerProcess> {
    const b = await BrokerProcess.nats({ jetstream, config });
    brokers.push(b);
    return b;
  }
  const at = (b: BrokerProcess, auth: string, scheme = 'nats'): string => `${scheme}://${auth}@127.0.0.1:${b.port}`;
  const users = (): Promise<BrokerProcess> =>
    server(`authorization { user: u, password: ${JSON.stringify(PASSWORD)} }`, true);
  const tokens = (): Promise<BrokerProcess> => server('authorization { token: t0ken }');

  async function open(options: string | NatsBrokerOptions): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    const broker = new NatsBroker(options);
    const events = new BrokerRecorder();
    opened.push(broker);
    await broker.open(events, history);
    return { broker, events };
  }
  /** A message published on `from` reaches a subscriber on `to`. */
  async function roundTrip(
    from: NatsBroker,
    to: BrokerRecorder & { broker: NatsBroker },
    topic: string,
  ): Promise<void> {
    await to.broker.subscribe(topic);
    await from.publish(topic, Buffer.from(`hello ${topic}`), false);
    const [m] = await to.received(topic, 1);
    assert.equal(m!.data.toString(), `hello ${topic}`);
  }
  async function openBoth(options: string | NatsBrokerOptions, topic: string): Promise<NatsBroker> {
    const pub = await open(options);
    const sub = await open(options);
    await roundTrip(pub.broker, Object.assign(sub.events, { broker: sub.broker }), topic);
    return pub.broker;
  }
  /** `open` rejects with ERR_WS_BROKER_REFUSED whose message matches `reason`, holding no `secret`. */
  async function refused(options: string | NatsBrokerOptions, reason: RegExp, secret: string): Promise<void> {
    const broker = new NatsBroker(options);
    opened.push(broker);
    await assert.rejects(broker.open(new BrokerRecorder(), history), (err: WebSocketError) => {
      assert.equal(err.code, 'ERR_WS_BROKER_REFUSED', err.message);
      assert.match(err.message, reason);
      assert.ok(!err.message.includes(secret), err.message);
      return true;
    });
  }

  it('user and password in the URL (URL-encoded), with JetStream; a token in { url }', async () => {
    const u = await users();
    const withJs = await openBoth(at(u, `u:${encoded}`), 'user');
    assert.equal(withJs.jetstream, true);
    const t = await tokens();
    await openBoth({ url: at(t, 't0ken') }, 'token');
  });

  it('a list: the credentials of one server are the others’ too; servers down are passed over', async () => {
    const t = await tokens();
    const down = `nats://127.0.0.1:${await freePort()}`;
    await openBoth(`${down}, ${at(t, 't0ken')}`, 'list-1');
    await openBoth(`${at(t, 't0ken')},nats://127.0.0.1:${t.port}`, 'list-2');
  });

  it('a list naming two sets of credentials, or credentials not URL-encoded: ERR_WS_INVALID_ARGUMENT, masked', () => {
    const cases: [string, RegExp][] = [
      ['nats://a:secret-1@h:1,nats://a:secret-2@h:2', /different credentials/],
      ['nats://secret-1@h:1,nats://u:secret-1@h:2', /different credentials/],
      ['nats://u:secret-1%zz@h:1', /nats:\/\/u:\*\*\*@h:1: bad percent-encoding in the password/],
      ['nats://u:secret-1@h:99999', /not a URL: nats:\/\/u:\*\*\*@h:99999/],
    ];
    for (const [url, reason] of cases) {
      assert.throws(
        () => new NatsBroker(url),
        (err: WebSocketError) =>
          err.code === 'ERR_WS_INVALID_ARGUMENT' && reason.test(err.message) && !err.message.includes('secret'),
        url,
      );
    }
  });

  it('credentials in connectOptions win over the URL’s', async () => {
    const u = await users();
    await openBoth({ url: at(u, 'u:wrong-pw-1'), connectOptions: { user: 'u', pass: PASSWORD } }, 'explicit');
    await refused({ url: at(u, `u:${encoded}`), connectOptions: { token: 'wrong-pw-1' } }, /Authorization/, 'wrong');
  });

  it('wrong credentials: open rejects with ERR_WS_BROKER_REFUSED naming the refusal, never the secret', async () => {
    const [u, t] = [await users(), await tokens()];
    await refused(
      at(u, 'u:wrong-pw-1'),
      /NATS refused the connection to nats:\/\/u:\*\*\*@.*Authorization Violation/,
      'wrong-pw-1',
    );
    await refused(at(u, 'nobody:wrong-pw-1'), /Authorization Violation/, 'wrong-pw-1');
    await refused(at(t, 'wrong-pw-1'), /nats:\/\/\*\*\*@.*Authorization Violation/, 'wrong-pw-1');
    await refused(`nats://127.0.0.1:${t.port}`, /Authorization Violation/, 't0ken'); // (none given)
    // A list where the other server is down: refused all the same, whichever the client tried last.
    const down = `nats://127.0.0.1:${await freePort()}`;
    await refused(`${down},${at(t, 'wrong-pw-1')}`, /Authorization Violation/, 'wrong-pw-1');
    await refused(`${at(t, 'wrong-pw-1')},${down}`, /Authorization Violation/, 'wrong-pw-1');
  });

  it('TLS: a certificate node does not trust fails open, so does tls:// to a server without TLS; trusted through connectOptions.tls, it serves', async () => {
    const { cert, key } = selfSigned();
    const b = await server(`tls { cert_file: "${cert}", key_file: "${key}" }\nauthorization { token: t0ken }`);
    await refused(at(b, 't0ken', 'tls'), /self-signed certificate/, 't0ken');
    await refused(at(b, 't0ken'), /self-signed certificate/, 't0ken'); // (nats:// to a server that requires TLS)
    // tls:// to a server without TLS (the client alone would speak plain TCP to it, unasked).
    const plain = await tokens();
    await refused(
      at(plain, 't0ken', 'tls'),
      /tls:\/\/\*\*\*@127\.0\.0\.1:\d+: the server there speaks NATS without TLS/,
      't0ken',
    );
    await openBoth({ url: at(b, 't0ken', 'tls'), connectOptions: { tls: { ca: readFileSync(cert) } } }, 'tls');
  });

  it('a list mixing nats:// and tls://: ERR_WS_INVALID_ARGUMENT (the client would speak plain TCP to the tls:// one), unless connectOptions.tls asks TLS of every server', async () => {
    const plain = await tokens();
    const down = `nats://127.0.0.1:${await freePort()}`;
    // The tls:// server has no TLS: the client, given the list, spoke plain TCP to it and served.
    const mixed = `${down},${at(plain, 't0ken', 'tls')}`;
    const invalid: [string | NatsBrokerOptions, RegExp][] = [
      [
        mixed,
        /NatsBroker: nats:\/\/127\.0\.0\.1:\d+ and tls:\/\/127\.0\.0\.1:\d+ in one list: .* make each server tls:\/\//,
      ],
      [`${at(plain, 't0ken', 'tls')}, ${down}`, /NatsBroker: nats:\/\/.* and tls:\/\/.* in one list/],
      // connectOptions.tls false or null (null: the client never speaks TLS, whatever the server offers).
      [
        { url: at(plain, 't0ken', 'tls'), connectOptions: { tls: false } },
        /tls:\/\/127\.0\.0\.1:\d+ asks for TLS, which connectOptions\.tls \(false\) does not/,
      ],
      [
        { url: at(plain, 't0ken', 'tls'), connectOptions: { tls: null } },
        /tls:\/\/127\.0\.0\.1:\d+ asks for TLS, which connectOptions\.tls \(null\) does not/,
      ],
    ];
    for (const [options, reason] of invalid) {
      assert.throws(
        () => new NatsBroker(options),
        (err: WebSocketError) =>
          err.code === 'ERR_WS_INVALID_ARGUMENT' && reason.test(err.message) && !err.message.includes('t0ken'),
        JSON.stringify(options),
      );
    }
    // Every server tls://: refused at open, as by one tls:// server without TLS.
    await refused(`${down},${at(plain, 't0ken', 'tls')}`.replace(/^nats:/, 'tls:'), /speaks NATS without TLS/, 't0ken');
    // connectOptions.tls: TLS to every server of the mixed list (here the one up serves TLS).
    const { cert, key } = selfSigned();
    const secure = await server(`tls { cert_file: "${cert}", key_file: "${key}" }\nauthorization { token: t0ken }`);
    await openBoth(
      { url: `${down},${at(secure, 't0ken', 'tls')}`, connectOptions: { tls: { ca: readFileSync(cert) } } },
      'mixed-tls',
    );
  });

  it('a server down at open: open resolves unavailable, connects once it is up; errors of an outage are masked', async () => {
    const down = await BrokerProcess.nats({ jetstream: false, start: false, config: 'authorization { token: t0ken }' });
    brokers.push(down);
    const { broker, events } = await open(at(down, 't0ken'));
    assert.deepEqual(events.availability, [false]);
    await assert.rejects(broker.publish('t', Buffer.from('x'), false), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
    await down.start();
    await events.available(true);
    const other = await open(at(down, 't0ken'));
    await roundTrip(other.broker, Object.assign(events, { broker }), 'later');
    // Lost: a publish names the server, never its token.
    await down.kill();
    await events.available(false);
    await assert.rejects(broker.publish('t', Buffer.from('x'), false), (err: WebSocketError) => {
      assert.equal(err.code, 'ERR_WS_BROKER_UNAVAILABLE');
      assert.match(err.message, /no connection to nats:\/\/\*\*\*@127\.0\.0\.1:/);
      assert.ok(!err.message.includes('t0ken'), err.message);
      return true;
    });
  });

  it('refused on a reconnection (another token), again and again: it keeps trying, and serves once put right', {
    timeout: 120_000,
  }, async () => {
    const right = await tokens();
    const other = await server('authorization { token: 0ther }');
    const proxy = await SwitchProxy.start(right.port);
    try {
      const { broker, events } = await open(`nats://t0ken@127.0.0.1:${proxy.port}`);
      const idle = await open(`nats://t0ken@127.0.0.1:${proxy.port}`); // (no topic to restart)
      await broker.subscribe('back');
      proxy.switchTo(other.port);
      await events.available(false);
      // Told (it used to be retried in silence, publish rejected as if the server were down).
      const [told] = await events.refused();
      assert.equal(told!.code, 'ERR_WS_BROKER_REFUSED');
      assert.match(
        told!.message,
        /NATS refused the connection to nats:\/\/\*\*\*@127\.0\.0\.1:\d+: Authorization Violation$/,
      );
      assert.match((told!.cause as Error).message, /Authorization Violation/);
      await assert.rejects(broker.publish('back', Buffer.from('x'), false), { code: 'ERR_WS_BROKER_REFUSED' });
      // (the client used to stop for good after two refusals in a row)
      const since = proxy.connections;
      await proxy.made(since + 4);
      proxy.switchTo(right.port);
      await Promise.all([events.available(true), idle.events.available(true)]);
      const pub = await open(at(right, 't0ken'));
      await pub.broker.publish('back', Buffer.from('again'), false);
      const [m] = await events.received('back', 1);
      assert.equal(m!.data.toString(), 'again');
      // (checked after the round trip: the client reports a 'reconnect' for each refused attempt, all at once)
      assert.deepEqual(events.availability, [false, true], 'each change told once');
      assert.deepEqual(idle.events.availability, [false, true], 'each change told once');
      assert.equal(events.refusals.length, 1, 'the refusal told once, however many attempts');
    } finally {
      await proxy.close();
    }
  });

  it('the server’s "Authentication Timeout" at open (a CONNECT too late) is waited out, not a refusal', async () => {
    const slow = await server('authorization { token: t0ken, timeout: 0.2 }');
    const proxy = await SwitchProxy.start(slow.port);
    try {
      proxy.late = true;
      const { broker, events } = await open(`nats://t0ken@127.0.0.1:${proxy.port}`);
      assert.deepEqual(events.availability, [false]);
      await proxy.made(2); // (tried again in the background, late again)
      proxy.late = false;
      await events.available(true);
      await roundTrip(broker, Object.assign(events, { broker }), 'in-time');
    } finally {
      await proxy.close();
    }
  });
});
