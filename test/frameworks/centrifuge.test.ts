/**
 * centrifuge 5 (Centrifugo's JavaScript client), given `websocket: WebSocket` from `ws`, against a small server
 * speaking Centrifugo's JSON protocol on `ws`'s WebSocketServer, run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/centrifuge.ts): the engine under test on both
 * sides. Both must show the same: the connect reply's data, publications pushed in the subscribe reply's frame, a
 * publish echoed, RPCs (a result, an error code, 512 Ki characters), an async message and the server's message push,
 * the server's ping answered, a refused subscription's code, a close with 3001 and its reason as the `connecting`
 * event followed by a reconnect and re-subscription, a close with 3501 as `disconnected` without a reconnect, and
 * `disconnect()` closing the socket (1005 at the server). Then its protobuf client (apps/centrifuge-protobuf.ts): the
 * `centrifuge-protobuf` subprotocol agreed, binary frames, `binaryType = 'arraybuffer'` data decoded into the bytes of
 * the connect data, publications and an RPC's result, a reconnect after 3001, the disconnect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`centrifuge on ${engine.name}`, () => {
    it('connects, subscribes, publishes, calls, answers pings, reconnects on 3001, stops on 3501', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'centrifuge', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        clientIsOurs: ours,
        sum: { data: { sum: 5 } },
        failed: [108, 'not available'],
        big: '524288:true',
        secret: { channel: 'secret', code: 103, reason: 'permission denied' },
        stateAfter3501: 'disconnected',
        serverClosed: ['1: 3001 shutdown', '2: 3501 bad request', '3: 1005 '],
        events: [
          'connecting 0 connect called',
          'connected client-1 {"n":1}',
          'message {"echo":{"hello":1}}',
          'connecting 3001 shutdown',
          'connected client-2 {"n":2}',
          'disconnected 3501 bad request',
          'connecting 0 connect called',
          'connected client-3 {"n":3}',
          'disconnected 0 disconnect called',
        ],
        subEvents: [
          'subscribing 0 subscribe called',
          'subscribed',
          'subscribing 1 transport closed',
          'subscribed',
          'subscribing 1 transport closed',
          'subscribed',
          'subscribing 1 transport closed',
        ],
        publications: [
          { seq: '1.1' },
          { seq: '1.2' },
          { text: 'hi' },
          { seq: '2.1' },
          { seq: '2.2' },
          { seq: '3.1' },
          { seq: '3.2' },
        ],
        serverSaw: [
          '1: connect',
          '1: subscribe news',
          '1: pong',
          '1: publish news',
          '1: rpc',
          '1: rpc',
          '1: rpc',
          '1: send {"hello":1}',
          '1: subscribe secret',
          '2: connect',
          '2: subscribe news',
          '3: connect',
          '3: subscribe news',
        ],
      });
    });

    it('speaks protobuf: the subprotocol, binary frames with arraybuffer data, bytes both ways, a reconnect', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'centrifuge-protobuf', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        clientIsOurs: ours,
        rpc: '030201',
        serverClosed: ['1: 3001 shutdown', '2: 1005 '],
        events: [
          'connecting 0 connect called',
          'connected client-1 01',
          'connecting 3001 shutdown',
          'connected client-2 02',
          'disconnected 0 disconnect called',
        ],
        publications: ['0101', '0102', 'cafe', '0201', '0202'],
        serverSaw: [
          '1: protocol centrifuge-protobuf',
          '1: binary connect',
          '1: binary subscribe',
          '1: binary publish cafe',
          '1: binary rpc 010203',
          '2: protocol centrifuge-protobuf',
          '2: binary connect',
          '2: binary subscribe',
        ],
      });
    });
  });
}
