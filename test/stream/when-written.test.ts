/**
 * The internal `whenWritten` hook (src/stream/prepared.ts): PubSub's replay waits with it for room
 * in a subscriber's backlog that other writes fill. It calls back once what was written before it
 * has been handed to the operating system, over a real TCP socket whose peer reads when told.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { DuplexLayer, type StreamOptions, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { queuePreparedFrame, tryWritePreparedFrameNow, whenWritten } from '../../src/stream/prepared.js';
import { RawClient } from '../conformance/raw-client.js';

/** A server-role stream over a loopback socket and the raw client at its other end (closed after the test). */
async function pair(t: TestContext, options: StreamOptions = {}): Promise<{ ws: WebSocketStream; client: RawClient }> {
  const server = http.createServer();
  const accepted = new Promise<WebSocketStream>((resolve, reject) => {
    server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      const ws = new WebSocketStream(new DuplexLayer(socket), options);
      ws.accept(req, { head }).then(() => resolve(ws), reject);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const client = await RawClient.connect(typeof addr === 'object' && addr ? addr.port : 0);
  const ws = await accepted;
  t.after(async () => {
    client.destroy();
    ws.nextLayer.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { ws, client };
}

/** The end of this turn (the stream hands its writes on at the end of a turn). */
const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** `whenWritten`'s callback as a Promise, and whether it has been called yet. */
function waiter() {
  let called = false;
  let resolve!: (err: WebSocketError | null) => void;
  const done = new Promise<WebSocketError | null>((r) => (resolve = r));
  const cb = (err: WebSocketError | null): void => {
    called = true;
    resolve(err);
  };
  return { cb, done, called: () => called };
}

const BIG = 16 * 1024 * 1024; // more than loopback's socket buffers take while the peer does not read

describe('whenWritten', () => {
  it('calls back once the bytes written before it are out, not while they wait for the peer', async (t) => {
    // (A limit over what is written: the stream hands on what comes next while the socket holds it.)
    const { ws, client } = await pair(t, { maxBufferedBytes: 4 * BIG });
    client.sock.pause();
    void ws.write(Buffer.alloc(BIG));
    const queued = waiter(); // while the write is still queued in the stream
    assert.equal(whenWritten(ws, queued.cb), true);
    assert.equal(queued.called(), false, 'not from within the call');
    await turnEnd();
    const inFlight = waiter(); // once it has been handed to the socket, which holds it
    assert.equal(whenWritten(ws, inFlight.cb), true);
    for (let i = 0; i < 5; i++) await turnEnd();
    assert.ok(ws.bufferedAmount > 0, 'the peer does not read: bytes still buffered');
    assert.deepEqual([queued.called(), inFlight.called()], [false, false], 'not while they are buffered');
    client.sock.resume();
    const m = await client.nextMessage();
    assert.equal(m.payload.length, BIG);
    assert.deepEqual([await queued.done, await inFlight.done], [null, null]);
    assert.equal(ws.bufferedAmount, 0, 'everything written before them was handed on');
  });

  it('with nothing buffered: calls back soon after (not from within the call)', async (t) => {
    const { ws } = await pair(t);
    const w = waiter();
    assert.equal(whenWritten(ws, w.cb), true);
    assert.equal(w.called(), false);
    assert.equal(await w.done, null);
  });

  it('behind a writeSome() message in progress: once it and what came before are out', async (t) => {
    const { ws, client } = await pair(t);
    await ws.writeSome('first part, ', { fin: false });
    const w = waiter();
    assert.equal(whenWritten(ws, w.cb), true);
    for (let i = 0; i < 3; i++) await turnEnd();
    assert.equal(w.called(), false, 'held behind the message, as a prepared frame is');
    await ws.writeSome('last part', { fin: true });
    assert.equal(await w.done, null);
    assert.equal((await client.nextMessage()).payload.toString(), 'first part, last part');
  });

  it('is not left waiting when the connection is lost first: it settles as the write before it does', async (t) => {
    const { ws, client } = await pair(t);
    client.sock.pause();
    const written = ws.write(Buffer.alloc(BIG)).then(
      () => null,
      (err: WebSocketError) => err,
    );
    const w = waiter();
    assert.equal(whenWritten(ws, w.cb), true);
    await turnEnd();
    assert.equal(w.called(), false);
    ws.nextLayer.destroy();
    // (Node calls back a write cut short by destroy() without an error: so do both.)
    assert.equal((await w.done)?.code, (await written)?.code);
  });

  it('reports a failure when a write with no callback before it failed at once (the peer reset)', async (t) => {
    const { ws, client } = await pair(t);
    const sock = (ws.nextLayer as DuplexLayer).duplex;
    // On loopback the reset reaches our socket within this call; node hears of it at its next poll,
    // so the frame below meets it in the write itself (ECONNRESET/EPIPE, with nothing left buffered).
    (client.sock as Socket).resetAndDestroy();
    assert.equal(tryWritePreparedFrameNow(ws, Buffer.from([0x81, 0x02, 0x68, 0x69])), true);
    assert.ok(sock.errored, 'the write failed within the call');
    const w = waiter();
    assert.equal(whenWritten(ws, w.cb), true, 'node has not reported the failure yet: still open');
    const err = await w.done;
    assert.equal(err?.code, 'ERR_WS_NEXT_LAYER', 'the frame before it never went: not reported as written');
    assert.equal(err?.cause, sock.errored, "with the socket's own error");
  });

  it('returns false, calling nothing, once the stream is closed', async (t) => {
    const { ws, client } = await pair(t);
    const closing = ws.close({ code: 1000 });
    const w = waiter();
    assert.equal(whenWritten(ws, w.cb), false);
    // The client answers the close frame, so the handshake completes now (not at the close timeout).
    assert.equal((await client.expectClose({ answer: true })).code, 1000);
    await closing;
    assert.equal(whenWritten(ws, w.cb), false);
    assert.equal(w.called(), false);
  });
});

describe('tryWritePreparedFrameNow', () => {
  it('under bufferPolicy "close", a frame that would take bufferedAmount over the limit is not written at once; queued, it fails the connection (1008)', async (t) => {
    // (A limit over the 101's 129 bytes, which count while they go out.)
    const { ws, client } = await pair(t, { bufferPolicy: 'close', maxBufferedBytes: 150 });
    /** An unmasked text frame of `size` bytes, its 4-byte header included. */
    const textFrame = (size: number, c: string): Buffer =>
      Buffer.concat([Buffer.from([0x81, 126, 0, size - 4]), Buffer.alloc(size - 4, c)]);
    await turnEnd();
    assert.equal(tryWritePreparedFrameNow(ws, textFrame(150, 'a')), true, 'the limit itself: written at once');
    await turnEnd();
    const over = textFrame(151, 'b');
    assert.equal(tryWritePreparedFrameNow(ws, over), false);
    assert.equal(ws.bufferedAmount, 0, 'nothing written nor queued');
    const failed = new Promise<WebSocketError | null>((resolve) => queuePreparedFrame(ws, over, resolve));
    assert.equal((await failed)?.code, 'ERR_WS_BUFFER_OVERFLOW');
    assert.equal((await ws.whenClosed()).code, 1008);
    const { code, before } = await client.expectClose();
    assert.deepEqual([code, before.map((f) => f.payload.toString())], [1008, ['a'.repeat(146)]]);
  });
});
