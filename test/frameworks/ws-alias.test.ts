/**
 * What a package gets from `ws` when it is aliased to ws-stream/ws (test/support/ws-alias.ts), compared with the real
 * ws (apps/shape.ts): `require('ws')` from a package's folder is the WebSocket class with ws's statics (the same
 * classes as the ESM exports), `import('ws')` has them as named exports and the class as default, the readyState
 * constants sit on the class and its prototype, and CommonJS interop (TypeScript's, Babel's) finds the class. ws's
 * internals (Receiver, Sender, PerMessageDeflate, extension, subprotocol) are absent from ours, as documented; ours
 * adds the event classes, `Server` as a named export, and `module.exports` (the name require() of ESM reads).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const common = ['CLOSED:number', 'CLOSING:number', 'CONNECTING:number', 'OPEN:number'];
const classes = ['Server:function', 'WebSocket:function', 'WebSocketServer:function', 'createWebSocketStream:function'];
const internals = [
  'PerMessageDeflate:function',
  'Receiver:function',
  'Sender:function',
  'extension:object',
  'subprotocol:object',
];
const eventClasses = ['CloseEvent:function', 'ErrorEvent:function', 'Event:function', 'MessageEvent:function'];
const named = ['WebSocket', 'WebSocketServer', 'createWebSocketStream', 'default'];
const sorted = (a: string[]) => [...a].sort();

for (const engine of aliasEngines) {
  describe(`what require('ws') and import('ws') give on ${engine.name}`, () => {
    it("ws 8's shape", async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'shape', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        isOurs: ours,
        cjsType: 'function',
        // Ours also has the module's other names as statics: TypeScript types a CommonJS import by them.
        statics: sorted(
          ours ? [...common, ...classes, ...eventClasses, 'default:function'] : [...common, ...classes, ...internals],
        ),
        esmNames: sorted(
          ours
            ? [...named, 'CloseEvent', 'ErrorEvent', 'Event', 'MessageEvent', 'Server', 'module.exports']
            : [...named, 'PerMessageDeflate', 'Receiver', 'Sender', 'extension', 'subprotocol'],
        ),
        esmDefaultIsCjs: true,
        sameClasses: [true, true, true, true, true],
        constants: [
          [0, 0],
          [1, 1],
          [2, 2],
          [3, 3],
        ],
        server: [true, true],
        interopDefault: true,
      });
    });
  });
}
