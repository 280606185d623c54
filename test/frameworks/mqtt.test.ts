/**
 * MQTT over WebSockets: an aedes 1 broker on a WebSocketServer (createWebSocketStream per connection, as aedes' docs
 * show) and mqtt 5 clients, which `require('ws')` (apps/mqtt.ts, in a child process). Each combination of engines: the
 * clients on ws or ws-stream/ws (the alias), the broker on ws or ws-stream/ws. All four must show the same: QoS 0/1/2,
 * a 3 MiB payload, 500 messages in order at QoS 0 and at QoS 1, a retained message, a last will published for a client
 * that terminates and not for one that disconnects cleanly, a burst of 6 MiB at QoS 0 in order (back-pressure), a
 * persistent session's client reconnecting by itself after the broker's side terminates it and getting what was
 * published meanwhile, a header given in wsOptions, wss:// (mqtt's `ca` handed to the WebSocket; refused without it),
 * permessage-deflate (as ws's client offers it by default, and turned off in wsOptions), the `mqtt` subprotocol.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const serverEngines = ['ws', 'ws-stream/ws'].filter(
  (e) => !process.env.FRAMEWORKS_ENGINE || e === process.env.FRAMEWORKS_ENGINE,
);

for (const engine of aliasEngines) {
  for (const server of serverEngines) {
    describe(`mqtt clients on ${engine.name}, aedes on ${server}`, () => {
      it('QoS 0/1/2, a large payload, order, retained, last will, clean disconnect', async (t) => {
        const result = await runApp<Record<string, unknown>>(t, 'mqtt', engine, { MQTT_SERVER: server });
        const bigSent = result.bigSent;
        assert.deepEqual(result, {
          clientIsOurs: engine.name === 'ws-stream/ws',
          serverIsOurs: server === 'ws-stream/ws',
          granted: [
            ['qos/#', 2],
            ['big/#', 1],
            ['seq/#', 1],
          ],
          qos: [0, 1, 2].map((qos) => ({ topic: `qos/${qos}`, payload: `at qos ${qos}`, qos, retain: false })),
          big: [{ topic: 'big/one', payload: bigSent, qos: 1, retain: false }],
          bigSent,
          inOrder: [true, true],
          seqCount: [500, 500],
          retained: [{ topic: 'ret/x', payload: 'kept', qos: 1, retain: true }],
          will: [{ topic: 'will/dying', payload: 'gone', qos: 1, retain: false }],
          dyingServerClose: 1006,
          afterClean: [{ topic: 'will/marker', payload: 'after polite', qos: 1, retain: false }],
          burst: true,
          offline: [1, 2, 3].map((n) => ({ topic: 'offline/x', payload: `while away ${n}`, qos: 1, retain: false })),
          persistServerClose: 1006,
          header: 'abc',
          tls: [{ topic: 'tls/x', payload: 'over wss', qos: 1, retain: false }],
          untrusted: 'DEPTH_ZERO_SELF_SIGNED_CERT',
          deflate: { extensions: ['permessage-deflate', ''], big: true, inOrder: true },
          protocols: ['mqtt', 'mqtt', 'mqtt', 'mqtt', 'mqtt', 'mqtt', 'mqtt', 'mqtt'],
        });
        assert.match(String(bigSent), /^3145728:[0-9a-f]{64}$/);
      });
    });
  }
}
