/**
 * @stomp/stompjs 7 (given ws as the global WebSocket, as its docs show for Node) against stomp-broker-js 1.3 (a STOMP
 * broker on ws's server; it requires its own ws 5), run with `ws` as installed and aliased to ws-stream/ws
 * (test/support/ws-alias.ts; both ends then run on it) in a child process each (apps/stomp.ts). Both must show the
 * same: the v12.stomp subprotocol and CONNECTED, another client's text and binary publishes and the broker's own
 * sends delivered to a subscription, a publish to a broker-side subscriber, a socket the broker closes with 1011
 * (seen with its reason and wasClean; the client reconnects and subscribes again), a socket the client discards with
 * terminate() (1006 on both sides, not clean; reconnected), and deactivate() closing without a code (1005).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`@stomp/stompjs and stomp-broker-js on ${engine.name}`, () => {
    it('connects, delivers publishes and broker sends, reconnects after a 1011 and a terminate, deactivates', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'stomp', engine);
      const ours = engine.name === 'ws-stream/ws';
      const connected = 'connected user 1.2,1.1,1.0';
      assert.deepEqual(result, {
        aliased: ours,
        clientIsOurs: ours,
        connected: {
          version: '1.1',
          server: 'test-broker',
          subprotocol: ['v12.stomp', 'v12.stomp'],
          socketIsOurs: ours,
        },
        messages: {
          text: ['/topic/news', 'hello'],
          binary: ['/topic/news', 'bin'],
          fromBroker: [null, 'from the broker'],
          serverSide: 'to the broker',
        },
        brokerClosed: {
          client: '1011 broker restart true',
          broker: '1011 broker restart',
          after: [null, 'after the restart'],
        },
        discarded: { client: '1006  false', broker: '1006 ', after: [null, 'after the discard'] },
        deactivated: { client: '1005  true', broker: '1005 ', connected: false },
        publisher: '1005 ',
        // stomp-broker-js reports a DISCONNECT frame and the socket's close each as 'disconnected'.
        brokerEvents: [
          connected,
          'connected publisher 1.2,1.1,1.0',
          'disconnected',
          'disconnected',
          'disconnected',
          connected,
          'disconnected',
          connected,
          'disconnected',
          'disconnected',
        ],
      });
    });
  });
}
