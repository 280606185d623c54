/**
 * The CommonJS face of `ws-stream/ws` for TypeScript, as @types/ws's index.d.ts is ws's: `export =`
 * the WebSocket class with ws's statics, which is also the instance type and the namespace of ws's
 * types, so that `import WebSocket = require('ws')` names the class (the ES module's declarations,
 * index.ts, type it as the module: TypeScript does not read the `module.exports` export). A
 * CommonJS project that resolves `ws` to these declarations compiles code written for ws, under
 * `node16` too. What it exports at run time is index.js's default export: the same class.
 */
import type { IncomingMessage } from 'node:http';
// Type-only, so that a CommonJS program on `node16` (no require() of an ES module) takes it too.
import type * as WsStream from './index.js' with { 'resolution-mode': 'import' };

const WebSocket: typeof WsStream.default = (require('./index.js') as typeof WsStream).default;
type WebSocket = WsStream.WebSocket;
declare namespace WebSocket {
  type RawData = WsStream.RawData;
  type Data = WsStream.Data;
  type CertMeta = WsStream.CertMeta;
  type ClientOptions = WsStream.ClientOptions;
  type PerMessageDeflateOptions = WsStream.PerMessageDeflateOptions;
  type ServerOptions<
    W extends typeof WsStream.WebSocket = typeof WsStream.WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = WsStream.ServerOptions<W, R>;
  type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> =
    WsStream.VerifyClientCallbackSync<Request>;
  type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> =
    WsStream.VerifyClientCallbackAsync<Request>;
  type FinishRequestCallback = WsStream.FinishRequestCallback;
  type Event = WsStream.Event;
  type ErrorEvent = WsStream.ErrorEvent;
  type CloseEvent = WsStream.CloseEvent;
  type MessageEvent = WsStream.MessageEvent;
  type WebSocketEventMap = WsStream.WebSocketEventMap;
  type EventListenerOptions = WsStream.EventListenerOptions;
  type AddressInfo = WsStream.AddressInfo;
  type Server<
    W extends typeof WsStream.WebSocket = typeof WsStream.WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = WsStream.WebSocketServer<W, R>;
  type WebSocketServer<
    W extends typeof WsStream.WebSocket = typeof WsStream.WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = WsStream.WebSocketServer<W, R>;
  type WebSocket = WsStream.WebSocket;
}

export = WebSocket;
