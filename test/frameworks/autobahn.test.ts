/**
 * AutobahnJS 26 (WAMP v2) on the global `WebSocket` set from `ws`, run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/autobahn.ts), against a WAMP router on the real
 * ws. Autobahn offers a subprotocol per serializer, reads `protocol` to pick one, and takes binary frames as
 * ArrayBuffers (`binaryType = 'arraybuffer'`). Both engines must show the same: the router's choice of `wamp.2.json`,
 * `wamp.2.msgpack` and `wamp.2.cbor`, calls across them (a 1 MiB argument, bytes between msgpack and cbor, an
 * application error with its args and kwargs, no such procedure), events with and without acknowledgement, an ABORT
 * for an unknown realm, a connection dropped by the router reported as lost and re-established, and GOODBYE both ways
 * then a clean close (1005 on the router: autobahn closes without a code), and every frame's type on the router.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`autobahn (WAMP) on ${engine.name}`, () => {
    it('runs RPC and pub/sub over json, msgpack and cbor; an abort, a lost connection re-established, goodbye', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'autobahn', engine);
      assert.deepEqual(result, {
        protocols: ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor'],
        calls: [42, 2.5, 1048576, ['bytes:16003:1', 'bytes:3:3']],
        callError: ['com.example.error.refused', ['no', 'please'], { why: 'testing' }],
        noSuchProcedure: 'wamp.error.no_such_procedure',
        acknowledged: 'number',
        events: ['[["acked",1],{"from":"msgpack"}]', '[["fire and forget"],{"from":"cbor"}]'],
        abort: 'closed wamp.error.no_such_realm retry=false',
        abortOnRouter: 'json 1005',
        lost: 'lost null retry=true',
        dropOnRouter: 'msgpack 1006',
        reconnected: [true, 42],
        closed: [
          'closed wamp.close.goodbye_and_out retry=false',
          'closed wamp.close.goodbye_and_out retry=false',
          'closed wamp.close.goodbye_and_out retry=false',
        ],
        closedOnRouter: ['cbor 1005', 'json 1005', 'msgpack 1005'],
        // <serializer> <frame> <WAMP message type>: HELLO 1, GOODBYE 6, ERROR 8, PUBLISH 16, SUBSCRIBE 32, CALL 48,
        // REGISTER 64, YIELD 70.
        router: [
          'json text 1',
          'json text 64',
          'json text 64',
          'json text 64',
          'json text 32',
          'msgpack binary 1',
          'cbor binary 1',
          'cbor binary 64',
          'msgpack binary 48 com.example.add',
          'json text 70',
          'cbor binary 48 com.example.add',
          'json text 70',
          'msgpack binary 48 com.example.length',
          'json text 70',
          'msgpack binary 48 com.example.bytes',
          'cbor binary 70',
          'msgpack binary 48 com.example.fail',
          'json text 8',
          'cbor binary 48 com.example.nothing',
          'msgpack binary 16',
          'cbor binary 16',
          'json text 1',
          'msgpack binary 1',
          'msgpack binary 48 com.example.add',
          'json text 70',
          'json text 6',
          'msgpack binary 6',
          'cbor binary 6',
        ],
        globalIsOurs: engine.name === 'ws-stream/ws',
      });
    });
  });
}
