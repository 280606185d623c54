/**
 * close() or terminate() called at once after the constructor, before the request has a socket: ws destroys the
 * request, so the opening handshake never reaches the server ('error' "WebSocket was closed before the connection
 * was established", then 'close' 1006). A WebSocket that only destroyed the request's socket (none yet) let the
 * request go on: the server got the upgrade request and answered it, and the client's socket stayed open.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fakeServer, response101 } from '../support/hostile.js';
import { impls } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

for (const impl of impls) {
  describe(`${impl.name}: closed before the request has a socket`, () => {
    for (const method of ['close', 'terminate'] as const) {
      it(`${method}(): 'error' and 'close' 1006, and no request reaches the server`, async (t) => {
        const paths: string[] = [];
        const { url } = await fakeServer(t, (socket, accept, request) => {
          paths.push(request.split(' ')[1]!);
          socket.write(response101(accept));
        });
        const first: Ws = new impl.WebSocket(`${url}first`);
        const events: string[] = [];
        first.on('open', () => events.push('open'));
        first.on('error', (err: Error) => events.push(`error:${err.message}`));
        const closed = new Promise<number>((resolve) => first.on('close', resolve));
        first[method]();
        assert.equal(await closed, 1006);
        assert.deepEqual(events, ['error:WebSocket was closed before the connection was established']);
        // The next client's request is the first the server sees (the first one's would have come before it).
        const second: Ws = new impl.WebSocket(`${url}second`);
        await once(second, 'open');
        assert.deepEqual(paths, ['/second']);
        second.terminate();
      });
    }
  });
}
