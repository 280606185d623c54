/**
 * koa 3 + koa-websocket 7, which requires ws itself, run with `ws` as installed and aliased to ws-stream/ws
 * (test/support/ws-alias.ts), in a child process each (apps/koa.ts). Both must show the same: a koa route beside the
 * WebSocket middleware, verifyClient's 401, handleProtocols' choice, an async auth middleware closing with 4001 or
 * passing `ctx.state` on, the context's `ip` and cookies from the upgrade request, a permessage-deflate echo (text,
 * binary, 1 MiB, 100 in order), a broadcast through `app.ws.server.clients`, a socket left open and answering pings
 * after a middleware threw, and 1001 to every client on shutdown, with every close seen by the server and nothing
 * left tracked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const closed = (code: number, reason = '') => ({ code, reason });

for (const engine of aliasEngines) {
  describe(`koa + koa-websocket on ${engine.name}`, () => {
    it('runs the middleware chain per connection: auth, echo, broadcast, a throwing handler, shutdown', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'koa', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        http: { path: '/plain', via: 'koa' },
        refused: 401,
        noToken: { messages: [], close: closed(4001, 'unauthorized') },
        protocol: 'chat.v2',
        extension: 'permessage-deflate',
        echo: ['hello ada over chat.v2 from 127.0.0.1 (dark)', 'héllo', 'bin:3:1', 'bin:1048576:7'],
        echoInOrder: true,
        echoClose: closed(1000, 'enough'),
        chat: [
          ['joined', 'ada: hi all'],
          ['joined', 'ada: hi all'],
        ],
        afterThrow: { messages: ['about to fail'], pong: 'still there' },
        shutdown: [closed(1001, 'shutdown'), closed(1001, 'shutdown'), closed(1001, 'shutdown')],
        serverCloses: [
          '/chat:1001:shutdown',
          '/chat:1001:shutdown',
          '/echo:1000:enough',
          '/echo:4001:unauthorized',
          '/nowhere:1001:shutdown',
        ],
        serverErrors: [],
        clientsLeft: 0,
      });
    });
  });
}
