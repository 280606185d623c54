/**
 * The second review's findings on the stream: a close reason that is not UTF-8 echoed with
 * validation off, a next layer's sink called with the receiver's argument shapes, the order of
 * control reports behind a message still inflating, and a flushed write aborted after a new queue.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import zlib from 'node:zlib';
import { WebSocketStream, createTestPair, type LayerSink, type WebSocketError } from '../../src/index.js';
import { closeFrame, frame, ping, requestHead, requestObject, text } from '../support/frames.js';
import { CustomDuplexLayer } from '../support/duplex-layer.js';
import { openServer } from '../support/open.js';
import { RawPeer } from '../support/peer.js';

/**
 * A custom next layer over a Duplex whose callbacks carry extra arguments, as a layer forwarding
 * another API's events with bound sink methods would: a chunk with a boolean after it, and a close
 * with an exit code and a signal (`child.on('close', sink.onClose.bind(sink))`).
 */
class ExtraArgsLayer extends CustomDuplexLayer {
  attach(sink: LayerSink): void {
    const onData: (chunk: Buffer, flag: boolean) => void = sink.onData.bind(sink);
    const onClose: (code: number, signal: string | null) => void = sink.onClose.bind(sink);
    this.d.on('data', (chunk: Buffer) => onData(chunk, true));
    this.d.on('end', () => sink.onEnd());
    this.d.on('error', (e: Error) => sink.onError(e));
    this.d.on('close', () => onClose(0, null));
  }
}

describe('a close reason that is not UTF-8, with validateUtf8 false', () => {
  it('the answer echoes the reason bytes as they came (60 × 0xff, re-encoded it would be 180 bytes)', async () => {
    const { ws, peer } = await openServer({ validateUtf8: false });
    const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(60, 0xff)]);
    peer.send(closeFrame(1000, Buffer.alloc(60, 0xff)));
    const [answer] = await peer.waitFrames(1);
    assert.equal(answer!.opcode, 8);
    assert.equal(answer!.masked, false);
    assert.equal(answer!.payload.toString('hex'), payload.toString('hex'));
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['remote', 1000, true]);
    assert.equal(info.reason, '\ufffd'.repeat(60));
    assert.equal(peer.frames().length, 1);
  });
});

describe('a next layer calling its sink with extra arguments', () => {
  it('onData(chunk, true) is bytes to parse and onClose(0, null) is the layer closing', async () => {
    const [a, b] = createTestPair();
    const ws = new WebSocketStream(new ExtraArgsLayer(b));
    const peer = new RawPeer(a);
    const accepted = ws.accept();
    peer.send(requestHead());
    await accepted;
    assert.equal((await peer.responseHead()).status, 101);
    peer.send(text('hello'));
    const m = await ws.read();
    assert.deepEqual([m.data.toString(), m.binary], ['hello', false]);
    a.destroy(); // the connection drops without a close frame
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['abnormal', 1006, false]);
  });
});

