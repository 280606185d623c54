/**
 * Server role: accept() refusing a bad request with 400 while its signal aborts. Once the refusal is decided
 * the handshake is over (the stream gave up); the 400 goes out whole and accept() fails with the request's own
 * error, not ERR_WS_ABORTED, and the signal destroys nothing. A custom layer holds the 400's write, so the abort
 * lands while it is being sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LayerSink, type NextLayer, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { requestHead } from '../support/frames.js';

/** A layer whose writes complete only when the test says (`complete`); destroys and ends are counted. */
class HeldLayer implements NextLayer {
  sink: LayerSink | null = null;
  destroyed = false;
  destroys = 0;
  ends = 0;
  readonly writableLength = 0;
  readonly written: Buffer[] = [];
  private held: ((err?: Error | null) => void)[] = [];
  private wrote: (() => void) | null = null;
  attach(sink: LayerSink): void {
    this.sink = sink;
  }
  detach(): void {
    this.sink = null;
  }
  write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    this.written.push(Buffer.concat(chunks));
    this.held.push(cb);
    this.wrote?.();
  }
  /** Resolves once a write is held. */
  writeHeld(): Promise<void> {
    if (this.held.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.wrote = resolve;
    });
  }
  /** The held writes complete. */
  complete(): void {
    for (const cb of this.held.splice(0)) cb(null);
  }
  pause(): void {}
  resume(): void {}
  end(): void {
    this.ends++;
  }
  destroy(): void {
    this.destroys++;
    if (this.destroyed) return;
    this.destroyed = true;
    this.sink?.onClose();
  }
}

describe('the signal aborting while a refusal is sent (server role)', () => {
  it("a request without Sec-WebSocket-Key: the 400 goes out whole, accept() fails with the request's error, not ERR_WS_ABORTED; the signal destroys nothing", async () => {
    const layer = new HeldLayer();
    const ws = new WebSocketStream(layer);
    const abort = new AbortController();
    const accepting = ws.accept({ signal: abort.signal }).then(
      () => assert.fail('accept() opened on a request without a key'),
      (e: WebSocketError) => e,
    );
    layer.sink!.onData(Buffer.from(requestHead({ 'Sec-WebSocket-Key': null })));
    await layer.writeHeld();
    abort.abort();
    layer.complete();
    const err = await accepting;
    assert.notEqual(err.code, 'ERR_WS_ABORTED');
    assert.equal(err.code, 'ERR_WS_NO_SEC_KEY');
    assert.equal(ws.closeInfo?.error, err, 'closeInfo reports the refusal');
    const sent = Buffer.concat(layer.written).toString('latin1');
    assert.match(sent, /^HTTP\/1\.1 400 /);
    assert.equal(layer.ends, 1, 'the refusal ended its side');
    assert.equal(layer.destroys, 0, 'the abort destroyed nothing (the refusal lingers for the client to read it)');
  });
});
