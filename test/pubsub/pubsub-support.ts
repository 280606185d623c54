/** Shared by the pub/sub tests: a server that hands out accepted streams, and a layer that records writes. */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { DuplexLayer, WebSocketStream, type StreamOptions } from '../../src/index.js';

/** A next layer over a real socket that keeps every Buffer the stream writes (to check identity). */
export class RecordingLayer extends DuplexLayer {
  readonly written: Buffer[] = [];
  override write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.written.push(...chunks);
    super.write(chunks, cb);
  }
}

export interface TestServer {
  port: number;
  /** The server side of the next connection accepted (in the order they were accepted). */
  next(): Promise<{ ws: WebSocketStream; layer: RecordingLayer }>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that accepts every upgrade into a WebSocketStream over a RecordingLayer. */
export async function startTestServer(options: StreamOptions = {}): Promise<TestServer> {
  const ready: { ws: WebSocketStream; layer: RecordingLayer }[] = [];
  const waiting: ((v: { ws: WebSocketStream; layer: RecordingLayer }) => void)[] = [];
  const all: WebSocketStream[] = [];
  const server = http.createServer();
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    const layer = new RecordingLayer(socket);
    const ws = new WebSocketStream(layer, options);
    all.push(ws);
    ws.accept(req, { head }).then(
      () => {
        const w = waiting.shift();
        if (w) w({ ws, layer });
        else ready.push({ ws, layer });
      },
      () => {},
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    next: () => {
      const r = ready.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      for (const ws of all) ws.nextLayer.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A seeded pseudo-random generator (mulberry32), so a failing run can be repeated from its printed seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Waits for `emitter` to emit `event` once; resolves with its first argument. */
export function once<T>(emitter: { once(e: string, f: (v: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}
