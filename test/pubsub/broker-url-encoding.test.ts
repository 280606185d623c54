/**
 * Broker URLs whose user, password, token or host cannot be URL-decoded (a `%` without two hex
 * digits, bytes that are no UTF-8): one helper (`urlCredentials`) decides, and RedisBroker,
 * NatsBroker and `serve --broker` all say it in its words — ERR_WS_INVALID_ARGUMENT from the
 * constructors, before any connection (node-redis would throw a bare URIError from open()), a
 * usage error from the command line — naming which part, the secret masked.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkBrokerUrl, UsageError } from '../../src/cli/args.js';
import { WebSocketError } from '../../src/errors.js';
import { urlCredentials } from '../../src/pubsub/broker-support.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';

/** [URL, the part named, how the constructors and the CLI quote the URL]. */
const cases: [string, string, RegExp][] = [
  ['redis://:secret-1%zz@127.0.0.1:6379', 'password', /redis:\/\/:\*\*\*@127\.0\.0\.1:6379/],
  ['redis://us%zzer:secret-1@127.0.0.1:6379', 'user', /redis:\/\/us%zzer:\*\*\*@/],
  ['rediss://u:secret-1%E9@h:1/2', 'password', /rediss:\/\/u:\*\*\*@h:1\/2/],
  ['redis://127.0.0.1%zz:6379', 'host', /redis:\/\/127\.0\.0\.1%zz:6379/],
  ['nats://us%zzer:secret-1@127.0.0.1:4222', 'user', /nats:\/\/us%zzer:\*\*\*@/],
  ['nats://secret-1%zz@127.0.0.1:4222', 'user or token', /nats:\/\/\*\*\*@127\.0\.0\.1:4222/],
  ['nats://h:1,nats://u:secret-1%zz@h:2', 'password', /nats:\/\/u:\*\*\*@h:2/],
];

const detail = (part: string): string => `: bad percent-encoding in the ${part} (%XX: two hex digits, the bytes UTF-8)`;

it('urlCredentials: decoded user, password and host; a bad escape names the part, through the given error', () => {
  assert.deepEqual(urlCredentials(new URL('redis://u%40x:p%40ss%E2%82%AC@h%41:1'), 'L'), {
    user: 'u@x',
    password: 'p@ss€',
    host: 'hA',
  });
  assert.deepEqual(urlCredentials(new URL('nats://h:1'), 'L'), { user: '', password: '', host: 'h' });
  assert.throws(() => urlCredentials(new URL('redis://u:%zz@h'), 'LABEL'), {
    name: 'WebSocketError',
    code: 'ERR_WS_INVALID_ARGUMENT',
    message: `invalid argument: LABEL${detail('password')}`,
  });
  assert.throws(
    () => urlCredentials(new URL('redis://u:%zz@h'), 'LABEL', (d) => new RangeError(d)),
    (err: Error) => err instanceof RangeError && err.message === `LABEL${detail('password')}`,
  );
});

it('RedisBroker, NatsBroker and serve --broker: the same words for the same URL, the part named, the secret masked', () => {
  let checked = 0;
  for (const [url, part, quoted] of cases) {
    const make = url.startsWith('nats') ? (u: string) => new NatsBroker(u) : (u: string) => new RedisBroker({ url: u });
    assert.throws(
      () => make(url),
      (err: unknown) => {
        assert.ok(err instanceof WebSocketError, `${url}: ${String(err)}`);
        assert.equal(err.code, 'ERR_WS_INVALID_ARGUMENT', url);
        assert.ok(err.message.endsWith(detail(part)), `${url}: ${err.message}`);
        assert.match(err.message, /^invalid argument: (RedisBroker|NatsBroker): /, url);
        assert.match(err.message, quoted, url);
        assert.doesNotMatch(err.message, /secret-1/, url);
        return true;
      },
      url,
    );
    assert.throws(
      () => checkBrokerUrl(url),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, `${url}: ${String(err)}`);
        assert.ok(err.message.startsWith('--broker: "'), `${url}: ${err.message}`);
        assert.ok(err.message.endsWith(detail(part)), `${url}: ${err.message}`);
        assert.match(err.message, quoted, url);
        assert.doesNotMatch(err.message, /secret-1/, url);
        return true;
      },
      url,
    );
    checked++;
  }
  assert.equal(checked, cases.length);
});

it('credentials that decode are taken: the constructor does not throw', () => {
  new RedisBroker('redis://u:p%40ss%E2%82%AC@127.0.0.1:6379');
  new NatsBroker('nats://u:p%40ss@127.0.0.1:4222');
});
