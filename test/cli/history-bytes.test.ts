/**
 * `ws-stream serve --pubsub --history-bytes N` and `--history-total-bytes N`: read strictly (as the
 * other counts), and passed to the history of the server's broker, in one process and in the
 * cluster primary of `--workers 2`: a recovery from before what a bound trimmed is
 * `recovered: false`, a later one is recovered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { runRefused } from './cli-support.js';

async function clientsOf(t: { after(f: () => Promise<void>): void }, args: string[]) {
  const server = await startServer(['--pubsub', ...args]);
  const clients: JsonClient[] = [];
  t.after(async () => {
    for (const c of clients) c.sock.destroy();
    await server.stop();
  });
  return async (): Promise<JsonClient> => {
    const c = await JsonClient.connect(server.port);
    clients.push(c);
    return c;
  };
}

describe('serve --pubsub --history-bytes, --history-total-bytes', () => {
  const refused: [string[], RegExp][] = [
    [['--pubsub', '--history-bytes', ''], /--history-bytes takes a whole number from 0 to 4294967296, not ""/],
    [['--pubsub', '--history-bytes', '1e6'], /--history-bytes .* not "1e6"/],
    [['--pubsub', '--history-bytes', '0x10'], /--history-bytes/],
    [['--pubsub', '--history-bytes', '2.5'], /--history-bytes/],
    [['--pubsub', '--history-bytes=-1'], /--history-bytes/],
    [['--pubsub', '--history-bytes', '4294967297'], /--history-bytes/],
    [['--pubsub', '--history-bytes', ' 10'], /--history-bytes/],
    [['--pubsub', '--history-bytes', '16MiB'], /--history-bytes/],
    [['--history-bytes', '10'], /--history-bytes goes with --pubsub/],
    [['--pubsub', '--history-total-bytes', ''], /--history-total-bytes takes a whole number from 0 to 1099511627776/],
    [['--pubsub', '--history-total-bytes', '1099511627777'], /--history-total-bytes/],
    [['--pubsub', '--history-total-bytes', '-5'], /--history-total-bytes/],
    [['--pubsub', '--history-total-bytes', '1k'], /--history-total-bytes/],
    [['--history-total-bytes', '10'], /--history-total-bytes goes with --pubsub/],
    // Only the in-memory store (this process, or the cluster primary) has a total: refused, not ignored.
    [
      ['--pubsub', '--history-total-bytes', '1000', '--broker', 'redis://127.0.0.1:6379'],
      /--history-total-bytes bounds the in-memory history .*with --broker/,
    ],
    [['--pubsub', '--broker', 'nats://127.0.0.1:4222', '--history-total-bytes=0'], /--history-total-bytes/],
  ];
  for (const [args, said] of refused) {
    it(`refuses ${JSON.stringify(args)}: exit 2, stderr names the option`, async () => {
      const r = await runRefused(args);
      assert.equal(r.code, 2, `exit code; stderr: ${r.err}`);
      assert.match(r.err, said);
      assert.equal(r.out, '');
    });
  }

  for (const mode of [[], ['--workers', '2']]) {
    it(`keeps at most N payload bytes per topic${mode.length ? ' (--workers 2: in the primary)' : ''}`, async (t) => {
      // Each message's payload is its data as JSON: "aa" is 4 bytes; 10 bytes keep the newest 2.
      const connect = await clientsOf(t, ['--history-bytes', '10', ...mode]);
      const pub = await connect();
      const start = await subscribe(pub, 'r');
      for (const data of ['aa', 'bb', 'cc']) pub.send({ op: 'publish', topic: 'r', data });
      for (const [i, data] of ['aa', 'bb', 'cc'].entries()) assert.equal(await message(pub, 'r', i + 1), data);
      const late = await connect();
      const trimmed = await subscribe(late, 'r', { offset: 0, epoch: start.epoch });
      assert.deepEqual([trimmed.offset, trimmed.epoch, trimmed.recovered], [3, start.epoch, false]);
      const c = await connect();
      const kept = await subscribe(c, 'r', { offset: 1, epoch: start.epoch });
      assert.deepEqual([kept.offset, kept.recovered], [1, true]);
      assert.equal(await message(c, 'r', 2), 'bb');
      assert.equal(await message(c, 'r', 3), 'cc');
    });

    it(`keeps at most N payload bytes for all topics together${mode.length ? ' (--workers 2: in the primary)' : ''}`, async (t) => {
      const connect = await clientsOf(t, ['--history-total-bytes', '8', ...mode]);
      const pub = await connect();
      const start = await subscribe(pub, 'x');
      await subscribe(pub, 'y');
      for (const [topic, data] of [
        ['x', 'aa'],
        ['x', 'bb'],
        ['y', 'cc'],
      ])
        pub.send({ op: 'publish', topic, data });
      assert.equal(await message(pub, 'x', 1), 'aa');
      assert.equal(await message(pub, 'x', 2), 'bb');
      assert.equal(await message(pub, 'y', 1), 'cc'); // 12 bytes: x, published to before y, lost 'aa'
      const late = await connect();
      const trimmed = await subscribe(late, 'x', { offset: 0, epoch: start.epoch });
      assert.deepEqual([trimmed.offset, trimmed.recovered], [2, false]);
      const c = await connect();
      const kept = await subscribe(c, 'x', { offset: 1, epoch: start.epoch });
      assert.deepEqual([kept.offset, kept.recovered], [1, true]);
      assert.equal(await message(c, 'x', 2), 'bb');
    });
  }
});
