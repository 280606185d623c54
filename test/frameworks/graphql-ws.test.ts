/**
 * graphql-ws 6 on each engine: `useServer` from graphql-ws/use/ws on the engine's WebSocketServer, and graphql-ws's
 * own `createClient` with the engine's WebSocket as its `webSocketImpl`. A query, a subscription streaming 100
 * events in order, and a connection_init refused by onConnect (close 4403 Forbidden, seen by the client).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { engines, listen, closeServer, nextEvent } from './engines.js';

/** `hello` answers with a greeting; `count(to)` yields 1, 2, … to. */
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: {
      hello: {
        type: GraphQLString,
        args: { name: { type: GraphQLString } },
        resolve: (_root, args: { name: string }) => `hello ${args.name}`,
      },
    },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      count: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { to: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root, args: { to: number }) {
          for (let i = 1; i <= args.to; i++) yield { count: i };
        },
      },
    },
  }),
});

for (const engine of engines) {
  describe(`graphql-ws 6 (graphql 16) on ${engine.name}`, () => {
    let httpServer: http.Server;
    let url: string;
    let dispose: () => void | Promise<void>;
    const clients: Client[] = [];

    before(async () => {
      let port: number;
      ({ server: httpServer, port } = await listen());
      const wss = new engine.WebSocketServer({ server: httpServer, path: '/graphql' });
      ({ dispose } = useServer(
        {
          schema,
          onConnect: (ctx) => (ctx.connectionParams as { token?: string } | undefined)?.token === 'let me in',
        },
        wss,
      ));
      url = `ws://127.0.0.1:${port}/graphql`;
    });
    after(async () => {
      for (const c of clients) await c.dispose();
      await dispose();
      await closeServer(httpServer);
    });

    const client = (token: string): Client => {
      const c = createClient({
        url,
        webSocketImpl: engine.WebSocket,
        connectionParams: { token },
        retryAttempts: 0,
        lazy: true,
      });
      clients.push(c);
      return c;
    };

    it('answers a query', async () => {
      const c = client('let me in');
      const results = [];
      for await (const r of c.iterate({ query: 'query ($n: String) { hello(name: $n) }', variables: { n: 'ws' } }))
        results.push(r);
      assert.deepEqual(results, [{ data: { hello: 'hello ws' } }]);
    });

    it('streams a subscription of 100 events, received in order', async () => {
      const c = client('let me in');
      const seen: number[] = [];
      for await (const r of c.iterate({ query: 'subscription { count(to: 100) }' })) {
        assert.equal(r.errors, undefined);
        seen.push((r.data as { count: number }).count);
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
    });

    it('a connection_init refused by onConnect: the client sees close 4403 Forbidden', async () => {
      const c = client('wrong');
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        c.on('closed', (e) => resolve(e as never)),
      );
      const failure = await new Promise<unknown>((resolve) => {
        c.subscribe(
          { query: 'subscription { count(to: 3) }' },
          {
            next: () => resolve(new Error('an event arrived on a refused connection')),
            error: resolve,
            complete: () => resolve(new Error('completed on a refused connection')),
          },
        );
      });
      const { code, reason } = failure as { code: number; reason: string };
      assert.deepEqual({ code, reason }, { code: 4403, reason: 'Forbidden' });
      const e = await closed;
      assert.deepEqual({ code: e.code, reason: e.reason }, { code: 4403, reason: 'Forbidden' });
    });

    // useServer assigns wss.options.handleProtocols after the server was built: these see that it is honoured.
    it('the subprotocol is chosen by the handleProtocols graphql-ws set after construction; a bad message closes 4400', async () => {
      const ws = new engine.WebSocket(url, ['graphql-transport-ws']);
      await nextEvent(ws, 'open', 'error');
      assert.equal(ws.protocol, 'graphql-transport-ws');
      const closed = new Promise<[number, string]>((resolve) =>
        ws.once('close', (code, reason) => resolve([code, String(reason)])),
      );
      ws.send('{"type":"no such type"}');
      const [code, reason] = await closed;
      assert.equal(code, 4400);
      assert.equal(reason, 'Invalid message received');
    });

    it('no subprotocol offered: opened, then closed 4406; another one offered: the client refuses the answer', async () => {
      const bare = new engine.WebSocket(url);
      await nextEvent(bare, 'open', 'error');
      assert.equal(bare.protocol, '');
      assert.equal(await nextEvent(bare, 'close'), 4406);
      const other = new engine.WebSocket(url, ['something-else']);
      const err = await nextEvent<Error>(other, 'error');
      assert.equal(err.message, 'Server sent no subprotocol');
    });
  });
}
