/**
 * A reader that answers a received chunk and publishes to a topic its own stream subscribes: what
 * the stream writes for that chunk (the answers and the publications, pub/sub's deferred runs
 * first) goes to the socket in one write, in the order it was made, as one turn's writes do.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketStream, type ReceivedData, type WebSocketError } from '../../src/index.js';
import { PubSub } from '../../src/pubsub/index.js';
import { noopWaiter } from '../../src/stream/write-queue.js';
import { acceptOver, DrivenLayer } from '../support/driven-layer.js';
import { text } from '../support/frames.js';

describe('publishing while answering a chunk', () => {
  it('the answers and the publications of one chunk reach the publisher in one write, in order', async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const layer = new DrivenLayer();
    const ws = new WebSocketStream(layer);
    t.after(() => layer.destroy());
    await acceptOver(ws, layer);
    await ps.subscribe(ws, 'room');
    // Messages are queued to a subscriber from the turn after `subscribe` resolves (its documented start).
    await new Promise<void>((resolve) => setImmediate(resolve));
    layer.written.length = 0;

    // Each message is acknowledged, then published: the last publication is still deferred when the
    // chunk's handling ends, so the stream's flush waits for the turn's (where the deferred run goes first).
    const onMessage = (err: WebSocketError | null, m?: ReceivedData): void => {
      if (err) return;
      ws.write(`ack:${m!.data}`, noopWaiter);
      void ps.publish('room', String(m!.data));
      ws.read(onMessage);
    };
    ws.read(onMessage);
    layer.deliver(Buffer.concat([text('a'), text('b'), text('c')]));
    await new Promise<void>((resolve) => setImmediate(resolve)); // the end of the turn

    assert.deepEqual(layer.texts(), ['ack:a', 'a', 'ack:b', 'b', 'ack:c', 'c']);
    assert.equal(layer.written.length, 1, `${layer.written.length} writes`);
  });
});
