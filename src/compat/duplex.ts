/**
 * ws's `createWebSocketStream(ws, options)`: a Duplex whose writes are messages sent and whose
 * reads are the messages received, with ws's semantics (pause on backpressure, end on 'close',
 * destroy on 'error', `end()` closes the WebSocket).
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { writeOwnBytes } from '../stream/websocket-stream.js';
import type { WebSocket } from './websocket.js';

function emitClose(stream: Duplex): void {
  stream.emit('close');
}

function duplexOnEnd(this: Duplex): void {
  if (!this.destroyed && this.writableFinished) this.destroy();
}

function duplexOnError(this: Duplex, err: Error): void {
  this.removeListener('error', duplexOnError);
  this.destroy();
  // Without another listener the error is re-emitted, so that it still throws.
  if (this.listenerCount('error') === 0) this.emit('error', err);
}

export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  let terminateOnDestroy = true;
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
  });

  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    const data = !isBinary && duplex.readableObjectMode ? msg.toString() : msg;
    if (!duplex.push(data)) ws.pause();
  });
  ws.once('error', (err: Error) => {
    if (duplex.destroyed) return;
    // The WebSocket already closes itself after an error (its close frame should go out).
    terminateOnDestroy = false;
    duplex.destroy(err);
  });
  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  duplex._destroy = (err, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(err);
      process.nextTick(emitClose, duplex);
      return;
    }
    let called = false;
    ws.once('error', (e: Error) => {
      called = true;
      callback(e);
    });
    ws.once('close', () => {
      if (!called) callback(err);
      process.nextTick(emitClose, duplex);
    });
    if (terminateOnDestroy) ws.terminate();
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._final(callback));
      return;
    }
    // No socket: a client whose handshake failed; its 'error' destroys the duplex.
    const socket = ws._socket;
    if (socket === null) return;
    if (socket.writableFinished) {
      callback();
      if (duplex.readableEnded) duplex.destroy();
    } else {
      socket.once('finish', () => callback());
      ws.close();
    }
  };

  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk, encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._write(chunk, encoding, callback));
      return;
    }
    // The chunk is the Duplex's until `callback` (a Writable holds the chunks it buffers by reference too): one
    // that waits behind a message being compressed is not copied, and is read in its turn, as ws reads it.
    const stream = ws._stream;
    if (stream === null) ws.send(chunk, callback);
    else writeOwnBytes(stream, () => ws.send(chunk, callback));
  };

  duplex.on('end', duplexOnEnd);
  duplex.on('error', duplexOnError);
  return duplex;
}
