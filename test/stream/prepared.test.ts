/** The prepared-frame hook: the same bytes to many streams, in order with write(), counted as write() counts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { WebSocketStream, createTestPair, type StreamOptions, type WebSocketError } from '../../src/index.js';
import { queuePreparedFrame } from '../../src/stream/prepared.js';
import { frame, closeFrame, requestObject } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

/** An open server-role stream over the test layer, with a raw client peer; `headers` added to the request. */
async function openServer(options: StreamOptions = {}, headers: Record<string, string> = {}) {
  const [server, client] = createTestPair();
  const ws = new WebSocketStream(server, options);
  const peer = new RawPeer(client);
  await ws.accept(requestObject(headers));
  await peer.responseHead();
  return { ws, peer };
}

/** A server frame built by the test's own encoder (unmasked). */
const prepared = (payload: string | Buffer, opcode = 1, rsv = 0) => frame({ opcode, payload, mask: false, rsv });

/** A callback's result as a Promise, with a check that it was not called inside the initiating call. */
function callbackResult() {
  let initiating = true;
  let syncCall = false;
  let resolve!: (e: WebSocketError | null) => void;
  const done = new Promise<WebSocketError | null>((r) => (resolve = r));
  const cb = (err: WebSocketError | null) => {
    if (initiating) syncCall = true;
    resolve(err);
  };
  return {
    cb,
    started: () => (initiating = false),
    done: async () => {
      const e = await done;
      assert.equal(syncCall, false, 'the callback was not called from within the call');
      return e;
    },
  };
}

