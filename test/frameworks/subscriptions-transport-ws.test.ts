/**
 * subscriptions-transport-ws 0.11, the legacy GraphQL subscriptions protocol (apps/subscriptions.ts, in a child
 * process): its SubscriptionServer requires ws itself (its own ws 7 as installed, ws-stream/ws under the alias) and its
 * SubscriptionClient is given the `ws` package's WebSocket. On both engines: the `graphql-ws` subprotocol, keep-alive
 * messages, a query, a subscription streaming five results then completing, an unknown field's validation errors, an
 * endless subscription unsubscribed after three results (the server stops it), a client without the subprotocol
 * closed with 1002, onConnect refusing connectionParams (connection_error, then 1011), a reconnecting client whose
 * connection the server drops resuming its subscription, and the client's close.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`subscriptions-transport-ws on ${engine.name}`, () => {
    it('subscriptions, unsubscribe, errors, keep-alive, close', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'subscriptions', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        serverAliased: ours,
        clientIsOurs: ours,
        protocol: 'graphql-ws',
        keepAlive: 2,
        query: { data: [{ hello: 'world' }], errors: [], complete: true },
        count: { data: [1, 2, 3, 4, 5].map((count) => ({ count })), errors: [], complete: true },
        // The server answers a query that fails validation with a data message carrying the errors, then completes.
        badQuery: {
          data: [{ errors: ['Cannot query field "nope" on type "Subscription".'] }],
          errors: [],
          complete: true,
        },
        ticks: [0, 1, 2].map((ticks) => ({ ticks })),
        completedOnServer: true,
        noProtocol: { code: 1002, reason: '' },
        refused: { error: 'bad token', code: 1011 },
        resumed: { reconnected: 1 },
        // client.close() calls the WebSocket's close() without a code.
        clientClose: 1005,
      });
    });
  });
}
