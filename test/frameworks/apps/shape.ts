/**
 * What `ws` exports in this process, as packages reach it: `require('ws')` from a package's folder (CommonJS),
 * `import('ws')` (ESM; ws's exports map gives no other path). Run by ws-alias.test.ts with `ws` as installed and aliased.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { ours, report } from './peer.js';

const fromPackage = createRequire(createRequire(import.meta.url).resolve('isomorphic-ws'));
const cjs = fromPackage('ws') as Record<string, unknown> & (new (...a: unknown[]) => unknown);
const esm = (await import('ws')) as unknown as Record<string, unknown>;
const skip = new Set(['length', 'name', 'prototype', 'caller', 'arguments']);
const constants = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
const Server = cjs.Server as new (o: object) => EventEmitter & { clients: Set<unknown>; close(): void };
const server = new Server({ noServer: true });
server.close();
report({
  isOurs: cjs === (ours.default as unknown),
  cjsType: typeof cjs,
  statics: Object.getOwnPropertyNames(cjs)
    .filter((k) => !skip.has(k))
    .sort()
    .map((k) => `${k}:${typeof cjs[k]}`),
  esmNames: Object.keys(esm).sort(),
  esmDefaultIsCjs: esm.default === cjs,
  sameClasses: [
    cjs.WebSocket === cjs,
    cjs.Server === cjs.WebSocketServer,
    esm.WebSocket === cjs,
    esm.WebSocketServer === cjs.Server,
    esm.createWebSocketStream === cjs.createWebSocketStream,
  ],
  constants: constants.map((k) => [cjs[k], (cjs.prototype as Record<string, unknown>)[k]]),
  server: [server instanceof EventEmitter, server.clients instanceof Set],
  // What TypeScript's and Babel's CommonJS interop make of it (`import WebSocket from 'ws'` compiled to require).
  interopDefault:
    ((m: { __esModule?: boolean }) => (m.__esModule ? (m as { default?: unknown }).default : m))(
      cjs as { __esModule?: boolean },
    ) === cjs,
});