describe('controlCallback in wire order behind a message still inflating', () => {
  it('a compressed 1 MiB text, a ping and a close in one chunk: ping reported before close', async () => {
    const [server, client] = createTestPair();
    const seen: string[] = [];
    const ws = new WebSocketStream(server, {
      perMessageDeflate: true,
      controlCallback: (kind, payload) => seen.push(`${kind} ${payload.toString('hex')}`),
    });
    const peer = new RawPeer(client);
    await ws.accept(requestObject({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    await peer.responseHead();
    const size = 1 << 20;
    const body = zlib.deflateRawSync(Buffer.alloc(size, 'x'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    peer.send(
      Buffer.concat([
        frame({ opcode: 1, rsv: 4, payload: body.subarray(0, body.length - 4) }),
        ping('p'),
        closeFrame(1000, 'bye'),
      ]),
    );
    const m = await ws.read();
    assert.equal(m.data.length, size);
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.reason], ['remote', 1000, 'bye']);
    // The pong and the close answer went, in that order.
    const frames = peer.frames();
    assert.deepEqual(
      frames.map((f) => `${f.opcode} ${f.payload.toString('hex')}`),
      ['10 70', `8 ${Buffer.from('\x03\xe8bye', 'latin1').toString('hex')}`],
    );
    assert.deepEqual(seen, ['ping 70', `close ${Buffer.from('\x03\xe8bye', 'latin1').toString('hex')}`]);
  });
});

describe('deadlines on a monotonic clock', () => {
  it('the handshake timeout fires though the wall clock is set back an hour during the wait', async (t) => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => sockets.push(s)); // accepts, never answers
    t.after(() => {
      for (const s of sockets) s.destroy();
      srv.close();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    const ws = new WebSocketStream(socket, { handshakeTimeout: 50 });
    const realNow = Date.now;
    try {
      const handshake = ws.handshake({ host: 'example.com' });
      Date.now = () => realNow() - 3_600_000;
      const err = await handshake.then(
        () => null,
        (e: WebSocketError) => e,
      );
      assert.equal(err?.code, 'ERR_WS_TIMEOUT');
    } finally {
      Date.now = realNow;
    }
  });
});

/** A custom next layer (plain sink calls would do as well) that writes at once but holds every write's callback until `release()`. */
class HeldCallbacksLayer extends ExtraArgsLayer {
  hold = false;
  private held: (() => void)[] = [];
  private onWrite: (() => void) | null = null;
  override write(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    if (!this.hold) return super.write(chunks, cb);
    super.write(chunks, () => {});
    this.held.push(() => cb());
    this.onWrite?.();
  }
  /** Resolves once a write is held. */
  written(): Promise<void> {
    return new Promise((resolve) => {
      this.onWrite = () => {
        this.onWrite = null;
        resolve();
      };
    });
  }
  release(): void {
    this.hold = false;
    for (const cb of this.held.splice(0)) cb();
  }
}

describe('a write aborted after it was flushed', () => {
  it('withdraws nothing from the queue made after it: the later writes all go, in order', async () => {
    const [a, b] = createTestPair();
    const layer = new HeldCallbacksLayer(b);
    const ws = new WebSocketStream(layer);
    const peer = new RawPeer(a);
    const accepted = ws.accept();
    peer.send(requestHead());
    await accepted;
    await peer.responseHead();
    layer.hold = true;
    const ac = new AbortController();
    const handed = layer.written();
    const first = ws.write('a', { signal: ac.signal });
    await handed; // flushed: its queue is gone, its completion waits for the layer
    const later = [ws.write('b'), ws.write('c')]; // a new queue
    ac.abort();
    await assert.rejects(first, { code: 'ERR_WS_ABORTED' });
    layer.release();
    await Promise.all([...later, ws.write('end')]);
    const frames = await peer.until(() => {
      const f = peer.frames();
      return f.some((x) => x.payload.toString() === 'end') ? f : undefined;
    });
    assert.deepEqual(
      frames.map((f) => f.payload.toString()),
      ['a', 'b', 'c', 'end'],
    );
  });
});

describe("the answer to the peer's close waits for the messages before it to be read", () => {
  it('a message read only after the close was parsed is still echoed before the close answer', async () => {
    let closeSeen!: () => void;
    const parsed = new Promise<void>((resolve) => {
      closeSeen = resolve;
    });
    const { ws, peer } = await openServer({
      controlCallback: (kind) => {
        if (kind === 'close') closeSeen();
      },
    });
    peer.send(Buffer.concat([text('echo me'), closeFrame(1000, 'bye')]));
    await parsed;
    // Two turns later: under the old rule (the answer at the latest on the next turn) the close
    // answer was sent by now and the echo below failed with ERR_WS_CLOSED.
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
    const m = await ws.read();
    await ws.write(m.data, { binary: false });
    const frames = await peer.waitFrames(2);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString('latin1')]),
      [
        [1, 'echo me'],
        [8, '\u0003\u00e8bye'],
      ],
    );
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['remote', 1000, true]);
  });

  it('a stream nobody reads still answers, after closeTimeout', async () => {
    const { ws, peer } = await openServer({ closeTimeout: 50 });
    peer.send(Buffer.concat([text('never read'), closeFrame(1000, 'bye')]));
    const [answer] = await peer.waitFrames(1);
    assert.equal(answer!.opcode, 8);
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code], ['remote', 1000]);
  });
});
