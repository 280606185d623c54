/**
 * Constructor arguments no type checker stops: a PubSub given something that is not a broker, a
 * Redis or NATS broker given a number or a non-string URL or prefix. Each is ERR_WS_INVALID_ARGUMENT
 * at once — before, a PubSub failed later with a bare TypeError, and `new RedisBroker(6379)` was
 * quietly a broker on the default URL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBroker, NatsBroker, PubSub, RedisBroker } from '../../src/pubsub/index.js';

const invalid = (message: RegExp) => ({ code: 'ERR_WS_INVALID_ARGUMENT', message });

describe('hostile constructor arguments', () => {
  it('PubSub and MemoryBroker: options that are not an object, a broker that is not a Broker', () => {
    for (const options of [null, 42, 'redis://x']) {
      assert.throws(() => new PubSub(options as never), invalid(/options must be an object/), String(options));
      assert.throws(() => new MemoryBroker(options as never), invalid(/options must be an object/), String(options));
    }
    for (const broker of [null, 42, 'redis://127.0.0.1', {}, { open() {} }, () => {}]) {
      assert.throws(() => new PubSub({ broker: broker as never }), invalid(/broker must be a Broker/), String(broker));
    }
  });

  for (const [name, Broker, url] of [
    ['RedisBroker', RedisBroker, 'redis://127.0.0.1:1'],
    ['NatsBroker', NatsBroker, 'nats://127.0.0.1:1'],
  ] as const) {
    it(`${name}: not a URL string nor an options object; a url or prefix that is not a string`, () => {
      for (const arg of [6379, null, Symbol('url'), [url], true]) {
        assert.throws(
          () => new Broker(arg as never),
          invalid(new RegExp(`${name}: expected a URL string or an options object`)),
          typeof arg,
        );
      }
      for (const key of ['url', 'prefix']) {
        for (const value of [42, null, {}, Symbol('v')]) {
          assert.throws(
            () => new Broker({ url, [key]: value } as never),
            invalid(new RegExp(`${name}: ${key} must be a string`)),
            `${key}: ${typeof value}`,
          );
        }
      }
      // An option left undefined takes its default (it does not replace it with undefined).
      const broker = new Broker({ url, prefix: undefined, commandTimeoutMs: undefined });
      assert.ok(broker);
    });
  }
});
