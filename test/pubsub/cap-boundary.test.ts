/**
 * The slow-subscriber cap (`slowSubscriber.maxBytes`) is a bound a subscriber may reach, not one it
 * must stay under: a message whose frame is exactly the cap goes to an idle subscriber, recovered
 * from history as well as live, and only a byte more is too much.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { type DropEvent, PubSub } from '../../src/pubsub/index.js';
import { poll } from '../support/brokers.js';
import { startTestServer, subscriberPair, turnEnd } from './pubsub-support.js';

const server = await startTestServer();
after(() => server.close());

const MAX_BYTES = 1000;
/** A text payload whose frame (a 4-byte header: 126 to 65,535 bytes) is `frame` bytes. */
const sized = (tag: string, frame: number): string => tag.padEnd(frame - 4, '.');

describe('the backlog cap, exactly', () => {
  it('a frame of exactly maxBytes is replayed to a recovering subscriber, and sent live; one byte more is dropped', async (t) => {
    const ps = new PubSub({ slowSubscriber: { maxBytes: MAX_BYTES, policy: 'drop' } });
    t.after(() => ps.close());
    const drops: DropEvent[] = [];
    ps.on('drop', (e) => drops.push(e));
    const sub = await subscriberPair(server);
    t.after(() => sub.client.destroy());
    const first = await ps.publish('cap', sized('history', MAX_BYTES));
    const result = await ps.subscribe(sub.ws, 'cap', { since: { offset: 0, epoch: first.epoch } });
    assert.deepEqual(result, { offset: 0, epoch: first.epoch, recovered: true });
    const replayed = await sub.client.next();
    assert.equal(replayed.payload.length, MAX_BYTES - 4);
    assert.equal(replayed.payload.subarray(0, 7).toString(), 'history');
    await ps._replayed(sub.ws, 'cap'); // live from here on
    await ps.publish('cap', sized('over', MAX_BYTES + 1));
    await ps.publish('cap', sized('live', MAX_BYTES));
    // Its frame, queued at the end of the turn, fills the backlog until the socket has taken it:
    // only then is there room for more.
    await turnEnd();
    await poll(async () => sub.ws.bufferedAmount === 0);
    await ps.publish('cap', 'end');
    const got: string[] = [];
    while (got.at(-1) !== 'end') {
      const f = await sub.client.next();
      got.push(f.payload.length === MAX_BYTES - 4 ? f.payload.subarray(0, 4).toString() : f.payload.toString());
    }
    assert.deepEqual(got, ['live', 'end']);
    assert.deepEqual(
      drops.map((d) => [d.offset, d.bytes]),
      [[2, MAX_BYTES + 1]],
    );
  });
});
