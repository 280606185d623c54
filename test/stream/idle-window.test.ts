/**
 * The idle window on a mocked clock: the stream's clock (`performance.now()`, a mocked method here)
 * and the shared ticker (`setInterval`, node's mock) are moved by the test, so where the keep-alive
 * ping and the idle close fall is checked to the millisecond, however slow the machine: with
 * idleTimeout 400, nothing at 199 ms of silence, a ping at 200, nothing at 399, close 1001 at 400;
 * a peer whose pongs arrive is never dropped; nor is one we stopped reading. (Real timers across
 * processes, as in cli/hostile-http, can only tell that a ping came before the close, not when.)
 *
 * "Nothing" is the server socket's `bytesWritten` after the tick and a turn of the loop: the stream
 * writes what a tick queued on the next tick of the process (`process.nextTick`), before that turn ends.
 * After each test, a tick once its stream closed stops the ticker (no stream watched), so that the
 * next test's mocked setInterval makes a new one.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, it } from 'node:test';
import { type StreamOptions, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { closeFrame, pong, requestHead, text } from '../support/frames.js';
import { closeCodeOf } from '../support/hostile.js';
import { RawPeer } from '../support/peer.js';

const IDLE = 400;

/** A server stream with idleTimeout 400 and a raw peer upgraded to it, on a clock the test moves. */
async function idlePair(t: TestContext, options: StreamOptions = {}) {
  const start = Math.floor(performance.now());
  let now = start;
  t.mock.timers.enable({ apis: ['setInterval'] });
  t.mock.method(performance, 'now', () => now);
  let pongs = 0;
  let pongSeen = (): void => {};
  let resolve!: (accepted: { ws: WebSocketStream; serverSocket: net.Socket }) => void;
  const accepted = new Promise<{ ws: WebSocketStream; serverSocket: net.Socket }>((r) => (resolve = r));
  const srv = net.createServer((serverSocket) => {
    const ws = new WebSocketStream(serverSocket, {
      idleTimeout: IDLE,
      ...options,
      controlCallback: (kind) => {
        if (kind !== 'pong') return;
        pongs++;
        pongSeen();
      },
    });
    ws.accept().then(() => resolve({ ws, serverSocket }));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const peer = new RawPeer(socket);
  socket.write(requestHead());
  assert.equal((await peer.responseHead()).status, 101);
  const { ws, serverSocket } = await accepted;
  t.after(async () => {
    socket.destroy();
    srv.close();
    await ws.whenClosed();
    t.mock.timers.tick(IDLE / 4); // no stream watched now: the ticker stops, for the next test's mock
  });
  return {
    ws,
    peer,
    socket,
    serverSocket,
    /** Moves the clock to `quiet` ms after the stream opened, runs one tick, and lets its writes out; what the server wrote by then. */
    async tickAt(quiet: number): Promise<number> {
      now = start + quiet;
      t.mock.timers.tick(IDLE / 4); // the ticker's period: a quarter of the timeout
      await new Promise((r) => setImmediate(r));
      return serverSocket.bytesWritten;
    },
    /** Resolves once the stream has read `n` pongs in all. */
    pongsRead(n: number): Promise<void> {
      return new Promise((r) => {
        pongSeen = () => pongs >= n && r();
        pongSeen();
      });
    },
  };
}

it('idleTimeout 400 on a mocked clock: a silent peer gets nothing at 199 ms, a ping at 200, nothing at 399, close 1001 at 400', async (t) => {
  const { ws, peer, tickAt } = await idlePair(t);
  const reading = ws.read().then(
    () => 'a message',
    (e: WebSocketError) => e.code,
  );
  const opened = await tickAt(0);
  assert.equal(await tickAt(199), opened, 'nothing before half the idle time');
  const pinged = await tickAt(200);
  assert.ok(pinged > opened, 'the ping is written at half the idle time');
  const [ping] = await peer.waitFrames(1);
  assert.equal(ping!.opcode, 9);
  assert.equal(await tickAt(399), pinged, 'nothing more before the idle time');
  assert.ok((await tickAt(400)) > pinged, 'the close is written at the idle time');
  const frames = await peer.waitFrames(2);
  assert.deepEqual(
    frames.map((f) => (f.opcode === 8 ? closeCodeOf(f) : f.opcode)),
    [9, 1001],
  );
  await peer.waitClosed();
  assert.equal(await reading, 'ERR_WS_TIMEOUT');
  assert.equal((await ws.whenClosed()).error?.code, 'ERR_WS_TIMEOUT');
});

it('idleTimeout 400 on a mocked clock: a peer that answers each ping stays through three idle periods; pinged again 200 ms after each answer', async (t) => {
  const { ws, peer, socket, tickAt, pongsRead } = await idlePair(t);
  // Each answer is read at the ping's tick + 100 (the next tick): the next ping falls 200 ms after that.
  let written = await tickAt(0);
  for (const [i, at] of [200, 500, 800].entries()) {
    assert.equal(await tickAt(at - 1), written, `nothing before ${at} ms`);
    const pinged = await tickAt(at);
    assert.ok(pinged > written, `written at ${at} ms`);
    written = pinged;
    const frames = await peer.waitFrames(i + 1);
    assert.equal(frames[i]!.opcode, 9, `a ping at ${at} ms`);
    socket.write(pong());
    await pongsRead(i + 1);
    assert.equal(await tickAt(at + 100), written, `nothing at ${at + 100} ms: the pong was heard`);
  }
  assert.equal(ws.closeInfo, undefined, 'open at 900 ms, past two idle periods');
  socket.write(closeFrame(1000));
  assert.deepEqual(await ws.whenClosed(), { initiatedBy: 'remote', code: 1000, reason: '', wasClean: true });
  await peer.waitClosed();
});

it('idleTimeout 400 on a mocked clock: silence we caused (the app does not read, so the stream stopped reading) is no idleness, for three idle periods', async (t) => {
  const { ws, socket, serverSocket, tickAt } = await idlePair(t, { readHighWaterMark: 1024 });
  const messages = Array.from({ length: 20 }, (_, i) => `message ${i} `.padEnd(500, '.'));
  socket.write(Buffer.concat(messages.map((m) => text(m))));
  // (the stream's 'data' listener came first: once this one runs, it has taken the chunk)
  while (!serverSocket.isPaused()) await once(serverSocket, 'data');
  const paused = await tickAt(0);
  for (const at of [200, 400, 800, 1200])
    assert.equal(await tickAt(at), paused, `nothing at ${at} ms: no ping, no close while we do not read`);
  assert.equal(ws.closeInfo, undefined);
  for (const m of messages) assert.equal((await ws.read()).text(), m);
  socket.write(closeFrame(1000));
  assert.equal((await ws.whenClosed()).code, 1000);
});
