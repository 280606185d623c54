/**
 * `serve --pubsub --broker redis://… --recovery-stall-timeout S`: clients that subscribe with
 * `since` to a 16 MB history and then read nothing (raw TCP clients whose sockets are paused: what
 * the loopback's buffers take, and the rest held by the server) no longer hold for ever the
 * recoveries queued behind `--max-recovery-bytes`. While one waits, a holder whose socket took
 * nothing for S seconds is closed with 1008; the recovery waiting then gets all it asked for, in
 * order, and a stalled client that reads again finds what it was sent, in order, then the close.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';
import { runRefused } from './cli-support.js';

/** 250 messages of 64,000 characters: 16 MB of history, far more than the loopback's buffers take. */
const COUNT = 250;
const DATA = 'x'.repeat(64_000);

it('clients that stop reading mid-recovery are closed (1008) once another recovery waits: it completes', async (t) => {
  const redis = await BrokerProcess.redis();
  t.after(() => redis.stop());
  // One history read (16 MiB while it runs) fills the bound: each recovery waits for the one before.
  const server = await startServer([
    '--pubsub',
    '--broker',
    redis.url,
    '--max-recovery-bytes',
    String(16 * 1024 * 1024),
    '--recovery-stall-timeout',
    '0.05',
  ]);
  t.after(() => server.stop());
  const clients: JsonClient[] = [];
  t.after(() => {
    for (const c of clients) c.close();
  });
  const connect = async (): Promise<JsonClient> => {
    const c = await JsonClient.connect(server.port);
    clients.push(c);
    return c;
  };
  const publisher = await connect();
  const { epoch } = await subscribe(publisher, 'big');
  // (One at a time: 16 MB sent back at once would pass the publisher's own backlog cap.)
  for (let i = 1; i <= COUNT; i++) {
    publisher.send({ op: 'publish', topic: 'big', data: DATA });
    assert.equal(await message(publisher, 'big', i), DATA);
  }

  // Two clients that read nothing, each recovering (most of) the history: on main the second, and
  // every recovery after it, waited for the first to read or leave.
  const stalled = [await connect(), await connect()];
  for (const [i, c] of stalled.entries()) {
    c.sock.pause();
    c.send({ op: 'subscribe', topic: 'big', since: { offset: i, epoch } });
  }
  const reader = await connect();
  reader.send({ op: 'subscribe', topic: 'big', since: { offset: 200, epoch } });
  assert.deepEqual(await reader.next('subscribed'), {
    op: 'subscribed',
    topic: 'big',
    offset: 200,
    epoch,
    recovered: true,
  });
  for (let i = 201; i <= COUNT; i++) assert.equal(await message(reader, 'big', i), DATA);

  // Each stalled client, reading again: its reply, a run of its history from its start, in order, then 1008.
  for (const [i, c] of stalled.entries()) {
    c.sock.resume();
    assert.deepEqual(await c.next('subscribed'), { op: 'subscribed', topic: 'big', offset: i, epoch, recovered: true });
    let offset = i;
    for (;;) {
      const m = await c.next('a message').catch(() => null);
      if (m === null) break; // (the close came: the connection ended)
      assert.equal(m.offset, ++offset, JSON.stringify(m).slice(0, 100));
    }
    assert.equal(c.closeCode, 1008);
    assert.ok(offset < COUNT, `stalled client ${i} was sent its whole history: it was not holding`);
  }

  // The server is left as it was: a new client recovers the history, the publisher still publishes.
  const late = await connect();
  assert.equal((await subscribe(late, 'big', { offset: COUNT - 1, epoch })).recovered, true);
  assert.equal(await message(late, 'big', COUNT), DATA);
});

describe('--recovery-stall-timeout on the command line', { concurrency: 3 }, () => {
  const refused: [string[], RegExp][] = [
    [['--recovery-stall-timeout', '5'], /--recovery-stall-timeout goes with --pubsub/],
    [['--pubsub', '--recovery-stall-timeout', '-1'], /--recovery-stall-timeout/],
    [['--pubsub', '--recovery-stall-timeout', ''], /--recovery-stall-timeout takes seconds from 0 to 2147483/],
    [['--pubsub', '--recovery-stall-timeout', '30s'], /--recovery-stall-timeout .* not "30s"/],
    [['--pubsub', '--recovery-stall-timeout', '2147484'], /--recovery-stall-timeout/],
  ];
  for (const [args, said] of refused) {
    it(`refuses ${JSON.stringify(args)}: exit 2, one line`, async () => {
      const r = await runRefused(args);
      assert.equal(r.code, 2, `exit code; stderr: ${r.err}`);
      assert.match(r.err, said);
      assert.match(r.err, /^ws-stream serve: [^\n]+\n$/);
    });
  }
});
