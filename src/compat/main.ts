/**
 * The runtime entry of `ws-stream/ws` (package.json "exports"; its types are index.d.ts): index.ts,
 * plus the name Node's require() of an ES module reads, so that `require('ws-stream/ws')` returns
 * the WebSocket class with its statics as `require('ws')` returns ws's, and CommonJS code
 * (`const WebSocket = require('ws'); new WebSocket.Server(…)`) runs unchanged where `ws` is aliased
 * to this module. Kept out of index.ts: a string export name in the published declarations does not
 * parse on TypeScript before 5.6.
 */
import DefaultWebSocket from './index.js';

export * from './index.js';
export default DefaultWebSocket;
export { DefaultWebSocket as 'module.exports' };