describe('queuePreparedFrame', () => {
  it('puts the bytes on the wire unchanged, to many streams from one Buffer, and calls back once written', async () => {
    const bytes = prepared('hello everyone');
    const copy = Buffer.from(bytes);
    const peers = await Promise.all([1, 2, 3].map(() => openServer()));
    const results = peers.map(({ ws }) => {
      const r = callbackResult();
      assert.equal(queuePreparedFrame(ws, bytes, r.cb), true);
      r.started();
      return r;
    });
    for (const r of results) assert.equal(await r.done(), null);
    for (const { peer } of peers) {
      const [f] = await peer.waitFrames(1);
      assert.deepEqual(
        [f!.opcode, f!.fin, f!.rsv, f!.masked, f!.payload.toString()],
        [1, true, 0, false, 'hello everyone'],
      );
    }
    assert.ok(bytes.equals(copy), 'the shared Buffer is not modified');
  });

  it('keeps its place among write()s: after the ones before it, before the ones after it', async () => {
    const { ws, peer } = await openServer();
    void ws.write('one');
    queuePreparedFrame(ws, prepared('two'));
    void ws.write(Buffer.from('three'));
    queuePreparedFrame(ws, prepared(Buffer.from([4]), 2));
    await ws.write('five');
    const frames = await peer.waitFrames(5);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString('latin1')]),
      [
        [1, 'one'],
        [1, 'two'],
        [2, 'three'],
        [2, '\x04'],
        [1, 'five'],
      ],
    );
  });

  it('never goes between the fragments of a writeSome() message: it follows the message', async () => {
    const { ws, peer } = await openServer();
    await ws.writeSome('a', { fin: false });
    assert.equal(queuePreparedFrame(ws, prepared('P')), true);
    await ws.ping('x');
    await ws.writeSome('b', { fin: false });
    void ws.writeSome('c', { fin: true });
    await ws.write('after');
    const frames = await peer.waitFrames(6);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.payload.toString()]),
      [
        [1, false, 'a'],
        [9, true, 'x'], // a control frame may go between fragments; a message may not
        [0, false, 'b'],
        [0, true, 'c'],
        [1, true, 'P'],
        [1, true, 'after'],
      ],
    );
  });

  it('with permessage-deflate: waits behind messages still being compressed, before later ones', async () => {
    const { ws, peer } = await openServer(
      { perMessageDeflate: { threshold: 0 } },
      { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover' },
    );
    assert.match(ws.extensions, /permessage-deflate/);
    const big = Buffer.alloc(200_000, 'compress me ');
    const compressed = deflateRawSync(Buffer.from('pre-compressed'), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(
      0,
      -4,
    );
    const pre = prepared(Buffer.from(compressed), 1, 4);
    void ws.write(big, { binary: true });
    queuePreparedFrame(ws, prepared('plain'));
    void ws.write('tiny', { compress: false });
    queuePreparedFrame(ws, pre);
    await ws.write(big, { binary: true });
    const frames = await peer.waitFrames(5);
    const inflate = (b: Buffer) =>
      inflateRawSync(Buffer.concat([b, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.rsv]),
      [
        [2, 4],
        [1, 0],
        [1, 0],
        [1, 4],
        [2, 4],
      ],
    );
    assert.ok(inflate(frames[0]!.payload).equals(big));
    assert.equal(frames[1]!.payload.toString(), 'plain');
    assert.equal(frames[2]!.payload.toString(), 'tiny');
    assert.equal(inflate(frames[3]!.payload).toString(), 'pre-compressed');
    assert.ok(inflate(frames[4]!.payload).equals(big));
  });

  it('counts in bufferedAmount until handed on, and obeys bufferPolicy "close"', async () => {
    const { ws } = await openServer({ maxBufferedBytes: 1000, bufferPolicy: 'close' });
    const bytes = prepared(Buffer.alloc(600));
    queuePreparedFrame(ws, bytes);
    assert.equal(ws.bufferedAmount, bytes.length);
    const r = callbackResult();
    queuePreparedFrame(ws, bytes, r.cb);
    r.started();
    assert.equal((await r.done())?.code, 'ERR_WS_BUFFER_OVERFLOW');
    const info = await ws.whenClosed();
    assert.equal(info.code, 1008);
  });

  it('bufferPolicy "close": exactly maxBufferedBytes buffered is within the limit', async () => {
    const { ws } = await openServer({ maxBufferedBytes: 1000, bufferPolicy: 'close' });
    const r = callbackResult();
    queuePreparedFrame(ws, prepared(Buffer.alloc(996)), r.cb); // 4 header bytes: 1000 in all
    r.started();
    assert.equal(ws.bufferedAmount, 1000);
    assert.equal(await r.done(), null);
    assert.equal(ws.isOpen, true);
  });

  it('returns false and queues nothing before the handshake, while closing and after close', async () => {
    const [a] = createTestPair();
    const idle = new WebSocketStream(a);
    assert.equal(queuePreparedFrame(idle, prepared('x')), false);
    assert.equal(idle.bufferedAmount, 0);

    const { ws, peer } = await openServer();
    const closing = ws.close();
    assert.equal(queuePreparedFrame(ws, prepared('late')), false);
    const frames = await peer.waitFrames(1);
    assert.equal(frames[0]!.opcode, 8);
    peer.send(closeFrame(1000));
    await closing;
    assert.equal(queuePreparedFrame(ws, prepared('later')), false);
    assert.equal(ws.bufferedAmount, 0);
    assert.equal(peer.frames().length, 1, 'nothing after the close frame');
  });

  it('a held frame fails with the close when its message never ends', async () => {
    const { ws, peer } = await openServer();
    await ws.writeSome('a', { fin: false });
    const r = callbackResult();
    queuePreparedFrame(ws, prepared('held'), r.cb);
    r.started();
    assert.equal(ws.bufferedAmount, prepared('held').length);
    peer.send(closeFrame(1001));
    assert.ok(await r.done(), 'the callback reports an error');
    assert.ok(!peer.frames().some((f) => f.payload.toString() === 'held'));
  });

  it('is refused on a client-role stream and for RSV1 without deflate', async () => {
    const { ws } = await openServer();
    assert.throws(() => queuePreparedFrame(ws, prepared('x', 1, 4)), { code: 'ERR_WS_INVALID_ARGUMENT' });
    // No frame is shorter than its 2-octet header (RFC 6455 §5.2).
    for (const short of [Buffer.alloc(0), Buffer.from([0x81])])
      assert.throws(() => queuePreparedFrame(ws, short), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.equal(ws.bufferedAmount, 0);
    const [a, b] = createTestPair();
    const server = new WebSocketStream(a);
    const client = new WebSocketStream(b);
    const accepted = server.accept();
    await client.handshake({ host: 'x' });
    await accepted;
    assert.throws(() => queuePreparedFrame(client, prepared('x')), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });
});
