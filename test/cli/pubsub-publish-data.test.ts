/**
 * `ws-stream serve --pubsub`, a publish's `data` checks on a real server process: a number too
 * large for a double is refused only when it is in `data` (not in another field), and an oversized
 * message is refused as too big whatever numbers it holds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { error, message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';

describe('serve --pubsub: publish data checks', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer(['--pubsub']);
  });
  after(() => server.stop());

  it('a huge number outside data does not refuse the publish; in data it does; nulls pass', async (t) => {
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    await subscribe(c, 'n');
    c.send('{"op":"publish","topic":"n","data":"x","note":1e400}');
    assert.equal(await message(c, 'n', 1), 'x');
    c.send('{"op":"publish","topic":"n","data":[null,{"a":null}],"extra":[-2e999]}');
    assert.deepEqual(await message(c, 'n', 2), [null, { a: null }]);
    c.send('{"op":"publish","topic":"n","data":"null 1e400"}');
    assert.equal(await message(c, 'n', 3), 'null 1e400');
    c.send('{"op":"publish","topic":"n","data":[null,{"a":[1e400]}]}');
    assert.match((await error(c, 'ERR_WS_INVALID_ARGUMENT', 'data 1e400')).message, /too large for a double/);
    // Nothing refused took an offset.
    c.send({ op: 'publish', topic: 'n', data: 'last' });
    assert.equal(await message(c, 'n', 4), 'last');
  });

  it('a message over the size limit is refused as too big, even with a huge number in it', async (t) => {
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    await subscribe(c, 'big');
    c.send(`{"op":"publish","topic":"big","data":["${'x'.repeat(5 * 1024 * 1024)}",1e400]}`);
    await error(c, 'ERR_WS_MESSAGE_TOO_BIG', 'over the size limit');
    c.send({ op: 'publish', topic: 'big', data: 'fits' });
    assert.equal(await message(c, 'big', 1), 'fits');
  });
});
