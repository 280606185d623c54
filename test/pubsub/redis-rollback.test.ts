/**
 * A Redis killed and started again from a snapshot older than what it had acknowledged (its RDB
 * file, as the periodic `save` makes; an AOF synced every second loses up to a second the same
 * way) comes back with the topic's offset and epoch as they were then: the epoch is the same, and
 * its offsets 6–8, already delivered, would be given again to new messages. Subscribers took those
 * for repeats (lost), and a client back with `since` at 5 was told `recovered: true` and given the
 * new messages as if they were the ones it missed. Now an epoch carries the run of the Redis server
 * that made it, and a topic met on another run starts a new epoch, announced to its subscribers
 * (the re-sent `subscribed`), as when Redis loses its data. Real `serve --pubsub` processes, a real
 * redis-server restarted from its RDB file, the outside checker's raw-socket client.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { type Deployment, Peer, reportingWaits, type Server, untilServing } from './outside-support.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-stream-rdb-'));
let broker: BrokerProcess;
let servers: Server[] = [];
const d: Deployment = { ports: [], opened: [] };
before(async () => {
  broker = await BrokerProcess.redis({ args: ['--dir', dir, '--dbfilename', 'topics.rdb'] });
  servers = await Promise.all([0, 1].map(() => startServer(['--pubsub', '--broker', broker.url, '--history', '100'])));
  d.ports = servers.map((s) => s.port);
});
after(async () => {
  for (const p of d.opened) p.close();
  await Promise.all(servers.map((s) => s.stop()));
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

it(
  'a Redis back from an older snapshot starts a new epoch: no offset is given twice, no old since recovered',
  {
    timeout: 60_000,
  },
  (t) =>
    reportingWaits(t, d, async () => {
      const topic = 'rollback';
      const subscriber = await Peer.connect(d.ports[0]!, d.opened);
      const publisher = await Peer.connect(d.ports[1]!, d.opened);
      const { epoch } = await subscriber.subscribe(topic);
      await publisher.subscribe(topic);
      const publish = (data: string): void => publisher.send({ op: 'publish', topic, data });
      for (let i = 1; i <= 5; i++) publish(`old ${i}`);
      await subscriber.received(topic, 5);
      await broker.snapshot(); // offset 5
      for (let i = 6; i <= 8; i++) publish(`old ${i}`);
      await subscriber.received(topic, 8);
      await publisher.received(topic, 8);
      const before = subscriber.log.length;

      await broker.kill();
      await broker.start(); // from the snapshot: offset 5, the same epoch key
      await untilServing(d);
      for (let i = 1; i <= 4; i++) publish(`new ${i}`);
      for (const peer of [subscriber, publisher]) {
        await peer.until('new 4', () => peer.messages(topic).some((m) => m.data === 'new 4'));
      }
      // The subscriber was told the new epoch, then given every new message once, from its start.
      const since = subscriber.log.slice(before).filter((r) => r.topic === topic);
      assert.equal(since[0]?.op, 'subscribed', JSON.stringify(since));
      assert.notEqual(since[0].epoch, epoch);
      assert.deepEqual(
        since.map((r) => [r.op, r.offset, r.data]),
        [
          ['subscribed', 0, undefined],
          ['message', 1, 'new 1'],
          ['message', 2, 'new 2'],
          ['message', 3, 'new 3'],
          ['message', 4, 'new 4'],
        ],
      );
      // A client that saw offset 5 (or 8) of the old epoch is not told it recovered.
      for (const offset of [5, 8]) {
        const back = await Peer.connect(d.ports[offset % 2]!, d.opened);
        const answer = await back.subscribe(topic, { offset, epoch });
        assert.deepEqual([answer.recovered, answer.epoch], [false, since[0].epoch], `since ${offset}`);
      }
    }),
);
