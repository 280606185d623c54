/**
 * A custom next layer over a Duplex, written as a user's would be (not the library's DuplexLayer):
 * tests give `attach` the event wiring they want to check, the rest is the plain mapping.
 */
import type { Duplex } from 'node:stream';
import type { LayerSink, NextLayer } from '../../src/index.js';

export abstract class CustomDuplexLayer implements NextLayer {
  constructor(protected readonly d: Duplex) {}
  abstract attach(sink: LayerSink): void;
  detach(): void {
    this.d.removeAllListeners('data');
  }
  write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.d.write(Buffer.concat(chunks), cb);
  }
  pause(): void {
    this.d.pause();
  }
  resume(): void {
    this.d.resume();
  }
  end(): void {
    this.d.end();
  }
  destroy(err?: Error): void {
    this.d.destroy(err);
  }
  get writableLength(): number {
    return this.d.writableLength;
  }
  get destroyed(): boolean {
    return this.d.destroyed;
  }
}
