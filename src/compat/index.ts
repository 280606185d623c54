/**
 * `ws-stream/ws`: the `ws` package's API on ws-stream's engine. A one-line change for code written
 * for ws: `import WebSocket, { WebSocketServer } from 'ws-stream/ws'`.
 */
import type { IncomingMessage } from 'node:http';
import { createWebSocketStream } from './duplex.js';
import {
  CloseEvent as CloseEventClass,
  ErrorEvent as ErrorEventClass,
  Event as EventClass,
  MessageEvent as MessageEventClass,
} from './event-target.js';
import { WebSocket } from './websocket.js';
import { WebSocketServer } from './websocket-server.js';

/** An event class, typed as the events a WebSocket dispatches (@types/ws's interfaces). */
type EventConstructor<C extends abstract new (...args: never) => unknown, E> = new (
  ...args: ConstructorParameters<C>
) => E;
const Event = EventClass as unknown as EventConstructor<typeof EventClass, WebSocket.Event>;
const CloseEvent = CloseEventClass as unknown as EventConstructor<typeof CloseEventClass, WebSocket.CloseEvent>;
const ErrorEvent = ErrorEventClass as unknown as EventConstructor<typeof ErrorEventClass, WebSocket.ErrorEvent>;
const MessageEvent = MessageEventClass as unknown as EventConstructor<typeof MessageEventClass, WebSocket.MessageEvent>;
type Event = WebSocket.Event;
type CloseEvent = WebSocket.CloseEvent;
type ErrorEvent = WebSocket.ErrorEvent;
type MessageEvent = WebSocket.MessageEvent;

/** The WebSocket class with ws's statics (`WebSocket.Server`, `WebSocket.createWebSocketStream`, …). */
type WebSocketWithStatics = typeof WebSocket & {
  Server: typeof WebSocketServer;
  WebSocketServer: typeof WebSocketServer;
  WebSocket: typeof WebSocket;
  createWebSocketStream: typeof createWebSocketStream;
  default: WebSocketWithStatics;
  CloseEvent: typeof CloseEvent;
  ErrorEvent: typeof ErrorEvent;
  Event: typeof Event;
  MessageEvent: typeof MessageEvent;
};

const DefaultWebSocket = WebSocket as WebSocketWithStatics;
DefaultWebSocket.Server = WebSocketServer;
DefaultWebSocket.WebSocketServer = WebSocketServer;
DefaultWebSocket.WebSocket = WebSocket;
DefaultWebSocket.createWebSocketStream = createWebSocketStream;
// What require() returns (main.ts) is this class, while TypeScript types a CommonJS import by this
// module's names: every one of them is also a static, so code that compiles also runs.
DefaultWebSocket.default = DefaultWebSocket;
DefaultWebSocket.CloseEvent = CloseEvent;
DefaultWebSocket.ErrorEvent = ErrorEvent;
DefaultWebSocket.Event = Event;
DefaultWebSocket.MessageEvent = MessageEvent;

// The default export is also a type (a WebSocket) and a namespace (`WebSocket.RawData`, …), as
// @types/ws's is: code written for ws annotates with it. The namespace repeats the class's own, with
// the classes' types as @types/ws has them for CommonJS (`WebSocket.Server`). Declared beside this
// value rather than added to the class by augmenting './websocket.js': a user's
// `declare module 'ws' { interface WebSocket { … } }` would then no longer reach the class.
type DefaultWebSocket = WebSocket;
type ServerClass<W extends typeof WebSocket, R extends typeof IncomingMessage> = WebSocketServer<W, R>;
type WebSocketClass = WebSocket;
declare namespace DefaultWebSocket {
  type RawData = WebSocket.RawData;
  type Data = WebSocket.Data;
  type CertMeta = WebSocket.CertMeta;
  type ClientOptions = WebSocket.ClientOptions;
  type PerMessageDeflateOptions = WebSocket.PerMessageDeflateOptions;
  type ServerOptions<
    W extends typeof WebSocket = typeof WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = WebSocket.ServerOptions<W, R>;
  type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> =
    WebSocket.VerifyClientCallbackSync<Request>;
  type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> =
    WebSocket.VerifyClientCallbackAsync<Request>;
  type FinishRequestCallback = WebSocket.FinishRequestCallback;
  type Event = WebSocket.Event;
  type ErrorEvent = WebSocket.ErrorEvent;
  type CloseEvent = WebSocket.CloseEvent;
  type MessageEvent = WebSocket.MessageEvent;
  type WebSocketEventMap = WebSocket.WebSocketEventMap;
  type EventListenerOptions = WebSocket.EventListenerOptions;
  type AddressInfo = WebSocket.AddressInfo;
  type Server<
    W extends typeof WebSocket = typeof WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = ServerClass<W, R>;
  type WebSocketServer<
    W extends typeof WebSocket = typeof WebSocket,
    R extends typeof IncomingMessage = typeof IncomingMessage,
  > = ServerClass<W, R>;
  type WebSocket = WebSocketClass;
}

export default DefaultWebSocket;
export { WebSocket, WebSocketServer, WebSocketServer as Server, createWebSocketStream };
export type { BinaryType, ClientOptions, Data, RawData, SendOptions } from './websocket.js';
export type {
  ServerOptions,
  VerifyClientCallback,
  VerifyClientCallbackAsync,
  VerifyClientCallbackSync,
  VerifyClientInfo,
} from './websocket-server.js';
export type { CommonOptions, PerMessageDeflateOptions } from './options.js';
export type AddressInfo = WebSocket.AddressInfo;
export type CertMeta = WebSocket.CertMeta;
export type EventListenerOptions = WebSocket.EventListenerOptions;
export type FinishRequestCallback = WebSocket.FinishRequestCallback;
export type WebSocketEventMap = WebSocket.WebSocketEventMap;
export { CloseEvent, ErrorEvent, Event, MessageEvent };
