/** ws-stream: the public surface. */
export { WebSocketError, describeError, errorCodes, isWebSocketError } from './errors.js';
export type { ErrorCode, ErrorCondition } from './errors.js';
export { streamDefaults, requestLimitDefaults } from './options.js';
export type { StreamOptions, AcceptOptions, ReadRequestOptions, ResponseHeaders } from './options.js';
export type { UpgradeRequest, ParsedRequest, HttpHeaders } from './proto/http.js';
export { isUpgrade, computeAccept } from './proto/handshake-server.js';
export { isValidCloseCode } from './proto/close-payload.js';
export { WebSocketStream, ReceivedData } from './stream/websocket-stream.js';
export type { CloseInfo, CloseOptions, WriteOptions, WriteSomeOptions, WriteData } from './stream/websocket-stream.js';
export type { Callback } from './stream/completion.js';
export { DuplexLayer } from './stream/next-layer.js';
export type { NextLayer, LayerSink } from './stream/next-layer.js';
export { readRequest } from './stream/read-request.js';
export type { ReadRequestResult } from './stream/read-request.js';
export { rejectUpgrade } from './stream/reject.js';
export type { RejectOptions } from './stream/reject.js';
export { createTestPair, TestLayer } from './stream/test-layer.js';
export type { TestLayerOptions } from './stream/test-layer.js';
