/**
 * `serve --pubsub`: the largest message a publish may carry is an empty subscriber backlog, the
 * `message` envelope counted (about 96 bytes), and that backlog is raised by `--max-held-bytes`.
 * Before, the bound stayed 4 MiB whatever `--max-held-bytes` said: with a 16 MiB backlog a 6 MiB
 * publish was refused ERR_WS_MESSAGE_TOO_BIG. Real redis-server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { error, message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';

const MiB = 1024 * 1024;

describe('serve --pubsub --broker redis:// --max-held-bytes: the message size bound follows the backlog', () => {
  let redis: BrokerProcess;
  before(async () => {
    redis = await BrokerProcess.redis();
  });
  after(() => redis.stop());

  it('with --max-held-bytes 16 MiB, a 6 MiB message is delivered', async (t) => {
    const server = await startServer(['--pubsub', '--broker', redis.url, '--max-held-bytes', String(16 * MiB)]);
    t.after(() => server.stop());
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    await subscribe(c, 'six');
    const data = 'x'.repeat(6 * MiB);
    c.send({ op: 'publish', topic: 'six', data });
    assert.equal(await message(c, 'six', 1), data);
  });

  it('with --max-held-bytes 5 MiB, 6 MiB is refused naming 5 MiB and takes no offset; 4.5 MiB goes', async (t) => {
    const server = await startServer(['--pubsub', '--broker', redis.url, '--max-held-bytes', String(5 * MiB)]);
    t.after(() => server.stop());
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    await subscribe(c, 'five');
    c.send({ op: 'publish', topic: 'five', data: 'x'.repeat(6 * MiB) });
    const e = await error(c, 'ERR_WS_MESSAGE_TOO_BIG', 'a 6 MiB publish');
    assert.match(e.message, new RegExp(`at most ${5 * MiB} bytes`));
    const data = 'y'.repeat(4.5 * MiB);
    c.send({ op: 'publish', topic: 'five', data });
    assert.equal(await message(c, 'five', 1), data);
    assert.equal(c.ended, false);
  });

  it('without it, the bound is 4 MiB: the data as JSON, the quoted topic and 96 bytes counted', async (t) => {
    const server = await startServer(['--pubsub', '--broker', redis.url]);
    t.after(() => server.stop());
    const c = await JsonClient.connect(server.port);
    t.after(() => c.close());
    await subscribe(c, 'four');
    // data as JSON (quotes included) + the quoted topic ("four": 6) + 96 bytes must be ≤ 4 MiB
    c.send({ op: 'publish', topic: 'four', data: 'x'.repeat(4 * MiB - 96 - 6 - 2 + 1) });
    assert.match((await error(c, 'ERR_WS_MESSAGE_TOO_BIG', 'one byte over')).message, /at most 4194304 bytes/);
    const data = 'z'.repeat(4 * MiB - 96 - 6 - 2);
    c.send({ op: 'publish', topic: 'four', data });
    assert.equal(await message(c, 'four', 1), data);
  });
});
