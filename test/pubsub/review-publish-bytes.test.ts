/**
 * What `publish` takes from its caller's bytes, with the default in-memory broker. Live
 * subscribers are sent a frame made at once; history keeps the message for minutes, and recovery
 * must replay the same bytes: neither a Buffer the caller reuses once `publish` has settled (a
 * text message checked as UTF-8 when published, then overwritten, went out as invalid UTF-8), nor
 * the whole chunk a received message is a view of (the stream hands out a message lying in one
 * read as a view of that chunk: published as doc/pubsub.md's example does, each kept message held
 * its whole chunk, uncounted by the history bounds), nor node's shared 8 KiB pool (a Buffer of
 * fewer than 4 KiB that node makes is a slice of it: a client publishing a short message to each
 * of many topics between longer ones, which history drops, kept 8 KiB for each short one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PubSub } from '../../src/pubsub/index.js';
import { binary, text } from '../support/frames.js';
import { startTestServer, subscriberPair } from './pubsub-support.js';

describe('publish keeps the bytes it was given, not the caller’s buffer', () => {
  it('a Buffer reused once publish settled: a subscriber recovering with since gets the bytes published', async (t) => {
    const ps = new PubSub();
    const server = await startTestServer();
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    const scratch = Buffer.from('héllo, world'); // a text message in a buffer its owner reuses
    const at = await ps.publish('t', scratch, { binary: false });
    scratch.fill(0xff); // (no longer UTF-8)
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    const r = await ps.subscribe(ws, 't', { since: { offset: 0, epoch: at.epoch } });
    assert.deepEqual(r, { offset: 0, epoch: at.epoch, recovered: true });
    const m = await client.nextMessage();
    assert.equal(m.opcode, 1);
    assert.equal(m.payload.toString('hex'), Buffer.from('héllo, world').toString('hex'));
  });

  it("a received message published as doc/pubsub.md's example does is kept without the chunk it was read in", async (t) => {
    const ps = new PubSub();
    const server = await startTestServer();
    t.after(async () => {
      await ps.close();
      await server.close();
    });
    const { client, ws } = await subscriberPair(server);
    t.after(() => client.destroy());
    // One write: a large binary message the application does not publish, then a short text one it does.
    const BIG = 60_000;
    client.send(Buffer.concat([binary(Buffer.alloc(BIG, 1)), text('hi')]));
    const skipped = await ws.read();
    assert.equal(skipped.data.length, BIG);
    const m = await ws.read();
    assert.equal(m.data.toString(), 'hi');
    const at = await ps.publish('t', m.data, { binary: m.binary });
    const kept = await ps.broker.history('t', { offset: 0, epoch: at.epoch });
    assert.equal(kept?.length, 1);
    assert.equal(kept[0]!.data.toString(), 'hi');
    assert.ok(
      kept[0]!.data.buffer.byteLength < BIG,
      `a kept message of 2 bytes holds ${kept[0]!.data.buffer.byteLength} bytes of memory`,
    );
  });

  it('a short message, text or bytes, is kept in memory of its own, not in a slice of a shared pool', async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const text = await ps.publish('text', 'hi');
    const bytes = await ps.publish('bytes', Buffer.from([1, 2, 3]));
    const [textKept] = (await ps.broker.history('text', { offset: 0, epoch: text.epoch })) ?? [];
    const [bytesKept] = (await ps.broker.history('bytes', { offset: 0, epoch: bytes.epoch })) ?? [];
    assert.equal(textKept?.data.toString(), 'hi');
    assert.deepEqual([...(bytesKept?.data ?? [])], [1, 2, 3]);
    assert.equal(textKept!.data.buffer.byteLength, 2, 'the 2 bytes of "hi" hold this much memory');
    assert.equal(bytesKept!.data.buffer.byteLength, 3, 'a message of 3 bytes holds this much memory');
  });
});
