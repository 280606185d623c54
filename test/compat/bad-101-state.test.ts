/**
 * A 101 the client refuses (here a wrong Sec-WebSocket-Accept): ws sets readyState to CLOSING at once, while
 * the socket is destroyed, and 'error' then 'close' 1006 follow once it closed. Code that runs in between (a
 * tick after the 'upgrade' listener) sees CLOSING, and send() there does not throw (its callback gets ws's
 * error), where CONNECTING would make it throw. (ws emits 'error' from the socket's destroy, before that
 * callback; ws-stream/ws once the socket closed, after it: not compared.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeServer } from '../support/hostile.js';
import { impls } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

for (const impl of impls) {
  describe(`${impl.name}: a refused 101`, () => {
    it("readyState is CLOSING from the check on, send() does not throw; 'error' then 'close' 1006", async (t) => {
      const { url } = await fakeServer(t, (socket) => {
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n',
        );
      });
      const client: Ws = new impl.WebSocket(url);
      const seen: string[] = [];
      client.on('upgrade', () =>
        process.nextTick(() => {
          seen.push(`state:${client.readyState}`);
          try {
            client.send('x', (err?: Error) => seen.push(`send:${err?.message}`));
          } catch (err) {
            seen.push(`threw:${(err as Error).message}`);
          }
        }),
      );
      const errors: string[] = [];
      client.on('error', (err: Error) => errors.push(err.message));
      const code = await new Promise<number>((resolve) => client.on('close', resolve));
      assert.equal(code, 1006);
      assert.deepEqual(errors, ['Invalid Sec-WebSocket-Accept header']);
      assert.deepEqual(seen, ['state:2', 'send:WebSocket is not open: readyState 2 (CLOSING)']);
    });
  });
}
