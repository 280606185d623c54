/**
 * A custom next layer over a Duplex, written as a user's would be (not the library's DuplexLayer):
 * tests give `attach` the event wiring they want to check, the rest is the plain mapping; and an
 * in-memory Duplex pair as fastify's `injectWS` makes one.
 */
import { Duplex } from 'node:stream';
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

/**
 * Two duplexes wired to each other, which end but never destroy themselves (autoDestroy off, as duplexify's streams,
 * which fastify's `injectWS` uses). A write reaches the peer within the call: its 'data' comes then, if it flows.
 */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (peer: () => Duplex) =>
    new Duplex({
      autoDestroy: false,
      read() {},
      write(chunk: Buffer, _encoding, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
    });
  ends.push(
    make(() => ends[1]),
    make(() => ends[0]),
  );
  return [ends[0], ends[1]];
}
