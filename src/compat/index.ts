/**
 * `ws-stream/ws`: the `ws` package's API on ws-stream's engine. A one-line change for code written
 * for ws: `import WebSocket, { WebSocketServer } from 'ws-stream/ws'`.
 */
import { createWebSocketStream } from './duplex.js';
import { CloseEvent, ErrorEvent, Event, MessageEvent } from './event-target.js';
import { WebSocket } from './websocket.js';
import { WebSocketServer } from './websocket-server.js';

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

export default DefaultWebSocket;
export { WebSocket, WebSocketServer, WebSocketServer as Server, createWebSocketStream };
export type { BinaryType, ClientOptions, SendOptions } from './websocket.js';
export type { ServerOptions, VerifyClientInfo, VerifyClientCallback } from './websocket-server.js';
export type { CommonOptions, PerMessageDeflateOptions } from './options.js';
export { CloseEvent, ErrorEvent, Event, MessageEvent };
