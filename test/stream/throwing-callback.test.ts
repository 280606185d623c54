/**
 * A callback given to the stream that throws: its error is an uncaught exception (thrown again a tick later) and
 * nothing else changes. Before, the throw cut short the loop that called it: the callbacks of the other writes in
 * the same batch never came, and the flush and flow update after the write were skipped; a read callback's throw
 * cut short the handling of the chunk it came from (the next message was lost), and so did a `controlCallback`'s. Each scenario runs in a child process (throwing-callback.ts),
 * which records its uncaught exceptions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runJsonChild } from '../support/child-json.js';

interface Record {
  callbacks: string[];
  uncaught: string[];
  received: string[];
}

function run(scenario: 'writes' | 'writes-signal' | 'reads' | 'control'): Promise<Record> {
  return runJsonChild<Record>(new URL('./throwing-callback.js', import.meta.url), [scenario]);
}

describe('a callback that throws', () => {
  for (const scenario of ['writes', 'writes-signal'] as const) {
    it(`write()${scenario === 'writes' ? '' : ' with a signal'}: the other writes of the batch are still answered null, all go out, and a later write too`, async () => {
      const r = await run(scenario);
      assert.deepEqual(r.callbacks, ['write 1 null', 'write 2 null', 'write 3 null', 'write 4 null']);
      assert.deepEqual(r.received, ['1', '2', '3', '4', 'end']);
      assert.deepEqual(r.uncaught, ['thrown by callback write 1']);
    });
  }

  it('read(): the next message of the same chunk is still read', async () => {
    const r = await run('reads');
    assert.deepEqual(r.callbacks, ['read 1 one', 'read 2 two']);
    assert.deepEqual(r.received, ['end']);
    assert.deepEqual(r.uncaught, ['thrown by callback read 1']);
  });

  it('controlCallback: the ping is answered and the message behind it in the same chunk is still read', async () => {
    const r = await run('control');
    assert.deepEqual(r.callbacks, ['control ping p', 'read after the ping']);
    assert.deepEqual(r.received, ['pong p', 'end']);
    assert.deepEqual(r.uncaught, ['thrown by callback control ping']);
  });
});
