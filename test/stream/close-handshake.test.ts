/**
 * The close handshake object on its own: who closed first, the frames it asks its host to send,
 * the one fail path, the timer, and how waiters complete. Its host records what it was asked to do.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketError } from '../../src/index.js';
import { CloseHandshake, type CloseHost } from '../../src/stream/close-handshake.js';
import { Completion } from '../../src/stream/completion.js';
import { encodeClosePayload } from '../../src/proto/close-payload.js';

/** A host that records every request, in order, as a short string. */
class RecordingHost implements CloseHost {
  readonly calls: string[] = [];
  destroyed: (() => void) | null = null;
  /** Messages are being compressed: a close frame behind them waits here until `release()`. */
  compressing = false;
  private held: (() => void)[] = [];
  queueClose(payload: Buffer, behindMessages: boolean, queued: () => void): void {
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : 'none';
    const reason = payload.subarray(2).toString();
    this.calls.push(['close', code, reason, behindMessages ? 'behind' : ''].filter((x) => x !== '').join(' '));
    if (behindMessages && this.compressing) this.held.push(queued);
    else queued();
  }
  /** The messages are compressed: the close frame behind them is queued. */
  release(): void {
    this.compressing = false;
    for (const queued of this.held.splice(0)) queued();
  }
  closeExchanged(): void {
    this.calls.push('exchanged');
  }
  endLayer(): void {
    this.calls.push('end');
  }
  destroyLayer(): void {
    this.calls.push('destroy');
    this.destroyed?.();
  }
  endRead(err: WebSocketError): void {
    this.calls.push(`endRead ${err.code}`);
  }
}

const settled = (c: Completion<void>) =>
  c.promise!.then(
    () => 'ok',
    (e: WebSocketError) => e.code,
  );

function started(): Completion<void> {
  const c = new Completion<void>(undefined);
  c.started();
  return c;
}

/** The handshakes a test made: after it, their layers close (as a stream's does when its socket goes). */
const made: CloseHandshake[] = [];

/** A handshake over `host`, whose close timer (60 s in most tests) is cleared after the test, not left to hold the process. */
function handshake(host: CloseHost, timeoutMs: number): CloseHandshake {
  const h = new CloseHandshake(host, timeoutMs);
  made.push(h);
  return h;
}

