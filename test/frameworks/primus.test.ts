/**
 * Primus 8 with `transformer: 'websockets'`, whose server and Node client both require ws themselves, run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/primus.ts), with
 * Primus's own Node client built as `primus.Socket` and as `Primus.createSocket`. Both must show the same: data both
 * ways in order (a 1 MiB string, an object), Primus's heartbeats (its own `primus::ping`/`primus::pong` messages)
 * answered, a reconnect after the server terminates the WebSocket and after it ends the spark with `reconnect`, a
 * client's own `end()`, `primus.destroy()` ending every client without a reconnect and closing the server, and
 * `compression` and `maxLength` (ws's perMessageDeflate and maxPayload) agreed and enforced with 1009.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, 'Primus websockets transformer', (engine) => {
  it('serves its own client as with ws', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'primus', engine);
    const ours = engine.name === 'ws-stream/ws';
    const seen = (name: string) => ({
      clientIsOurs: ours,
      greeting: `hello ${name}`,
      inOrder: true,
      large: 1024 * 1024,
      object: { echo: { nested: { text: 'héllo', list: [1, null, true] } } },
      heartbeats: true,
      afterReconnect: [`hello ${name}`, { echo: 'after' }, `hello ${name}`, { echo: 'again' }],
    });
    const events = ['open', 'close', 'reconnect', 'reconnected', 'open', 'close', 'reconnect', 'reconnected', 'open'];
    const life = (name: string) => [
      `connection ${name}`,
      `disconnection ${name}`,
      `connection ${name}`,
      `disconnection ${name}`,
      `connection ${name}`,
    ];
    assert.deepEqual(result, {
      aliased: ours,
      serverIsOurs: ours,
      'primus.Socket': seen('primus-Socket'),
      'Primus.createSocket': seen('Primus-createSocket'),
      clientEvents: {
        'primus.Socket': [...events, 'close', 'end'],
        'Primus.createSocket': [...events, 'close', 'end'],
      },
      serverLog: [
        ...life('primus-Socket'),
        ...life('Primus-createSocket'),
        'connection leaver',
        'disconnection leaver',
        'disconnection primus-Socket',
        'disconnection Primus-createSocket',
      ],
      leaver: ['open', 'close', 'end'],
      listening: false,
      limited: [
        'client open permessage-deflate',
        'server got 5',
        'client got 5000',
        'server error Max payload size exceeded',
        'client WebSocket closed 1009',
        'server end',
      ],
    });
  });
});
