/**
 * Refusing an upgrade on purpose: an HTTP response with any status, headers and body, then the
 * next layer is torn down (e.g. 401 after an asynchronous authentication, 403 for a wrong Origin,
 * 503 while shutting down).
 */
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';
import { checkFn, checkInt, checkOptionsObject, type ResponseHeaders } from '../options.js';
import { errorResponse } from '../proto/handshake-server.js';
import { reasonPhrase, serializeResponse } from '../proto/http.js';
import { toNextLayer, type NextLayer } from './next-layer.js';

export interface RejectOptions {
  /** Extra response headers (they replace the defaults of the same name). */
  headers?: ResponseHeaders;
  /** Body; default: the status's reason phrase. */
  body?: string | Uint8Array;
  /** Edits the headers last, as accept's decorator does. */
  decorator?: (headers: ResponseHeaders, status: number) => void;
  /** How long to wait for the peer to close after our response, in ms, before destroying. Default 2000. */
  lingerTimeout?: number;
}

/**
 * Answers an upgrade request with `status` and tears the layer down. Resolves once the response
 * was handed to the next layer; rejects with ERR_WS_NEXT_LAYER if it could not be written.
 */
export function rejectUpgrade(layer: Duplex | NextLayer, status: number, options: RejectOptions = {}): Promise<void> {
  if (!Number.isInteger(status) || status < 300 || status > 999) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'status must be an HTTP status from 300 to 999');
  }
  checkOptionsObject(options);
  // Each option read once, into a local: what is checked is what is sent.
  const { headers: extra, body: given, decorator, lingerTimeout } = options;
  if (given !== undefined && typeof given !== 'string' && !(given instanceof Uint8Array)) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'body must be a string or a Uint8Array');
  }
  checkFn('decorator', decorator);
  const linger = checkInt('lingerTimeout', lingerTimeout ?? 2000, 0, 2 ** 31 - 1);
  const body =
    given === undefined
      ? undefined
      : typeof given === 'string'
        ? Buffer.from(given, 'utf8')
        : Buffer.from(given.buffer, given.byteOffset, given.byteLength);
  const base = errorResponse(status, reasonPhrase(status));
  const payload = body ?? base.body;
  const headers: ResponseHeaders = { ...base.headers, 'Content-Length': String(payload.length), ...extra };
  decorator?.(headers, status);
  const bytes = serializeResponse(status, headers, payload);
  const sent = sendAndTearDown(toNextLayer(layer), bytes, linger);
  // As every operation's Promise: a refusal fired and forgotten (`void rejectUpgrade(socket, 404)`)
  // to a client that already left must not crash the process; one awaited still sees the error.
  sent.catch(() => {});
  return sent;
}

/** Writes `bytes`, ends the layer, and destroys it if the peer has not closed after `linger` ms. */
export function sendAndTearDown(layer: NextLayer, bytes: Buffer, linger: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    layer.attach({
      onData: () => {},
      onEnd: () => layer.end(),
      onError: () => layer.destroy(),
      onClose: () => clearTimeout(timer),
    });
    layer.write([bytes], (err) => {
      if (err) {
        layer.destroy();
        reject(new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err }));
      } else {
        resolve();
      }
    });
    layer.end();
    if (!layer.destroyed) {
      timer = setTimeout(() => layer.destroy(), linger);
      timer.unref();
    }
  });
}
