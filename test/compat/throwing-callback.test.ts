/**
 * A send callback that throws: the error is an uncaught exception, as in ws, and nothing else changes. The sends
 * behind it are still answered `null` once written (before, ws-stream/ws answered them ERR_STREAM_DESTROYED at the
 * close although their messages went), and a connection terminated with such callbacks waiting still emits 'close'
 * (before, the throw cut short the stream's bookkeeping of the write and 'close' never came: a server's `clients`
 * kept the socket for ever). Each engine runs in a child process (throwing-callback.ts), which records its
 * uncaught exceptions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runJsonChild } from '../support/child-json.js';
import { impls } from './support.js';

interface Record {
  callbacks: string[];
  uncaught: string[];
  echoes: string[];
  close: string;
}

function run(impl: string, scenario: 'sends' | 'terminate'): Promise<Record> {
  return runJsonChild<Record>(new URL('./throwing-callback.js', import.meta.url), [impl, scenario]);
}

for (const impl of impls) {
  describe(`${impl.name}: a send callback that throws`, () => {
    it('its error is uncaught; the sends behind it still get null, and the connection closes cleanly', async () => {
      const r = await run(impl.name, 'sends');
      assert.deepEqual(r.callbacks, ['1 null', '2 null', '3 null']);
      assert.deepEqual(r.uncaught, ['thrown by callback 1']);
      assert.deepEqual(r.echoes, ['1', '2', '3']);
      assert.equal(r.close, '1000 readyState 3');
    });

    it("terminate() with such callbacks waiting: 'close' (1006) still comes", async () => {
      const r = await run(impl.name, 'terminate');
      assert.equal(r.close, '1006 readyState 3');
      // ws answers the first (its write was in flight) and loses the ones behind it when it throws.
      assert.equal(r.callbacks[0], '1 null');
      assert.equal(new Set(r.callbacks.map((c) => c.split(' ')[0])).size, r.callbacks.length, 'a callback came twice');
      assert.deepEqual(
        r.uncaught,
        r.callbacks.map((c) => `thrown by callback ${c.split(' ')[0]}`),
      );
    });
  });
}
