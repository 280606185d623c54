/**
 * The ASP.NET Core SignalR client (@microsoft/signalr 11, whose Node build requires ws: its own ws 7), run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/signalr.ts), against a
 * local hub on the real ws speaking SignalR's hub protocols: JSON in text frames, and MessagePack
 * (@microsoft/signalr-protocol-msgpack: binary frames, `binaryType` 'arraybuffer', ArrayBuffers sent). Both engines
 * must show the same, in each protocol: the negotiate, the bearer token, user agent and affinity cookie in the
 * upgrade, invoke (a result, a hub error, 200 kB echoed), a server-to-client call after `send`, streams (batched items
 * then completion; an item then an error), four losses each reconnected automatically with the client's own account
 * of the close (a close message, a drop as 1006, 1011 with its reason, a clean 1000), `stop()`, and a second `start()`
 * and `stop()`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

/** Each hub protocol: its name in the handshake and the frames it travels in. */
const protocols = [
  { name: 'json', frames: 'text' },
  { name: 'messagepack', frames: 'binary' },
];

for (const engine of aliasEngines) {
  for (const protocol of protocols) {
    describe(`@microsoft/signalr (${protocol.name} hub protocol) on ${engine.name}`, () => {
      it('negotiates, invokes, streams, reconnects after four kinds of loss, stops and restarts', async (t) => {
        const result = await runApp<Record<string, unknown>>(t, 'signalr', engine, { SIGNALR_PROTOCOL: protocol.name });
        const handshake = `handshake ${protocol.name} text`;
        const call = (s: string) => `${protocol.frames} ${s}`;
        const connection = (n: number) =>
          `/hub?id=token-${n} Bearer secret-token Microsoft SignalR/11.0 affinity=node-${n}; Path=/hub`;
        assert.deepEqual(result, {
          aliased: engine.name === 'ws-stream/ws',
          connectionId: 'conn-1',
          add: 3,
          fail: 'HubException: nope',
          echo: true,
          received: 'ada: hello hub',
          stream: [0, 1, 2, 3, 4, 'complete'],
          brokenStream: ['first', 'error: stream broke'],
          losses: [
            {
              error: 'Server returned an error on close: Server is restarting',
              onServer: '1005 ',
              reconnected: 'conn-2',
              state: 'Connected',
            },
            {
              error: 'WebSocket closed with status code: 1006 (no reason given).',
              onServer: '1006 ',
              reconnected: 'conn-3',
              state: 'Connected',
            },
            {
              error: 'WebSocket closed with status code: 1011 (boom).',
              onServer: '1011 boom',
              reconnected: 'conn-4',
              state: 'Connected',
            },
            { error: 'no error', onServer: '1000 bye', reconnected: 'conn-5', state: 'Connected' },
          ],
          afterReconnects: 42,
          stopped: { client: 'no error', server: '1005 ', state: 'Disconnected' },
          restarted: { id: 'conn-6', add: 4 },
          stoppedAgain: { client: 'no error', server: '1005 ' },
          hub: {
            negotiations: 6,
            connections: [1, 2, 3, 4, 5, 6].map(connection),
            calls: [
              handshake,
              ...['1 Add', '1 Fail', '1 Echo', '1 Broadcast', '4 Counter', '4 Broken'].map(call),
              handshake,
              handshake,
              handshake,
              handshake,
              call('1 Add'),
              call('7'),
              handshake,
              call('1 Add'),
              call('7'),
            ],
          },
        });
      });
    });
  }
}
