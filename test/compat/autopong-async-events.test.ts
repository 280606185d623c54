/**
 * With `allowSynchronousEvents: false`, ws reads a ping only in its turn, after the events of the
 * frames before it were emitted, and answers it then: what a 'message' listener of an earlier
 * message sends goes out before the pong. Found by the differential tester (differential.test.ts);
 * run on the real `ws` and on ws-stream/ws with the same expectations. Also: each event has a turn of its own.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ping, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: the automatic pong and a listener's send`, () => {
    for (const allowSynchronousEvents of [true, false]) {
      it(`allowSynchronousEvents ${allowSynchronousEvents}: the reply to a message goes before the pong of the ping behind it`, async (t) => {
        const { wss, port } = await listen(t, impl, { allowSynchronousEvents });
        const peer = await rawPeer(t, port);
        const [server] = await once(wss, 'connection');
        const events: string[] = [];
        server.on('message', (d: Buffer) => {
          events.push(`message ${d}`);
          server.send(`reply to ${d}`);
        });
        server.on('ping', (d: Buffer) => events.push(`ping ${d}`));
        await peer.responseHead();
        peer.send(Buffer.concat([text('m1'), ping('p1'), text('m2'), ping('p2')]));
        const frames = await peer.waitFrames(4);
        assert.deepEqual(
          frames.map((f) => `${f.opcode} ${f.payload}`),
          ['1 reply to m1', '10 p1', '1 reply to m2', '10 p2'],
        );
        // And the events in wire order.
        assert.deepEqual(events, ['message m1', 'ping p1', 'message m2', 'ping p2']);
      });
    }
  });
}

for (const impl of impls) {
  describe(`${impl.name}: allowSynchronousEvents false gives each event a turn of its own`, () => {
    it("what a listener defers with setImmediate runs before the next frame's event", async (t) => {
      const { wss, port } = await listen(t, impl, { allowSynchronousEvents: false });
      const peer = await rawPeer(t, port);
      const [server] = await once(wss, 'connection');
      const events: string[] = [];
      let lastDone: () => void;
      const last = new Promise<void>((resolve) => (lastDone = resolve));
      const heard = (kind: string) => (d: Buffer) => {
        events.push(`${kind} ${d}`);
        setImmediate(() => {
          events.push(`after ${d}`);
          if (`${d}` === 'm3') lastDone();
        });
      };
      server.on('message', heard('message'));
      server.on('ping', heard('ping'));
      await peer.responseHead();
      peer.send(Buffer.concat([text('m1'), ping('p1'), text('m2'), ping('p2'), text('m3')]));
      await last;
      assert.deepEqual(events, [
        'message m1',
        'after m1',
        'ping p1',
        'after p1',
        'message m2',
        'after m2',
        'ping p2',
        'after p2',
        'message m3',
        'after m3',
      ]);
    });
  });
}
