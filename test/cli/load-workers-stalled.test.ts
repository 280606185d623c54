/**
 * `serve --pubsub --workers 2` with one worker that stops reading its IPC channel (SIGSTOP: a worker
 * stalled, or slower than the publishers): the primary must not queue every message for it. Before,
 * the publisher's worker heard each offset as soon as the primary had queued the deliveries, so a
 * publisher on the other worker published on at full speed and the primary held it all (200 MB of
 * publishes: 564 MB of RSS), without bound. Now the publisher hears its offset once the delivery is
 * written to the stalled worker's channel: its publishes in flight fill and its connection stops
 * being read. Once the worker runs again, every message arrives, in order.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { it } from 'node:test';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { text } from '../support/frames.js';
import { floodUntilServerStopsReading } from '../support/hostile.js';
import { workerPid } from './cli-support.js';
import { startProbed } from './load-support.js';

/** Publishes written at most before the test gives up on the server stopping to read (the bug took them all). */
const LIMIT = 64 * 1024 * 1024;

it('pubsub --workers 2: a worker that stops reading its channel holds back a publisher on the other worker (not read any more); once it runs, every message arrives in order', async () => {
  // Without STEADY_HEAP: nothing here measures the heap.
  const server = await startProbed(['--pubsub', '--workers', '2', '--history', '0'], undefined, []);
  let stopped: number | undefined;
  const clients: JsonClient[] = [];
  try {
    // A subscriber on one worker; a publisher and a prober on the other.
    const connect = async (): Promise<JsonClient> => {
      const c = await JsonClient.connect(server.port);
      clients.push(c);
      return c;
    };
    const subscriber = await connect();
    let publisher: JsonClient | undefined;
    let prober: JsonClient | undefined;
    while (prober === undefined) {
      const c = await connect();
      if (c.worker === subscriber.worker) continue;
      if (publisher === undefined) publisher = c;
      else prober = c;
    }
    subscriber.send({ op: 'subscribe', topic: 'T' });
    assert.equal((await subscriber.next('subscribed')).op, 'subscribed');

    stopped = workerPid(server.proc.pid!, subscriber.worker!);
    process.kill(stopped, 'SIGSTOP');
    // A turn of the publisher's worker: a request it answers at once (an unknown op), on another connection.
    let probes = 0;
    const turns = {
      turn: async (): Promise<void> => {
        prober!.send({ op: `probe-${++probes}` });
        assert.equal((await prober!.next('the probe answer')).code, 'ERR_WS_INVALID_ARGUMENT');
      },
    };
    const publish = text(JSON.stringify({ op: 'publish', topic: 'T', data: 'x'.repeat(64 * 1024) }));
    const { written, stopped: notRead } = await floodUntilServerStopsReading(
      publisher!.sock as net.Socket,
      publish,
      turns,
      LIMIT,
    );
    assert.ok(
      notRead,
      `the publisher's worker read all ${written} bytes of publishes while the other worker was stopped`,
    );

    process.kill(stopped, 'SIGCONT');
    stopped = undefined;
    const count = written / publish.length;
    for (let offset = 1; offset <= count; offset++) {
      const m = await subscriber.next(`message ${offset} of ${count}`);
      assert.deepEqual([m.op, m.offset, m.data.length], ['message', offset, 64 * 1024]);
    }
  } finally {
    if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
    for (const c of clients) c.close();
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
