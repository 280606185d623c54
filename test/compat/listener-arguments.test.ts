/**
 * addEventListener() arguments of the wrong kind, on the real `ws` and on ws-stream/ws. ws reads the options only
 * for each listener already there of that type and then for a type it knows, so `null` options throw there and
 * nowhere else; ws-stream/ws read them first and threw for any type. A listener that cannot be called: ws keeps it
 * and throws at the next event, out of the socket's emit (the process goes down); ws-stream/ws kept it too. Now
 * null or undefined is no listener (as in the DOM) and anything else that cannot be called is a TypeError from the
 * call (doc/ws-compat.md, "An event listener that cannot be called").
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compat, impls, listen, ws } from './support.js';

interface Target {
  addEventListener(type: unknown, listener: unknown, options?: unknown): void;
  removeEventListener(type: unknown, listener: unknown): void;
  listenerCount(type: string): number;
  send(d: string): void;
  close(): void;
}

const throwingOptions = new Proxy(
  {},
  {
    get() {
      throw new Error('trap');
    },
  },
);

for (const impl of impls) {
  describe(`${impl.name}: addEventListener options read as ws reads them`, () => {
    it('null or throwing options: no throw for a type ws ignores or on a first listener of no known type', () => {
      const client = new impl.WebSocket('ws://127.0.0.1:1/') as Target;
      (client as unknown as { on(e: string, f: () => void): void }).on('error', () => {});
      for (const type of [0, 'other', 'ping']) {
        client.addEventListener(type, () => {}, null);
        client.addEventListener(type, () => {}, throwingOptions);
      }
      assert.equal(client.listenerCount('ping'), 0);
      // A type ws knows: the options are read.
      assert.throws(() => client.addEventListener('message', () => {}, null), {
        name: 'TypeError',
        message: "Cannot read properties of null (reading 'Symbol(kIsForOnEventAttribute)')",
      });
      assert.throws(() => client.addEventListener('open', () => {}, throwingOptions), /trap/);
      assert.equal(client.listenerCount('message'), 0);
    });
  });
}

describe('an event listener that cannot be called', () => {
  it('ws takes it (and would throw at the next event); ws-stream/ws throws a TypeError, null is none', async (t) => {
    const wsClient = new ws.WebSocket('ws://127.0.0.1:1/') as Target;
    (wsClient as unknown as { on(e: string, f: () => void): void }).on('error', () => {});
    const ours = new compat.WebSocket('ws://127.0.0.1:1/') as Target;
    (ours as unknown as { on(e: string, f: () => void): void }).on('error', () => {});
    for (const listener of [5, 'x', true, {}, { handleEvent: 5 }]) {
      wsClient.addEventListener('message', listener);
      assert.equal(wsClient.listenerCount('message'), 1);
      wsClient.removeEventListener('message', listener);
      assert.throws(() => ours.addEventListener('message', listener), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
        message: /^The "listener" argument must be a function or an object with a handleEvent method\. Received /,
      });
    }
    for (const listener of [null, undefined]) ours.addEventListener('message', listener);
    assert.equal(ours.listenerCount('message'), 0);

    // And on an open socket a message after them reaches the listeners that can be called, nothing escapes.
    const { wss, port } = await listen(t, compat);
    wss.on('connection', (s: Target) => s.send('hello'));
    const client = new compat.WebSocket(`ws://127.0.0.1:${port}/`) as Target;
    const got: string[] = [];
    client.addEventListener('message', null);
    assert.throws(() => client.addEventListener('message', 7), TypeError);
    client.addEventListener('message', { handleEvent: (e: { data: string }) => got.push(`object:${e.data}`) });
    client.addEventListener('message', (e: { data: string }) => got.push(`function:${e.data}`));
    await once(client as never, 'message');
    assert.deepEqual(got, ['object:hello', 'function:hello']);
    client.close();
    await once(client as never, 'close');
  });
});
