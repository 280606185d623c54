/**
 * `serve --pubsub --broker URL` against brokers deployed as users deploy them, all real servers
 * started here: Redis with `requirepass`, ACL users and TLS; NATS with a user and password, a
 * token, a list of servers, TLS, and without JetStream. A wrong password or token (Redis or NATS),
 * or a TLS certificate node does not trust, ends `serve` before it listens, non-zero, with one line
 * that never repeats the password.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { checkBrokerUrl } from '../../src/cli/args.js';
import { startServer } from '../conformance/raw-client.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { serveToExit } from '../pubsub/refuse-support.js';
import { BrokerProcess, freePort } from '../support/brokers.js';
import { redisTlsArgs, selfSigned } from '../support/tls-cert.js';

type Server = Awaited<ReturnType<typeof startServer>>;

describe('serve --pubsub --broker with credentials', () => {
  const brokers: BrokerProcess[] = [];
  const servers: Server[] = [];
  const clients: JsonClient[] = [];
  after(async () => {
    for (const c of clients) c.sock.destroy();
    for (const s of servers) await s.stop();
    for (const b of brokers) await b.stop();
  });
  async function serve(url: string): Promise<number> {
    const server = await startServer(['--pubsub', '--broker', url]);
    servers.push(server);
    return server.port;
  }
  async function client(port: number): Promise<JsonClient> {
    const c = await JsonClient.connect(port);
    clients.push(c);
    return c;
  }
  /** A message published on `from` reaches a subscriber on `to` (the same server or another). */
  async function goesThrough(from: number, to: number, topic: string): Promise<void> {
    const [sub, pub] = [await client(to), await client(from)];
    await subscribe(sub, topic);
    pub.send({ op: 'publish', topic, data: `hello ${topic}` });
    assert.equal(await message(sub, topic, 1), `hello ${topic}`);
  }
  const withAuth = (b: BrokerProcess, auth: string, path = ''): string =>
    `${b.url.replace('://', `://${auth}@`)}${path}`;

  it('checkBrokerUrl: tls:// is NATS; a refused URL is quoted with its password or token masked', () => {
    assert.deepEqual(checkBrokerUrl('TLS://t@h:1,tls://h:2'), { kind: 'nats', url: 'tls://t@h:1,tls://h:2' });
    const refused: [string, string][] = [
      ['redis://:pw-1@h:1/x', '"redis://:***@h:1/x"'],
      ['nats://u:pw-1@h:1/path', '"nats://u:***@h:1/path"'],
      ['tls://pw-1@h:0', '"tls://***@h:0"'],
      ['tls://pw-1@h:1,nats://h:2', '"tls://***@h:1,nats://h:2"'], // (nats:// and tls:// in one list)
      ['foo://u:pw-1@h', '"foo://u:***@h"'],
    ];
    for (const [value, quoted] of refused) {
      assert.throws(
        () => checkBrokerUrl(value),
        (err: Error) => err.message.includes(quoted) && !err.message.includes('pw-1'),
        value,
      );
    }
  });

  it('redis requirepass (redis://:pass@H:P) and an ACL user (redis://user:pass@H:P)', async () => {
    const broker = await BrokerProcess.redis({
      args: ['--requirepass', 's3cret', '--user', 'alice', 'on', '>alice-pw', '~*', '&*', '+@all'],
    });
    brokers.push(broker);
    const a = await serve(withAuth(broker, ':s3cret'));
    const b = await serve(withAuth(broker, 'alice:alice-pw'));
    await goesThrough(a, b, 'auth');
  });

  it('redis: a wrong password ends serve before it listens, with one line and no password', async () => {
    const broker = await BrokerProcess.redis({ args: ['--requirepass', 's3cret'] });
    brokers.push(broker);
    for (const auth of [':wrong-pw-1', 'nobody:wrong-pw-1']) {
      const { code, out, err } = await serveToExit(withAuth(broker, auth));
      assert.equal(code, 1, out + err);
      assert.equal(out, '');
      assert.match(err, /^ws-stream: .*WRONGPASS.*\n$/);
      assert.doesNotMatch(err, /wrong-pw-1/);
    }
  });

  it('redis lost after serve started: the error a client gets names the server, never its password', async () => {
    const broker = await BrokerProcess.redis({ args: ['--requirepass', 's3cret'] });
    brokers.push(broker);
    const port = await serve(withAuth(broker, ':s3cret'));
    const c = await client(port);
    await subscribe(c, 'lost');
    await broker.kill();
    // (the server learns of the loss by itself: subscribe until the broker's refusal names the
    // server; a subscribe sent while the loss is being noticed fails on its own command first)
    let reply: { op: string; code?: string; message?: string };
    let n = 0;
    do {
      c.send({ op: 'subscribe', topic: `lost-${n++}` });
      reply = await c.next();
      if (reply.op === 'error') {
        assert.equal(reply.code, 'ERR_WS_BROKER_UNAVAILABLE', JSON.stringify(reply));
        assert.doesNotMatch(reply.message!, /s3cret/);
      }
    } while (reply.op !== 'error' || !/no connection to/.test(reply.message!));
    assert.match(reply.message!, /no connection to redis:\/\/:\*\*\*@127\.0\.0\.1:/);
  });

  it('redis: no password where one is required, and an ACL user without scripting, end serve at open', async () => {
    const broker = await BrokerProcess.redis({
      args: ['--requirepass', 's3cret', '--user', 'limited', 'on', '>limited-pw', '~*', '&*', '+@all', '-script'],
    });
    brokers.push(broker);
    const cases: [string, RegExp][] = [
      [broker.url, /NOAUTH/],
      [withAuth(broker, 'limited:limited-pw'), /NOPERM.*script/],
    ];
    for (const [url, reason] of cases) {
      const { code, out, err } = await serveToExit(url);
      assert.equal(code, 1, out + err);
      assert.match(err, /^ws-stream: the pub\/sub broker refused: .*\n$/);
      assert.match(err, reason);
      assert.doesNotMatch(err, /limited-pw/);
    }
  });

  it('rediss:// (TLS), the CA given to serve through NODE_EXTRA_CA_CERTS', async () => {
    const { cert, key } = selfSigned();
    const tlsPort = await freePort();
    const broker = await BrokerProcess.redis({
      args: [...redisTlsArgs(tlsPort, { cert, key }), '--requirepass', 's3cret'],
    });
    brokers.push(broker);
    const url = `rediss://:s3cret@127.0.0.1:${tlsPort}`;
    // Without the CA, the certificate is refused for good: serve says so and exits.
    const refused = await serveToExit(url);
    assert.equal(refused.code, 1, refused.out + refused.err);
    assert.match(refused.err, /^ws-stream: .*self-signed certificate.*\n$/);
    assert.doesNotMatch(refused.err, /s3cret/);
    process.env.NODE_EXTRA_CA_CERTS = cert; // (read by each serve child at its start)
    try {
      const a = await serve(url);
      const b = await serve(url);
      await goesThrough(a, b, 'tls');
    } finally {
      delete process.env.NODE_EXTRA_CA_CERTS;
    }
  });

  it('nats user/password (nats://u:p@H:P), a token (nats://token@H:P), and a list with one server down', async () => {
    const users = await BrokerProcess.nats({ jetstream: false, config: 'authorization { user: u, password: p4ss }' });
    const token = await BrokerProcess.nats({ jetstream: false, config: 'authorization { token: t0ken }' });
    brokers.push(users, token);
    const a = await serve(withAuth(users, 'u:p4ss'));
    const b = await serve(withAuth(users, 'u:p4ss'));
    await goesThrough(a, b, 'user');
    const t = await serve(withAuth(token, 't0ken'));
    await goesThrough(t, t, 'token');
    // (the client tries the servers of the list in random order: either order must end on the live one)
    const down = `nats://t0ken@127.0.0.1:${await freePort()}`;
    const listed = await serve(`${down},${withAuth(token, 't0ken')}`);
    await goesThrough(listed, t, 'list');
  });

  it('nats: a wrong password or token, or none, ends serve before it listens, with one line and no secret', async () => {
    const users = await BrokerProcess.nats({ jetstream: false, config: 'authorization { user: u, password: p4ss }' });
    const token = await BrokerProcess.nats({ jetstream: false, config: 'authorization { token: t0ken }' });
    brokers.push(users, token);
    const down = `nats://127.0.0.1:${await freePort()}`;
    const cases = [
      withAuth(users, 'u:wrong-pw-1'),
      withAuth(users, 'nobody:wrong-pw-1'),
      withAuth(token, 'wrong-pw-1'),
      `${down},${withAuth(token, 'wrong-pw-1')}`,
      token.url,
    ];
    for (const url of cases) {
      const { code, out, err } = await serveToExit(url);
      assert.equal(code, 1, out + err);
      assert.equal(out, '');
      assert.match(err, /^ws-stream: the pub\/sub broker refused: .*Authorization Violation\n$/);
      assert.doesNotMatch(out + err, /wrong-pw-1|t0ken|p4ss/);
    }
  });

  it('nats over TLS (tls://), the CA given to serve through NODE_EXTRA_CA_CERTS', async () => {
    const { cert, key } = selfSigned();
    const broker = await BrokerProcess.nats({
      jetstream: false,
      config: `tls { cert_file: "${cert}", key_file: "${key}" }\nauthorization { token: t0ken }`,
    });
    brokers.push(broker);
    const url = `tls://t0ken@127.0.0.1:${broker.port}`;
    // Without the CA, the certificate is refused for good: serve says so and exits.
    const refused = await serveToExit(url);
    assert.equal(refused.code, 1, refused.out + refused.err);
    assert.match(refused.err, /^ws-stream: .*self-signed certificate\n$/);
    assert.doesNotMatch(refused.out + refused.err, /t0ken/);
    process.env.NODE_EXTRA_CA_CERTS = cert; // (read by each serve child at its start)
    try {
      const a = await serve(url);
      const b = await serve(url);
      await goesThrough(a, b, 'tls');
    } finally {
      delete process.env.NODE_EXTRA_CA_CERTS;
    }
  });

  it('nats without JetStream: live across two serve processes; since → recovered:false', async () => {
    const broker = await BrokerProcess.nats({ jetstream: false });
    brokers.push(broker);
    const a = await serve(broker.url);
    const b = await serve(broker.url);
    await goesThrough(a, b, 'live');
    const late = await client(b);
    const r = await subscribe(late, 'live', { offset: 0, epoch: 'none' });
    assert.equal(r.recovered, false, JSON.stringify(r));
  });
});
