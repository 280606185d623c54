/**
 * `_replayed` (what `serve --pubsub` waits for before it reads a connection's next request) ends
 * once the recovered history has been handed to the socket, not while it is still being replayed:
 * asked after the replay started, it waits for the rest of it too.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

const server = await startTestServer();
after(() => server.close());

const COUNT = 400;
const SIZE = 64 * 1024;

/** Resolves after the callbacks of the current turn and the next one (I/O and timers left alone). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('_replayed', () => {
  it('asked while a recovery is being replayed, it waits for the end of the replay', async (t) => {
    const ps = new PubSub({ history: { size: COUNT, bytes: COUNT * SIZE } });
    t.after(() => ps.close());
    const sub = await subscriberPair(server);
    t.after(() => sub.client.destroy());
    let since = { offset: 0, epoch: '' };
    for (let i = 0; i < COUNT; i++) {
      const at = await ps.publish('r', `${String(i).padStart(6, '0')} ${'h'.repeat(SIZE - 7)}`);
      if (i === 0) since = { offset: 0, epoch: at.epoch };
    }
    // The client reads nothing yet: 25 MB of history cannot all go out before it reads.
    sub.client.sock.pause();
    const result = await ps.subscribe(sub.ws, 'r', { since });
    assert.deepEqual(result, { offset: 0, epoch: since.epoch, recovered: true });
    await nextTurn(); // the replay has started
    let ended = false;
    const replayed = ps._replayed(sub.ws, 'r').then(() => {
      ended = true;
    });
    await nextTurn();
    assert.equal(ended, false, 'the replay is not over');
    sub.client.sock.resume();
    for (let i = 0; i < COUNT; i++) {
      const m = await sub.client.nextMessage();
      assert.equal(m.payload.subarray(0, 6).toString(), String(i).padStart(6, '0'));
    }
    await replayed; // and then it ends
  });
});
