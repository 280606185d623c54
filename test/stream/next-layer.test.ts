/** A custom NextLayer (not a Duplex) carries a WebSocket as well as a socket does. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketStream, readRequest, type LayerSink, type NextLayer, type WebSocketError } from '../../src/index.js';
import { requestHead, text, parseFrames, closeFrame } from '../support/frames.js';

/** A minimal transport: bytes written are recorded; bytes are injected by the test. */
class MemoryLayer implements NextLayer {
  sink: LayerSink | null = null;
  sent: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;
  /** Resolves when the stream ends its sending side. */
  readonly whenEnded: Promise<void>;
  private onEnded!: () => void;
  constructor() {
    this.whenEnded = new Promise((r) => {
      this.onEnded = r;
    });
  }
  attach(sink: LayerSink): void {
    this.sink = sink;
  }
  detach(): void {
    this.sink = null;
  }
  write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.sent.push(...chunks.map((c) => Buffer.from(c)));
    setImmediate(cb);
  }
  pause(): void {}
  resume(): void {}
  end(): void {
    this.ended = true;
    this.onEnded();
  }
  destroy(): void {
    if (!this.destroyed) {
      this.destroyed = true;
      setImmediate(() => this.sink?.onClose());
    }
  }
  deliver(b: Buffer): void {
    this.sink!.onData(b);
  }
}

it('accept() reads the request from a custom layer, echoes a message, and the close handshake ends it', async () => {
  const layer = new MemoryLayer();
  const ws = new WebSocketStream(layer);
  const accepting = ws.accept();
  layer.deliver(Buffer.concat([Buffer.from(requestHead()), text('custom')]));
  await accepting;
  const msg = await ws.read();
  await ws.write(msg.data, { binary: msg.binary });
  const wire = Buffer.concat(layer.sent);
  assert.match(wire.toString('latin1'), /^HTTP\/1\.1 101 /);
  const frames = parseFrames(wire.subarray(wire.indexOf('\r\n\r\n') + 4)).frames;
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.payload.toString()]),
    [[1, 'custom']],
  );
  const closing = ws.close({ code: 1000 });
  assert.equal(layer.ended, false, 'not ended before the close handshake');
  layer.deliver(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
  await layer.whenEnded; // the server ends its side after the close handshake
  const after = parseFrames(Buffer.concat(layer.sent).subarray(wire.length)).frames;
  assert.deepEqual(
    after.map((f) => [f.opcode, f.payload.readUInt16BE(0)]),
    [[8, 1000]],
    'our close frame went out before the end',
  );
  layer.sink!.onEnd();
  layer.destroy();
  await closing;
  assert.equal(ws.closeInfo?.wasClean, true);
});

it('a reset after both close frames is no error: closeInfo is clean without one, close() resolves', async () => {
  for (const first of ['local', 'remote'] as const) {
    const layer = new MemoryLayer();
    const ws = new WebSocketStream(layer);
    const accepting = ws.accept();
    layer.deliver(Buffer.from(requestHead()));
    await accepting;
    let closing: Promise<void>;
    if (first === 'local') {
      closing = ws.close({ code: 1000, reason: 'bye' });
      layer.deliver(closeFrame(1000, 'bye'));
    } else {
      layer.deliver(closeFrame(1001, 'away'));
      closing = ws.close();
    }
    await layer.whenEnded; // both frames exchanged: the server ends its side
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    layer.sink!.onError(reset);
    layer.sink!.onClose();
    await closing;
    const info = ws.closeInfo!;
    assert.equal(info.initiatedBy, first, first);
    assert.equal(info.wasClean, true, first);
    assert.equal(info.error, undefined, first);
    assert.equal(info.code, first === 'local' ? 1000 : 1001, first);
  }
});

it('readRequest() on a custom layer destroyed before it: fails at once with ERR_WS_EOF (the layer tells its close to no sink attached after it)', async () => {
  const layer = new MemoryLayer();
  layer.destroy();
  await new Promise((resolve) => setImmediate(resolve)); // its close told, to no sink
  const reading = readRequest(layer).then(
    () => 'read',
    (e: WebSocketError) => e.code,
  );
  const first = await Promise.race([reading, new Promise((resolve) => setImmediate(resolve, 'still waiting'))]);
  assert.equal(first, 'ERR_WS_EOF');
});
