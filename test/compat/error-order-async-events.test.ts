/**
 * With `allowSynchronousEvents: false` each 'message', 'ping' and 'pong' has a turn of its own, and
 * ws reads the next frame only once the events before it were emitted: a bad frame's 'error' comes
 * after the events of the frames before it, in wire order. Found by the differential tester
 * (differential.test.ts); run on the real `ws` and on ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { binary, ping, pong, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: allowSynchronousEvents false, a bad frame behind pings, pongs and messages`, () => {
    for (const [name, bad, code] of [
      ['invalid UTF-8', text(Buffer.from([0x61, 0xff])), 'WS_ERR_INVALID_UTF8'],
      ['a message over maxPayload', binary(Buffer.alloc(200)), 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
    ] as const) {
      it(`${name}: 'error' after the events of the frames before it`, async (t) => {
        const { wss, port } = await listen(t, impl, { allowSynchronousEvents: false, maxPayload: 100 });
        const peer = await rawPeer(t, port);
        const [server] = await once(wss, 'connection');
        const seen: string[] = [];
        server.on('message', (d: Buffer) => seen.push(`message ${d}`));
        server.on('ping', (d: Buffer) => seen.push(`ping ${d}`));
        server.on('pong', (d: Buffer) => seen.push(`pong ${d}`));
        server.on('error', (e: Error & { code: string }) => seen.push(`error ${e.code}`));
        // Not events.once: it rejects on 'error'.
        const closed = new Promise<number>((resolve) => server.on('close', resolve));
        await peer.responseHead();
        peer.send(Buffer.concat([ping('a'), text('m'), pong('b'), ping('c'), bad]));
        const closeCode = await closed;
        assert.deepEqual(seen, ['ping a', 'message m', 'pong b', 'ping c', `error ${code}`]);
        assert.equal(closeCode, 1006);
      });
    }
  });
}
