/**
 * A `since.offset` past 2^53 − 1 is refused with a message that says so: 2^53 and 1e300 are
 * integers, and were refused as "since.offset must be an integer ≥ 0" (a `serve --pubsub` client
 * sending `"since":{"offset":9007199254740992,…}` was told its integer was not one).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

it('since.offset over Number.MAX_SAFE_INTEGER is ERR_WS_INVALID_ARGUMENT naming the range', async (t) => {
  const ps = new PubSub();
  const server = await startTestServer();
  const { client, ws } = await subscriberPair(server);
  t.after(async () => {
    client.destroy();
    await ps.close();
    await server.close();
  });
  for (const offset of [2 ** 53, 1e300, -1, 1.5]) {
    await assert.rejects(ps.subscribe(ws, 't', { since: { offset, epoch: 'e' } }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
      message: /since\.offset must be an integer from 0 to 2\^53 − 1/,
    });
  }
  const { epoch } = await ps.subscribe(ws, 't');
  assert.deepEqual(await ps.subscribe(ws, 'u', { since: { offset: 2 ** 53 - 1, epoch } }), {
    offset: 0,
    epoch,
    recovered: false,
  });
});
