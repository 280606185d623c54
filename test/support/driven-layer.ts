/**
 * A custom next layer a test drives: `deliver` is its 'data' event, on the test's own stack (what
 * a stream does while a chunk is handled and when that handling returns is then observable), and
 * every write is kept, its callback on a microtask.
 */
import type { LayerSink, NextLayer, WebSocketStream } from '../../src/index.js';
import { parseFrames, requestHead } from './frames.js';

export class DrivenLayer implements NextLayer {
  sink: LayerSink | null = null;
  destroyed = false;
  readonly writableLength = 0;
  /** Each write's bytes, one entry per write call. */
  readonly written: Buffer[] = [];
  attach(sink: LayerSink): void {
    this.sink = sink;
  }
  detach(): void {
    this.sink = null;
  }
  deliver(bytes: Buffer): void {
    this.sink!.onData(bytes);
  }
  write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.written.push(Buffer.concat(chunks));
    queueMicrotask(() => cb(this.destroyed ? new Error('destroyed') : null));
  }
  /** The payloads of the text frames written so far, in order. */
  texts(): string[] {
    return parseFrames(Buffer.concat(this.written))
      .frames.filter((f) => f.opcode === 1)
      .map((f) => f.payload.toString());
  }
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sink?.onClose();
  }
}

/** Opens `ws` (a server stream over `layer`) with a client's request; the response head is not kept in `written`. */
export async function acceptOver(ws: WebSocketStream, layer: DrivenLayer): Promise<void> {
  const opened = ws.accept();
  layer.deliver(Buffer.from(requestHead()));
  await opened;
  layer.written.length = 0;
}
