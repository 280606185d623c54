/**
 * A test next layer in the spirit of Beast's `test::stream`: an in-memory connected pair of
 * Duplex streams that can deliver reads in pieces of N bytes and fail the Nth read or write, so
 * that each operation's error paths can be walked one by one.
 */
import { Duplex } from 'node:stream';
import { checkInt, checkOptionsObject } from '../options.js';

export interface TestLayerOptions {
  /** Deliver what the peer writes in pieces of at most this many bytes (1: a byte at a time). Default: whole writes. */
  readSize?: number;
  /** Fail the Nth delivered read (1-based): the stream is destroyed with an error instead. */
  failReadAt?: number;
  /** Fail the Nth write (1-based) with an error. */
  failWriteAt?: number;
}

export class TestLayer extends Duplex {
  peer!: TestLayer;
  /** Reads delivered so far. */
  reads = 0;
  /** Writes made so far. */
  writes = 0;
  /** Every byte written by this end, in order (what the peer saw on the wire). */
  readonly written: Buffer[] = [];
  /** The error of the failed write (`failWriteAt`): no write after it is delivered. */
  private writeFailed: Error | null = null;

  constructor(readonly options: TestLayerOptions = {}) {
    checkOptionsObject(options);
    for (const name of ['readSize', 'failReadAt', 'failWriteAt'] as const) {
      const value = options[name];
      if (value !== undefined) checkInt(name, value, 1, Number.MAX_SAFE_INTEGER); // readSize 0 would never end
    }
    super({ allowHalfOpen: true });
  }

  /** All bytes this end has written, joined. */
  wire(): Buffer {
    return Buffer.concat(this.written);
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes++;
    if (this.options.failWriteAt === this.writes) {
      this.writeFailed = new Error(`test layer: write ${this.writes} failed`);
      cb(this.writeFailed);
      return;
    }
    // Node still hands the rest of a corked batch to _write after one failed (it destroys the stream a
    // tick later): as on a socket, nothing behind the failed write reaches the peer.
    if (this.writeFailed !== null) {
      cb(this.writeFailed);
      return;
    }
    const copy = Buffer.from(chunk); // the peer may unmask in place: never share the writer's memory
    this.written.push(copy);
    setImmediate(() => this.peer.deliver(copy));
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    setImmediate(() => {
      if (!this.peer.destroyed) this.peer.push(null);
    });
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    setImmediate(() => {
      // The other end sees the connection end, as after a TCP reset it would.
      if (!peer.destroyed && !peer.readableEnded) peer.push(null);
    });
    cb(err);
  }

  /** Delivers bytes written by the peer, in pieces of `readSize`. */
  private deliver(bytes: Buffer): void {
    if (this.destroyed) return;
    const size = this.options.readSize ?? bytes.length;
    for (let off = 0; off < bytes.length && !this.destroyed; off += size) {
      this.reads++;
      if (this.options.failReadAt === this.reads) {
        this.destroy(new Error(`test layer: read ${this.reads} failed`));
        return;
      }
      this.push(bytes.subarray(off, Math.min(off + size, bytes.length)));
    }
  }

  /** Delivers bytes as if the peer had written them (to test what a peer sends, byte for byte). */
  inject(bytes: Uint8Array): void {
    setImmediate(() => this.deliver(Buffer.from(bytes)));
  }
}

/** A connected pair: what one end writes, the other reads. Each end takes its own options. */
export function createTestPair(a: TestLayerOptions = {}, b: TestLayerOptions = {}): [TestLayer, TestLayer] {
  const x = new TestLayer(a);
  const y = new TestLayer(b);
  x.peer = y;
  y.peer = x;
  return [x, y];
}
