/** OwnDeliveries (broker-support.ts): which publications' waits end when a topic is delivered up to an offset. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OwnDeliveries } from '../../src/pubsub/broker-support.js';

/** The waits' settled flags once every callback queued so far has run. */
async function settled(flags: boolean[]): Promise<boolean[]> {
  await new Promise((resolve) => setImmediate(resolve));
  return [...flags];
}

function track(promises: Promise<void>[]): boolean[] {
  const flags = promises.map(() => false);
  for (const [i, p] of promises.entries()) {
    void p.then(() => {
      flags[i] = true;
    });
  }
  return flags;
}

const LONG = 600_000;

it('waits end in offset order as their topic is delivered; other topics are not touched', async () => {
  const own = new OwnDeliveries();
  const flags = track([
    own.wait('t', { offset: 5, epoch: 'e' }, LONG),
    own.wait('t', { offset: 6, epoch: 'e' }, LONG),
    own.wait('u', { offset: 1, epoch: 'e' }, LONG),
  ]);
  own.reached('t', 'e', 4);
  assert.deepEqual(await settled(flags), [false, false, false]);
  own.delivered({ topic: 't', offset: 5, epoch: 'e', data: Buffer.alloc(0), binary: false });
  assert.deepEqual(await settled(flags), [true, false, false]);
  own.reached('t', 'e', 9); // a position past it (published before the subscription)
  assert.deepEqual(await settled(flags), [true, true, false]);
  own.release('u');
  assert.deepEqual(await settled(flags), [true, true, true]);
});

it('waits of two epochs: each ends with its own epoch, whatever their order; release ends the rest', async () => {
  const own = new OwnDeliveries();
  const flags = track([
    own.wait('t', { offset: 7, epoch: 'old' }, LONG),
    own.wait('t', { offset: 1, epoch: 'new' }, LONG),
    own.wait('t', { offset: 2, epoch: 'new' }, LONG),
  ]);
  own.reached('t', 'new', 1);
  assert.deepEqual(await settled(flags), [false, true, false]);
  own.reached('t', 'old', 3);
  assert.deepEqual(await settled(flags), [false, true, false]);
  own.release();
  assert.deepEqual(await settled(flags), [true, true, true]);
  own.reached('t', 'new', 2); // nothing left: no throw
});

it('a wait nothing ends ends by itself after its time', async () => {
  const own = new OwnDeliveries();
  // The wait's timer does not hold the process open (by design); this one does, for the test.
  const hold = setInterval(() => {}, 1000);
  try {
    await own.wait('t', { offset: 1, epoch: 'e' }, 1);
  } finally {
    clearInterval(hold);
  }
  own.reached('t', 'e', 1); // already gone from the list
});

it('waits answered out of offset order: a reached one ends though a later offset waits before it', async () => {
  const own = new OwnDeliveries();
  const flags = track([
    own.wait('t', { offset: 6, epoch: 'e' }, LONG),
    own.wait('t', { offset: 5, epoch: 'e' }, LONG),
    own.wait('t', { offset: 9, epoch: 'e' }, LONG),
  ]);
  own.reached('t', 'e', 5);
  assert.deepEqual(await settled(flags), [false, true, false]);
  own.reached('t', 'e', 6);
  assert.deepEqual(await settled(flags), [true, true, false]);
  own.reached('t', 'e', 9);
  assert.deepEqual(await settled(flags), [true, true, true]);
  // Forgotten with its last wait: the topic's next waits are in order again.
  const next = track([
    own.wait('t', { offset: 10, epoch: 'e' }, LONG),
    own.wait('t', { offset: 11, epoch: 'e' }, LONG),
  ]);
  own.reached('t', 'e', 10);
  assert.deepEqual(await settled(next), [true, false]);
  own.release();
});
