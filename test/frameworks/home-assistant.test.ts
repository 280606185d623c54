/**
 * home-assistant-js-websocket 9 (the Home Assistant frontend's client) on the global `WebSocket` set from `ws`, run
 * with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each
 * (apps/home-assistant.ts), against a fake Home Assistant on the real ws. Both must show the same: a refused upgrade
 * and a wrong token as the package's error codes, entities subscribed from a coalesced frame and changed by a service
 * call, a failed call's error, ping, a connection dropped by the server then reconnected and resubscribed by the
 * package, and `close()` (1005 on the server: the package closes without a code).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const kitchen = (state: string, attributes: string, changed: string) =>
  `light.kitchen=${state} {"friendly_name":"Kitchen"${attributes}} ${changed}`;
const temperature = 'sensor.temperature=21.5 {"unit_of_measurement":"°C"} 2023-11-14T22:13:20.000Z';

for (const engine of aliasEngines) {
  describe(`home-assistant-js-websocket on ${engine.name}`, () => {
    it('authenticates, subscribes entities, calls services, reconnects after a drop, closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'home-assistant', engine);
      assert.deepEqual(result, {
        refused: 1,
        invalidAuth: 2,
        invalidAuthClose: '1005',
        socketIsOurs: engine.name === 'ws-stream/ws',
        connected: [true, '2024.10.1'],
        initial: [kitchen('off', '', '2023-11-14T22:13:20.000Z'), temperature],
        config: { location_name: 'Home', version: '2024.10.1', unit_system: { temperature: '°C' } },
        turnOn: { context: { id: 'ctx5' } },
        afterTurnOn: [kitchen('on', ',"brightness":200', '2023-11-14T22:13:21.000Z'), temperature],
        failedCall: { code: 'service_not_found', message: 'Service climate.set_temperature not found.' },
        ping: 'pong',
        dropClose: '1006',
        afterReconnect: [kitchen('on', ',"brightness":200', '2023-11-14T22:13:21.000Z'), temperature],
        afterTurnOff: [kitchen('off', ',"brightness":null', '2023-11-14T22:13:22.000Z'), temperature],
        events: ['disconnected', 'ready'],
        closeOnServer: '1005',
        connectedAfterClose: false,
        server: [
          'auth llat-bad',
          'auth llat-good',
          '1 supported_features {"coalesce_messages":1}',
          '3 subscribe_entities',
          '4 get_config',
          '5 call_service light.turn_on',
          '6 call_service climate.set_temperature',
          '7 ping',
          'auth llat-good',
          '1 supported_features {"coalesce_messages":1}',
          '2 subscribe_entities',
          '3 call_service light.turn_off',
        ],
      });
    });
  });
}
