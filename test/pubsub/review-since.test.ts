/**
 * `subscribe(ws, topic, { since })` reads `since` when it is called: it is checked then, and the
 * recovery it asks for is the one made from it. An application that keeps its client's position
 * in one object and moves it on (as messages of another subscription come in, say) while the
 * subscribe is in flight must not change what is recovered, nor pass what was checked with
 * something that was not (a getter answering the check one value and the recovery another).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

describe('subscribe reads since once, when called', () => {
  it('a since object moved on after subscribe was called recovers from where it stood then', async (t) => {
    const ps = new PubSub();
    const server = await startTestServer();
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    let at = { offset: 0, epoch: '' };
    for (let i = 1; i <= 5; i++) at = await ps.publish('t', `m${i}`);
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    const position = { offset: 2, epoch: at.epoch };
    const joined = ps.subscribe(ws, 't', { since: position });
    position.offset = 4; // the application's own bookkeeping moves on meanwhile
    assert.deepEqual(await joined, { offset: 2, epoch: at.epoch, recovered: true });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push((await client.nextMessage()).payload.toString());
    assert.deepEqual(got, ['m3', 'm4', 'm5']);
  });

  it('a since whose fields change as they are read is judged by one reading of them', async (t) => {
    const ps = new PubSub();
    const server = await startTestServer();
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    let at = { offset: 0, epoch: '' };
    for (let i = 1; i <= 5; i++) at = await ps.publish('t', `m${i}`);
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    // Well-formed when checked, then not: every reading after the first gives a string.
    let reads = 0;
    const since = {
      get offset(): number {
        return (reads++ === 0 ? 3 : 'x') as number;
      },
      epoch: at.epoch,
    };
    const r = await ps.subscribe(ws, 't', { since });
    assert.deepEqual(r, { offset: 3, epoch: at.epoch, recovered: true });
    const got: string[] = [];
    for (let i = 0; i < 2; i++) got.push((await client.nextMessage()).payload.toString());
    assert.deepEqual(got, ['m4', 'm5']);
  });
});
