/**
 * `readRequest`: reads an HTTP request head from a next layer, so that a server built on `net` or
 * `tls` can inspect, route or refuse a request before it accepts it (the Beast pattern).
 */
import type { Duplex } from 'node:stream';
import { WebSocketError } from '../errors.js';
import { normaliseRequestLimits, type ReadRequestOptions } from '../options.js';
import { HeadError, HeadReader, parseRequestHead, type ParsedRequest } from '../proto/http.js';
import { DuplexLayer, attachSink, toNextLayer, type NextLayer } from './next-layer.js';

export interface ReadRequestResult {
  request: ParsedRequest;
  /** Bytes read past the request head: pass them to `accept(request, { head })`. */
  head: Buffer;
}

/**
 * Reads one request head. Rejects with ERR_WS_BAD_REQUEST (400) or ERR_WS_HEADER_LIMIT (431; 414
 * for a request line alone over the limit), whose `status` says how to answer (see
 * `rejectUpgrade`); with ERR_WS_EOF if the peer ends first. Writes nothing and leaves the layer open and paused; a Duplex also half-open (`allowHalfOpen`) until a
 * layer is attached to it again (accept, rejectUpgrade): a FIN that came with the request is told
 * to that layer, and node does not end our side first (which would leave nothing to answer on).
 * A socket answered by hand instead gets node's default back at the peer's FIN if it was written to
 * before that FIN; one dropped, or written to only after, is the caller's to end or destroy.
 */
export function readRequest(layer: Duplex | NextLayer, options?: ReadRequestOptions): Promise<ReadRequestResult> {
  const reader = new HeadReader(normaliseRequestLimits(options), parseRequestHead);
  const next = toNextLayer(layer);
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: WebSocketError | null, result?: ReadRequestResult): void => {
      if (done) return;
      done = true;
      // A head read (or refused) is answered next, on this socket; one that never came is not.
      if (next instanceof DuplexLayer && (err === null || err instanceof HeadError)) next.handOver();
      else next.detach();
      if (err) reject(err);
      else resolve(result!);
    };
    attachSink(next, {
      onData: (chunk) => {
        if (done) return;
        try {
          const r = reader.push(chunk);
          if (r.done) finish(null, { request: r.head, head: r.rest });
        } catch (err) {
          finish(err as WebSocketError);
        }
      },
      onEnd: () => finish(new WebSocketError('ERR_WS_EOF', 'the peer ended before a whole request head')),
      onError: (err) => finish(new WebSocketError('ERR_WS_NEXT_LAYER', err.message, { cause: err })),
      onClose: () => finish(new WebSocketError('ERR_WS_EOF', 'the connection closed before a whole request head')),
    });
  });
}
