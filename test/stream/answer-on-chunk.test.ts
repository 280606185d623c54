/**
 * What a reader writes in answer to a received chunk (an echo, an automatic pong) goes out when the
 * chunk is handled, in one write for the whole chunk, not on a later tick; and streams whose layers
 * deliver synchronously (each write handled on the writer's stack) do not answer each other on one
 * ever-deeper stack.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import {
  WebSocketStream,
  type LayerSink,
  type NextLayer,
  type ReceivedData,
  type WebSocketError,
} from '../../src/index.js';
import { noopWaiter } from '../../src/stream/write-queue.js';
import { parseFrames, ping, text } from '../support/frames.js';
import { acceptOver, DrivenLayer } from '../support/driven-layer.js';
import { openServerOverTcp } from '../support/open.js';

/** Echoes every message with callback reads, as `ws-stream serve` does. */
function echo(ws: WebSocketStream, waitless: boolean): void {
  const onMessage = (err: WebSocketError | null, m?: ReceivedData): void => {
    if (err) return;
    ws.write(m!.data, { binary: m!.binary }, waitless ? noopWaiter : () => {});
    ws.read(onMessage);
  };
  ws.read(onMessage);
}

describe('answers to a received chunk', () => {
  for (const waitless of [true, false]) {
    it(`the echoes and the pong of one chunk are written before its 'data' event returns, in one write (${waitless ? 'nobody waits' : 'callbacks'})`, async () => {
      const { ws, socket, peer } = await openServerOverTcp();
      try {
        echo(ws, waitless);
        // Listening after the stream: this listener runs once the stream has handled the chunk.
        let writes = 0;
        const write = socket.write;
        socket.write = function (this: net.Socket, ...args: unknown[]) {
          writes++;
          return (write as (...a: unknown[]) => boolean).apply(this, args);
        } as typeof socket.write;
        const outAtChunkEnd: { writes: number; bytes: number }[] = [];
        const before = socket.bytesWritten;
        socket.on('data', () => outAtChunkEnd.push({ writes, bytes: socket.bytesWritten - before }));

        // One write of the client: loopback delivers it as one chunk, or in a few (each is counted).
        peer.send(Buffer.concat([text('one'), ping('p'), text('two'), text('three')]));
        const frames = await peer.until(() => {
          const { frames } = parseFrames(peer.received.subarray(peer.received.indexOf('\r\n\r\n') + 4));
          return frames.length === 4 ? frames : undefined;
        });
        assert.deepEqual(
          frames.map((f) => [f.opcode, f.payload.toString()]),
          [
            [1, 'one'],
            [10, 'p'],
            [1, 'two'],
            [1, 'three'],
          ],
        );
        // Every answer was out when the last chunk's 'data' event returned (unmasked frames: 2 bytes of
        // header + the payload), in one write per chunk at most.
        const total = frames.reduce((n, f) => n + 2 + f.payload.length, 0);
        const last = outAtChunkEnd.at(-1)!;
        assert.equal(last.bytes, total);
        assert.ok(last.writes <= outAtChunkEnd.length, `${last.writes} writes for ${outAtChunkEnd.length} chunks`);
      } finally {
        socket.destroy();
        peer.io.destroy();
      }
    });
  }

  it('two streams over custom layers that deliver synchronously echo each other 5,000 times on a shallow stack', async () => {
    const [a, b] = syncPair();
    const server = new WebSocketStream(a);
    const client = new WebSocketStream(b);
    await Promise.all([server.accept(), client.handshake({ host: 'example.test', target: '/' })]);
    echo(server, true);
    const rounds = 5000;
    let got = 0;
    const done = new Promise<void>((resolve, reject) => {
      const onMessage = (err: WebSocketError | null, m?: ReceivedData): void => {
        if (err) return reject(err);
        got++;
        if (got === rounds) return resolve();
        // Answered inside the server's flush: without a bound, every round would go one stack deeper.
        client.write(m!.data, { binary: m!.binary }, noopWaiter);
        client.read(onMessage);
      };
      client.read(onMessage);
    });
    client.write('ball', noopWaiter);
    await done;
    assert.equal(got, rounds);
    a.destroy();
    b.destroy();
  });

  it("a reader that throws while a chunk is handled: its answer goes out at the chunk's end, what it threw comes on the next tick, and the next chunk's answer at that chunk's end", async (t) => {
    const layer = new DrivenLayer();
    const ws = new WebSocketStream(layer);
    await acceptOver(ws, layer);

    // A callback that throws disturbs nothing: what it threw is thrown again on the next tick (captured here).
    const thrown = new Promise<unknown>((resolve) => process.setUncaughtExceptionCaptureCallback(resolve));
    t.after(() => process.setUncaughtExceptionCaptureCallback(null));
    ws.read((err, m) => {
      if (err) return;
      ws.write(`re:${m!.data}`, noopWaiter);
      throw new Error('reader failed');
    });
    // The layer's 'data' event is this call: nothing comes out of it, and the chunk's answer is out when it returns.
    layer.deliver(text('one'));
    assert.deepEqual(layer.texts(), ['re:one']);
    assert.equal(((await thrown) as Error).message, 'reader failed');
    process.setUncaughtExceptionCaptureCallback(null);

    // The stream goes on answering: the next chunk's echo is out when its handling returns.
    ws.read((err, m) => {
      if (!err) ws.write(`re:${m!.data}`, noopWaiter);
    });
    layer.deliver(text('two'));
    assert.deepEqual(layer.texts(), ['re:one', 're:two']);
    layer.destroy();
  });
});

/**
 * Two connected custom next layers: a write is handed to the other end's sink at once, on the
 * writer's stack (no Duplex buffering between them), its callback on a microtask.
 */
function syncPair(): [NextLayer, NextLayer] {
  class SyncEnd implements NextLayer {
    peer!: SyncEnd;
    sink: LayerSink | null = null;
    destroyed = false;
    readonly writableLength = 0;
    attach(sink: LayerSink): void {
      this.sink = sink;
    }
    detach(): void {
      this.sink = null;
    }
    write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
      if (this.destroyed) {
        queueMicrotask(() => cb(new Error('destroyed')));
        return;
      }
      this.peer.sink?.onData(Buffer.concat(chunks));
      queueMicrotask(() => cb(null));
    }
    pause(): void {}
    resume(): void {}
    end(): void {
      this.peer.sink?.onEnd();
    }
    destroy(): void {
      for (const end of [this, this.peer]) {
        if (end.destroyed) continue;
        end.destroyed = true;
        end.sink?.onClose();
      }
    }
  }
  const a = new SyncEnd();
  const b = new SyncEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
