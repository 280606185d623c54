/**
 * RedisBroker and NatsBroker given a URL whose user, password or token cannot be URL-decoded (a
 * `%` without two hex digits, bytes that are no UTF-8): the constructor throws ERR_WS_INVALID_ARGUMENT
 * naming the URL with its secret masked, before any connection (node-redis would throw a bare
 * URIError from open()).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { WebSocketError } from '../../src/errors.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';

const cases: [string, (url: string) => unknown, RegExp][] = [
  ['redis://:secret-1%zz@127.0.0.1:6379', (u) => new RedisBroker(u), /redis:\/\/:\*\*\*@127\.0\.0\.1:6379/],
  ['redis://us%zzer:secret-1@127.0.0.1:6379', (u) => new RedisBroker({ url: u }), /redis:\/\/us%zzer:\*\*\*@/],
  ['rediss://u:secret-1%E9@h:1/2', (u) => new RedisBroker(u), /rediss:\/\/u:\*\*\*@h:1\/2/],
  ['nats://us%zzer:secret-1@127.0.0.1:4222', (u) => new NatsBroker(u), /nats:\/\/us%zzer:\*\*\*@/],
  ['nats://secret-1%zz@127.0.0.1:4222', (u) => new NatsBroker(u), /nats:\/\/\*\*\*@127\.0\.0\.1:4222/],
  ['nats://h:1,nats://u:secret-1%zz@h:2', (u) => new NatsBroker({ url: u }), /nats:\/\/u:\*\*\*@h:2/],
];

it('a URL whose credentials do not decode: ERR_WS_INVALID_ARGUMENT at construction, the secret masked', () => {
  for (const [url, make, shown] of cases) {
    assert.throws(
      () => make(url),
      (err: unknown) => {
        assert.ok(err instanceof WebSocketError, `${url}: ${String(err)}`);
        assert.equal(err.code, 'ERR_WS_INVALID_ARGUMENT', url);
        assert.match(err.message, /not URL-encoded/, url);
        assert.match(err.message, shown, url);
        assert.doesNotMatch(err.message, /secret-1/, url);
        return true;
      },
      url,
    );
  }
});

it('credentials that decode are taken: the constructor does not throw', () => {
  new RedisBroker('redis://u:p%40ss%E2%82%AC@127.0.0.1:6379');
  new NatsBroker('nats://u:p%40ss@127.0.0.1:4222');
});