describe('CloseHandshake', () => {
  afterEach(() => {
    for (const h of made.splice(0)) h.layerClosed();
  });

  it('we close first, the peer answers: local, our code; close() succeeds after notify', async () => {
    const host = new RecordingHost();
    const h = handshake(host, 60_000);
    const c = started();
    h.start(4000, encodeClosePayload(4000, 'ours'), c);
    assert.deepEqual(host.calls, ['close 4000 ours behind']);
    assert.equal(h.complete, false);
    h.peerClosed(1001, 'theirs', encodeClosePayload(1001, 'theirs'));
    h.finishIfComplete();
    assert.deepEqual(host.calls.slice(1), ['exchanged']);
    const info = h.layerClosed();
    h.notify();
    assert.deepEqual(info, { initiatedBy: 'local', code: 4000, reason: 'ours', wasClean: true });
    assert.equal(await settled(c), 'ok');
  });

  it('the peer closes first and the app closes before our answer: remote, the peer code; never overwritten', async () => {
    const host = new RecordingHost();
    const h = handshake(host, 60_000);
    h.peerClosed(1001, 'going', encodeClosePayload(1001, 'going'));
    const c = started();
    h.start(1000, encodeClosePayload(1000, 'bye'), c);
    assert.deepEqual(host.calls, ['close 1000 bye behind', 'exchanged']);
    h.answer(); // our frame already went: nothing more
    assert.equal(host.calls.length, 2);
    assert.deepEqual(h.layerClosed(), { initiatedBy: 'remote', code: 1001, reason: 'going', wasClean: true });
    h.notify();
    assert.equal(await settled(c), 'ok');
  });

  it('answer() echoes the peer code, and a close without a code is answered without one', () => {
    for (const [code, expected] of [
      [1001, 'close 1001'],
      [1005, 'close none'],
    ] as const) {
      const host = new RecordingHost();
      const h = handshake(host, 60_000);
      h.peerClosed(code, '', encodeClosePayload(code === 1005 ? undefined : code));
      h.answer();
      h.finishIfComplete();
      assert.deepEqual(host.calls, [`${expected} behind`, 'exchanged']);
      assert.deepEqual(h.layerClosed(), { initiatedBy: 'remote', code, reason: '', wasClean: true });
    }
  });

  it('the answer, or a close() after the peer closed, waits behind messages being compressed; then the exchange', () => {
    for (const how of ['answer', 'close'] as const) {
      const host = new RecordingHost();
      const h = handshake(host, 60_000);
      host.compressing = true;
      h.peerClosed(1000, '', encodeClosePayload(1000));
      if (how === 'answer') h.answer();
      else h.start(1000, encodeClosePayload(1000, ''), started());
      h.finishIfComplete();
      assert.equal(h.waiting, true);
      assert.deepEqual(host.calls, ['close 1000 behind']); // not exchanged: the server must not end yet
      host.release();
      assert.equal(h.waiting, false);
      assert.deepEqual(host.calls, ['close 1000 behind', 'exchanged']);
      h.finishIfComplete();
      assert.equal(host.calls.length, 2);
    }
  });

  it('fail(): the one path — our close frame with the code, reads end, the layer goes; the first cause stays', async () => {
    const host = new RecordingHost();
    const h = handshake(host, 60_000);
    const first = new WebSocketError('ERR_WS_BUFFER_OVERFLOW');
    h.fail(first, 1008, 'the peer does not read', 'destroy');
    h.fail(new WebSocketError('ERR_WS_TIMEOUT'), 1001, 'idle', 'destroy');
    assert.deepEqual(host.calls, [
      'close 1008 the peer does not read',
      'endRead ERR_WS_BUFFER_OVERFLOW',
      'destroy',
      'endRead ERR_WS_BUFFER_OVERFLOW',
      'destroy',
    ]);
    assert.equal(h.failure, first);
    const info = h.layerClosed();
    assert.deepEqual(info, {
      initiatedBy: 'local',
      code: 1008,
      reason: 'the peer does not read',
      wasClean: false,
      error: first,
    });
    assert.equal(h.endError, first);
  });

  it("fail() with 'end' ends our side and arms the timer, which destroys the layer if the peer never closes", async () => {
    const host = new RecordingHost();
    const h = handshake(host, 20);
    const destroyed = new Promise<void>((r) => (host.destroyed = r));
    const c = started();
    h.start(1000, encodeClosePayload(1000), c);
    h.fail(new WebSocketError('ERR_WS_BAD_OPCODE'), 1002, 'bad', 'end');
    await destroyed;
    assert.deepEqual(host.calls, ['close 1000 behind', 'endRead ERR_WS_BAD_OPCODE', 'end', 'destroy']);
    assert.equal(await settled(c), 'ERR_WS_BAD_OPCODE', 'the timer fails close() with the recorded cause');
  });

  it('the timer of an incomplete close destroys the layer and fails close() with ERR_WS_TIMEOUT', async () => {
    const host = new RecordingHost();
    const h = handshake(host, 20);
    const destroyed = new Promise<void>((r) => (host.destroyed = r));
    const c = started();
    h.start(1000, encodeClosePayload(1000), c);
    await destroyed;
    assert.equal(await settled(c), 'ERR_WS_TIMEOUT');
    const info = h.layerClosed();
    // No answer: the connection ended abnormally, whatever we sent.
    assert.deepEqual(
      [info.initiatedBy, info.code, info.wasClean, info.error?.code],
      ['abnormal', 1006, false, 'ERR_WS_TIMEOUT'],
    );
  });

  it('after a complete exchange, the timer destroys the layer of a peer slow to close it, and that is no failure', async () => {
    const host = new RecordingHost();
    const h = handshake(host, 20);
    const destroyed = new Promise<void>((r) => (host.destroyed = r));
    const c = started();
    h.start(1000, encodeClosePayload(1000), c);
    h.peerClosed(1000, '', encodeClosePayload(1000));
    h.finishIfComplete();
    await destroyed;
    assert.deepEqual(host.calls, ['close 1000 behind', 'exchanged', 'destroy']);
    const info = h.layerClosed();
    h.notify();
    assert.deepEqual(info, { initiatedBy: 'local', code: 1000, reason: '', wasClean: true });
    assert.equal(await settled(c), 'ok');
  });

  it("we closed first, then the peer's close is overruled (a message before it failed to inflate): still local, our code, not clean", () => {
    const h = handshake(new RecordingHost(), 60_000);
    h.start(4000, encodeClosePayload(4000, 'ours'), started());
    h.peerClosed(1000, '', encodeClosePayload(1000));
    h.overrulePeerClose();
    const err = new WebSocketError('ERR_WS_BAD_FRAME_PAYLOAD');
    h.fail(err, 1007, '', 'end');
    const info = h.layerClosed();
    assert.deepEqual(
      [info.initiatedBy, info.code, info.reason, info.wasClean, info.error],
      ['local', 4000, 'ours', false, err],
    );
  });

  it('a failure recorded after a complete exchange leaves the end clean: the error is told, reads end without it', () => {
    const h = handshake(new RecordingHost(), 60_000);
    h.start(1000, encodeClosePayload(1000), started());
    h.peerClosed(1000, '', encodeClosePayload(1000));
    h.finishIfComplete();
    const err = new WebSocketError('ERR_WS_NEXT_LAYER');
    h.fail(err, 1011, '', 'destroy');
    assert.equal(h.endError, null);
    assert.deepEqual(h.layerClosed(), { initiatedBy: 'local', code: 1000, reason: '', wasClean: true, error: err });
  });

  it('no close frame either way: abnormal 1006 with ERR_WS_EOF; whenEnded() and close() are told', async () => {
    const h = handshake(new RecordingHost(), 60_000);
    const ended = h.whenEnded();
    const info = h.layerClosed();
    h.notify();
    assert.deepEqual(
      [info.initiatedBy, info.code, info.wasClean, info.error?.code],
      ['abnormal', 1006, false, 'ERR_WS_EOF'],
    );
    assert.equal(await ended, info);
  });

  it('abandon(): a failed handshake ends abnormally with its error, and arms nothing', () => {
    const host = new RecordingHost();
    const h = handshake(host, 1);
    const err = new WebSocketError('ERR_WS_TIMEOUT');
    h.abandon(err);
    h.armTimer();
    assert.deepEqual(h.info, { initiatedBy: 'abnormal', code: 1006, reason: '', wasClean: false, error: err });
    assert.deepEqual(host.calls, []);
  });
});
