/**
 * NestJS 11 with `WsAdapter` from @nestjs/platform-ws (which requires ws itself), run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/nestjs.ts), with clients of both
 * libraries. Both must show the same: a handler's plain value, a WsResponse and an Observable's values as messages (5 over time, 3000 at once, in order), a
 * guard's refusal and a thrown WsException turned into an error message by a filter, JSON in a binary frame parsed
 * the same (no JSON, or no handler, dropped), a broadcast through `@WebSocketServer()`, the connection and
 * disconnection hooks, a path no gateway serves refused, the gateway's ws options (verifyClient's 401, maxPayload's
 * 1009), and `app.close()` terminating every client.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, 'NestJS WsAdapter', (engine) => {
  it('serves a gateway as with ws', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'nestjs', engine);
    const ours = engine.name === 'ws-stream/ws';
    const seen = {
      events: { echoed: { n: 1, text: 'héllo' } },
      identity: { event: 'identity', data: [1, 2, 3] },
      stream: [1, 2, 3, 4, 5],
      flood: true,
      denied: { event: 'error', data: 'Forbidden resource' },
      granted: { event: 'secret', data: 'granted' },
      failed: { event: 'error', data: { code: 'bad-input', got: 'x' } },
      binary: { event: 'identity', data: 'bin' },
    };
    const limits = { verifyClient: 401, overLimit: 1009 };
    const hangUp = { code: 1006, error: { code: 'ECONNRESET', message: 'socket hang up' } };
    assert.deepEqual(result, {
      aliased: ours,
      ws: seen,
      'ws-stream/ws': seen,
      serverIsOurs: ours,
      broadcast: [['to all'], ['to all']],
      refused: { ws: hangUp, 'ws-stream/ws': hangUp },
      limits: { ws: limits, 'ws-stream/ws': limits },
      closed: [{ code: 1006 }, { code: 1006 }],
      hooks: [
        'connect ws',
        'connect ws-stream/ws',
        'connect big-ws',
        'connect big-ws-stream/ws',
        'disconnect big-ws',
        'disconnect big-ws-stream/ws',
        'disconnect ws',
        'disconnect ws-stream/ws',
      ],
    });
  });
});
