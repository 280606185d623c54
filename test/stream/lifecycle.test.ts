/**
 * Timeouts, keep-alive, cancellation, backpressure, teardown and graceful shutdown, over real
 * sockets on 127.0.0.1, with short timeouts.
 */
import { once } from 'node:events';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import {
  WebSocketStream,
  StreamGroup,
  connect,
  type DuplexLayer,
  type StreamOptions,
  type WebSocketError,
} from '../../src/index.js';
import { requestHead, text, ping, closeFrame } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

/** Lets the ticks, microtasks and immediates queued so far run (an ordering, not a clock). */
const turns = () => new Promise((r) => setImmediate(() => setImmediate(r)));

/**
 * A net server whose connections become server-role streams with `options`, handed to `onOpen`;
 * `opened(i)` resolves once the i-th connection's stream is open (and `onOpen` ran).
 */
async function server(
  options: StreamOptions,
  onOpen: (ws: WebSocketStream) => void = () => {},
  onError: (e: WebSocketError) => void = () => {},
) {
  const streams: WebSocketStream[] = [];
  const openers: ((ws: WebSocketStream) => void)[] = [];
  const opens: Promise<WebSocketStream>[] = [];
  const opened = (i: number): Promise<WebSocketStream> => {
    while (opens.length <= i) opens.push(new Promise((resolve) => openers.push(resolve)));
    return opens[i]!;
  };
  const srv = net.createServer((socket) => {
    const ws = new WebSocketStream(socket, options);
    const i = streams.push(ws) - 1;
    ws.accept().then(() => {
      onOpen(ws);
      void opened(i);
      openers[i]!(ws);
    }, onError);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, streams, opened, close: () => srv.close() };
}

async function rawClient(port: number, handshake = true): Promise<{ sock: net.Socket; peer: RawPeer }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const peer = new RawPeer(sock);
  if (handshake) {
    sock.write(requestHead());
    await peer.responseHead();
  }
  return { sock, peer };
}

describe('timeouts', () => {
  it('handshake timeout: a client trickling its request a byte at a time is dropped, accept fails with ERR_WS_TIMEOUT', async () => {
    let failed!: (e: WebSocketError) => void;
    const acceptError = new Promise<WebSocketError>((r) => (failed = r));
    const s = await server({ handshakeTimeout: 200 }, () => {}, failed);
    const { sock, peer } = await rawClient(s.port, false);
    const req = Buffer.from(requestHead());
    let i = 0;
    const trickle = setInterval(() => {
      if (!sock.destroyed && i < req.length) sock.write(req.subarray(i, ++i));
    }, 40);
    await peer.waitClosed();
    clearInterval(trickle);
    assert.ok(i < req.length, 'dropped before the request was complete');
    assert.equal((await acceptError).code, 'ERR_WS_TIMEOUT');
    s.close();
  });

  it('idle timeout without keep-alive: a silent peer gets close 1001 and is dropped; reads fail with ERR_WS_TIMEOUT', async () => {
    let readErr: Promise<string> | undefined;
    const s = await server({ idleTimeout: 200, keepAlive: false }, (ws) => {
      readErr = ws.read().then(
        () => 'message',
        (e: WebSocketError) => e.code,
      );
    });
    const { peer } = await rawClient(s.port);
    await peer.waitClosed();
    const frames = peer.frames();
    assert.deepEqual(
      frames.map((f) => f.opcode),
      [8],
      'no ping, then close',
    );
    assert.equal(frames[0]!.payload.readUInt16BE(0), 1001);
    assert.equal(await readErr, 'ERR_WS_TIMEOUT');
    assert.equal(s.streams[0]!.closeInfo?.error?.code, 'ERR_WS_TIMEOUT');
    s.close();
  });

  it('keep-alive: a live peer (the ws client answers pings) is never idle; one that does not answer is dropped', async () => {
    // Long enough that a ping's answer comes back within half of it even on a loaded machine.
    const s = await server({ idleTimeout: 1000 }, (ws) => {
      void ws.read().catch(() => {});
    });
    const c = new WebSocket(`ws://127.0.0.1:${s.port}/`);
    // Three keep-alive pings span more than an idle period: the peer, answering them, stays.
    const outcome = await new Promise<string>((resolve) => {
      let pings = 0;
      c.on('ping', () => {
        if (++pings === 3) resolve('three pings');
      });
      c.once('close', () => resolve('closed'));
    });
    assert.equal(outcome, 'three pings');
    assert.equal(c.readyState, WebSocket.OPEN);
    c.terminate();

    const { peer } = await rawClient(s.port);
    await peer.waitClosed();
    assert.deepEqual(
      peer.frames().map((f) => f.opcode),
      [9, 8],
      'a ping at half the idle time, then close',
    );
    s.close();
  });

  it('idle timeout: silence we caused (our reader is behind, so we stopped reading) does not count', async () => {
    const s = await server({ idleTimeout: 150, keepAlive: false, readHighWaterMark: 1024 });
    const { sock, peer } = await rawClient(s.port);
    const ws = await s.opened(0);
    sock.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => text(`message ${i} `.padEnd(500, '.')))));
    // A silent connection opened after it is dropped for idleness: by then an idle period has passed
    // for the first one too, whose silence (the app does not read, so the stream paused the socket)
    // is not the peer's.
    const control = await rawClient(s.port);
    await control.peer.waitClosed();
    // Seen where the ticker acts, not only at the peer: had our silence counted, the first connection
    // (as quiet as the control since the same tick, and watched before it) failed in that tick or an
    // earlier one, whatever order the peer's sockets report their ends in.
    assert.equal(ws.isOpen, true, 'the first connection is open on our side');
    assert.equal(peer.closed || peer.ended, false);
    for (let i = 0; i < 20; i++) assert.ok((await ws.read()).text().startsWith(`message ${i} `));
    await peer.waitClosed(); // now the silence is the peer's
    assert.equal(ws.closeInfo?.error?.code, 'ERR_WS_TIMEOUT');
    s.close();
  });

  it('close timeout: a peer that never answers our close frame is torn down, close fails with ERR_WS_TIMEOUT', async () => {
    let closing: Promise<string> | undefined;
    const s = await server({ closeTimeout: 150 }, (ws) => {
      closing = ws.close().then(
        () => 'ok',
        (e: WebSocketError) => e.code,
      );
    });
    const { peer } = await rawClient(s.port);
    await peer.waitClosed();
    assert.equal(await closing, 'ERR_WS_TIMEOUT');
    s.close();
  });
});

describe('cancellation', () => {
  it('an aborted read completes with ERR_WS_ABORTED; nothing is lost: a message half-arrived is read whole next', async () => {
    let ws!: WebSocketStream;
    const s = await server({}, (w) => {
      ws = w;
    });
    const { sock } = await rawClient(s.port);
    ws = await s.opened(0);
    const ac = new AbortController();
    const aborted = ws.read({ signal: ac.signal });
    const whole = text('a message in two writes');
    const serverSocket = (ws.nextLayer as DuplexLayer).duplex;
    const arrived = new Promise((r) => serverSocket.once('data', r));
    sock.write(whole.subarray(0, 10));
    await arrived; // half the message is in: the read is aborted mid-message
    ac.abort();
    await assert.rejects(aborted, { code: 'ERR_WS_ABORTED' });
    sock.write(whole.subarray(10));
    assert.equal((await ws.read()).text(), 'a message in two writes');
    await assert.rejects(ws.read({ signal: AbortSignal.abort() }), { code: 'ERR_WS_ABORTED' });
    sock.write(text('after'));
    assert.equal((await ws.read()).text(), 'after');
    sock.destroy();
    s.close();
  });

  it('an aborted write still queued is withdrawn: its bytes never go out, the writes around it do', async () => {
    let ws!: WebSocketStream;
    const s = await server({ maxBufferedBytes: 64 * 1024 }, (w) => {
      ws = w;
    });
    const { sock, peer } = await rawClient(s.port);
    sock.pause(); // the peer does not read: our writes back up
    ws = await s.opened(0);
    const big = Buffer.alloc(256 * 1024, 7);
    const done: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) done.push(ws.write(big));
    await turns(); // handed to the socket, which is now backed up: later writes wait here
    const ac = new AbortController();
    const withdrawn = ws.write('WITHDRAWN', { binary: false, signal: ac.signal });
    const after = ws.write('after', { binary: false });
    await turns();
    ac.abort();
    await assert.rejects(withdrawn, { code: 'ERR_WS_ABORTED' });
    sock.resume();
    await Promise.all([...done, after]);
    const frames = await peer.waitFrames(41);
    assert.deepEqual(
      frames.slice(40).map((f) => [f.opcode, f.payload.length]),
      [[1, 5]],
    );
    assert.equal(frames.at(-1)!.payload.toString(), 'after');
    assert.ok(!peer.received.includes('WITHDRAWN'));
    sock.destroy();
    s.close();
  });

  it('an aborted accept destroys the connection; an aborted close destroys it at once', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const accepted = new Promise<string>((resolve) =>
      srv.once('connection', (socket) => {
        const ac = new AbortController();
        const ws = new WebSocketStream(socket);
        ws.accept({ signal: ac.signal }).then(
          () => resolve('ok'),
          (e: WebSocketError) => resolve(e.code),
        );
        setImmediate(() => ac.abort()); // while accept() waits for the request
      }),
    );
    const { peer } = await rawClient(port, false);
    assert.equal(await accepted, 'ERR_WS_ABORTED');
    await peer.waitClosed();

    const closed = new Promise<string>((resolve) =>
      srv.once('connection', (socket) => {
        const ws = new WebSocketStream(socket);
        void ws.accept().then(() => {
          const ac = new AbortController();
          ws.close({ signal: ac.signal }).then(
            () => resolve('ok'),
            (e: WebSocketError) => resolve(e.code),
          );
          setImmediate(() => ac.abort()); // while close() waits for the peer
        });
      }),
    );
    const c2 = await rawClient(port);
    assert.equal(await closed, 'ERR_WS_ABORTED');
    await c2.peer.waitClosed();
    srv.close();
  });
});

describe('backpressure', () => {
  it("'wait': writing as fast as it can to a peer that never reads, the buffered bytes stay bounded; then all arrive in order", async () => {
    let ws!: WebSocketStream;
    const max = 256 * 1024;
    const s = await server({ maxBufferedBytes: max }, (w) => {
      ws = w;
    });
    const { sock, peer } = await rawClient(s.port);
    sock.pause();
    ws = await s.opened(0);
    const msg = Buffer.alloc(64 * 1024, 1);
    let completed = 0;
    let maxSeen = 0;
    const writer = (async () => {
      for (let i = 0; i < 400; i++) {
        msg.writeUInt32BE(i, 0);
        await ws.write(Buffer.from(msg));
        completed++;
        maxSeen = Math.max(maxSeen, ws.bufferedAmount);
      }
    })();
    // The kernel's buffers are full once the socket still holds our bytes a turn of the event loop
    // after a write (a write the kernel takes whole leaves nothing behind): from then on the writer waits.
    while (ws.nextLayer.writableLength === 0) await new Promise((r) => setImmediate(r));
    assert.ok(completed < 400, 'writes wait while the peer does not read');
    assert.ok(maxSeen <= max + msg.length, `bufferedAmount reached ${maxSeen}`);
    sock.resume();
    await writer;
    const frames = await peer.waitFrames(400);
    assert.deepEqual(
      frames.map((f) => f.payload.readUInt32BE(0)),
      Array.from({ length: 400 }, (_, i) => i),
    );
    sock.destroy();
    s.close();
  });

  it("'close': a peer that does not read is failed with close 1008 and ERR_WS_BUFFER_OVERFLOW", async () => {
    let result: Promise<string> | undefined;
    const s = await server({ maxBufferedBytes: 256 * 1024, bufferPolicy: 'close' }, (ws) => {
      result = (async () => {
        try {
          for (let i = 0; i < 1000; i++) void ws.write(Buffer.alloc(64 * 1024)).catch(() => {});
          await ws.write('last');
          return 'ok';
        } catch (e) {
          return (e as WebSocketError).code;
        }
      })();
    });
    const { sock, peer } = await rawClient(s.port);
    sock.pause();
    await s.opened(0);
    assert.equal(await result, 'ERR_WS_BUFFER_OVERFLOW');
    assert.equal(
      s.streams[0]!.closeInfo?.error?.code ?? (await s.streams[0]!.whenClosed()).error?.code,
      'ERR_WS_BUFFER_OVERFLOW',
    );
    sock.resume();
    await peer.waitClosed();
    sock.destroy();
    s.close();
  });

  it('a peer flooding pings while never reading does not grow our pong queue: the stream stops reading it', async () => {
    let ws!: WebSocketStream;
    const max = 64 * 1024;
    const s = await server({ maxBufferedBytes: max }, (w) => {
      ws = w;
    });
    const { sock } = await rawClient(s.port);
    sock.pause();
    ws = await s.opened(0);
    const flood = Buffer.concat(Array.from({ length: 1000 }, () => ping(Buffer.alloc(125, 1))));
    const serverSocket = (ws.nextLayer as DuplexLayer).duplex;
    try {
      // Bounded by the bytes sent, not by turns (a loaded machine may take many turns to read a flood):
      // the server must stop reading long before 256 MiB of pings (its pongs fill the kernel's buffers, a few MiB).
      const paused = once(serverSocket, 'pause');
      let sent = 0;
      while (sent < 256 * 1024 * 1024 && !serverSocket.isPaused()) {
        sent += flood.length;
        if (!sock.write(flood)) await Promise.race([once(sock, 'drain'), paused]);
      }
      assert.ok(serverSocket.isPaused(), 'the server stopped reading the flood');
      // The flood now backs up on the client's side: the server is not reading it.
      while (!sock.writableNeedDrain) {
        sock.write(flood);
        await turns();
      }
      assert.ok(ws.bufferedAmount <= max + 2 * 1024 * 1024, `our backlog: ${ws.bufferedAmount} bytes`);
      assert.ok(serverSocket.isPaused(), 'and stays paused while its pongs are not read');
    } finally {
      // The server's end is paused and would not see the client's reset: the next test counts handles.
      sock.destroy();
      serverSocket.destroy();
      s.close();
    }
  });
});

describe('teardown and graceful shutdown', () => {
  it('after 200 connections come and go (either side closing), the process holds the handles it held before', async () => {
    const count = (): Record<string, number> => {
      const c: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) c[r] = (c[r] ?? 0) + 1;
      return c;
    };
    const s = await server({}, async (ws) => {
      try {
        for await (const m of ws) {
          if (m.text() === 'close me') await ws.close({ code: 1000 });
          else await ws.write(m.data, { binary: m.binary });
        }
      } catch {
        /* ended */
      }
    });
    await turns();
    const before = count();
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const c = new WebSocket(`ws://127.0.0.1:${s.port}/`);
          await new Promise((r) => c.once('open', r));
          const closed = new Promise((r) => c.once('close', r));
          if (i % 2) c.send('close me');
          else c.close(1000);
          await closed;
        }),
      );
    }
    await Promise.all(s.streams.map((w) => w.whenClosed()));
    await turns();
    assert.ok(
      s.streams.every((w) => w.closeInfo?.wasClean),
      'every connection closed cleanly',
    );
    assert.deepEqual(count(), before);
    s.close();
  });

  it('StreamGroup.shutdown: stop accepting, close 1001 to every stream, destroy the ones that do not answer by the deadline', async (t) => {
    const group = new StreamGroup();
    const s = await server({}, (ws) => {
      group.add(ws);
      void ws.read().catch(() => {});
    });
    const clients = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const c = new WebSocket(`ws://127.0.0.1:${s.port}/`);
        await new Promise((r) => c.once('open', r));
        return c;
      }),
    );
    const codes = clients.map((c) => new Promise<number>((r) => c.once('close', (code) => r(code))));
    const silent = await rawClient(s.port); // never answers the close frame
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => s.opened(i)));
    assert.equal(group.size, 6);
    // The deadline on node's mocked clock: it passes once the five have closed, however long a
    // loaded machine takes them (a real 300 ms could pass first, and destroy one that would answer).
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let settled = false;
    const shutdown = group.shutdown({ deadline: 300, server: { close: s.close } }).finally(() => {
      settled = true;
    });
    assert.deepEqual(await Promise.all(codes), [1001, 1001, 1001, 1001, 1001]);
    const silentStream = s.streams[5]!; // (the five opened before it connected)
    await Promise.all(s.streams.filter((w) => w !== silentStream).map((w) => w.whenClosed()));
    const [f] = await silent.peer.waitFrames(1);
    assert.equal(f!.payload.readUInt16BE(0), 1001);
    await turns();
    assert.equal(settled, false, 'shutdown waits for the silent one until the deadline');
    assert.equal(silentStream.closeInfo, undefined);
    t.mock.timers.tick(300);
    assert.deepEqual(await shutdown, { closed: 5, destroyed: 1 }, 'the silent one was destroyed at the deadline');
    await silent.peer.waitClosed();
    await Promise.all(s.streams.map((w) => w.whenClosed()));
    assert.equal(group.size, 0, 'closed streams leave the group');
    const refused = net.connect(s.port, '127.0.0.1');
    await assert.rejects(
      new Promise((resolve, reject) => {
        refused.once('connect', resolve);
        refused.once('error', reject);
      }),
      { code: 'ECONNREFUSED' },
    );
  });

  it('StreamGroup.shutdown: a stream added while it runs (its handshake completed meanwhile) is closed with the code too, and waited for', async (t) => {
    const group = new StreamGroup();
    const s = await server({}, (ws) => {
      group.add(ws);
      void ws.read().catch(() => {});
    });
    const silent = await rawClient(s.port); // never answers: the shutdown runs until its deadline
    await s.opened(0);
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const shutdown = group.shutdown({ deadline: 300 });
    const [f] = await silent.peer.waitFrames(1);
    assert.equal(f!.payload.readUInt16BE(0), 1001);
    const late = new WebSocket(`ws://127.0.0.1:${s.port}/`);
    const lateCode = new Promise<number>((r) => late.once('close', (code) => r(code)));
    assert.equal(await lateCode, 1001);
    await (await s.opened(1)).whenClosed();
    t.mock.timers.tick(300);
    assert.deepEqual(await shutdown, { closed: 1, destroyed: 1 });
    await silent.peer.waitClosed();
    s.close();
  });

  it('StreamGroup.shutdown: a stream whose peer resets or ends the connection instead of answering is not counted as closed', async (t) => {
    const group = new StreamGroup();
    const s = await server({}, (ws) => {
      group.add(ws);
      void ws.read().catch(() => {});
    });
    t.after(() => {
      s.close();
      for (const w of s.streams) w.nextLayer.destroy();
    });
    const answering = new WebSocket(`ws://127.0.0.1:${s.port}/`);
    await new Promise((r) => answering.once('open', r));
    const answered = new Promise<number>((r) => answering.once('close', (code) => r(code)));
    await s.opened(0);
    const resetting = await rawClient(s.port);
    await s.opened(1);
    const ending = await rawClient(s.port);
    await s.opened(2);
    // The deadline on node's mocked clock, never ticked: the shutdown ends once every close settled.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const shutdown = group.shutdown({ deadline: 300 });
    const [toReset] = await resetting.peer.waitFrames(1);
    assert.equal(toReset!.payload.readUInt16BE(0), 1001);
    resetting.sock.resetAndDestroy();
    const [toEnd] = await ending.peer.waitFrames(1);
    assert.equal(toEnd!.payload.readUInt16BE(0), 1001);
    ending.sock.end();
    assert.equal(await answered, 1001);
    assert.deepEqual(await shutdown, { closed: 1, destroyed: 2 });
    assert.deepEqual(
      s.streams.map((w) => w.closeInfo?.wasClean),
      [true, false, false],
      'only the answering stream closed cleanly',
    );
  });

  it('StreamGroup.shutdown: with two shutdowns running, a stream added meanwhile is closed by both, and the first deadline destroys it', async (t) => {
    const group = new StreamGroup();
    const s = await server({}, (ws) => {
      group.add(ws);
      void ws.read().catch(() => {});
    });
    t.after(() => {
      s.close();
      for (const w of s.streams) w.nextLayer.destroy();
    });
    const first = await rawClient(s.port); // never answers, as the one added later
    await s.opened(0);
    // Both deadlines on node's mocked clock: each passes only when ticked.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const shorter = group.shutdown({ deadline: 100 });
    const longer = group.shutdown({ deadline: 1000 });
    await first.peer.waitFrames(1);
    const late = await rawClient(s.port);
    await s.opened(1);
    const [f] = await late.peer.waitFrames(1);
    assert.equal(f!.payload.readUInt16BE(0), 1001);
    t.mock.timers.tick(100);
    assert.deepEqual(await shorter, { closed: 0, destroyed: 2 }, 'the shorter shutdown held the late stream too');
    await late.peer.waitClosed();
    assert.deepEqual(await longer, { closed: 0, destroyed: 2 });
    await Promise.all(s.streams.map((w) => w.whenClosed()));
    assert.equal(group.size, 0);
  });

  /** A server's stream, and how its accept() ended ('open' or the error code), starting accept() if it was not. */
  type Handed = { ws: WebSocketStream; accepted: () => Promise<string> };

  /**
   * A net server whose connections are added to `group` right after `accept()` returned (it reads the request from
   * the socket: the handshake runs until the client sends it), or with `acceptAtOnce` false, before accept() is
   * called (the test calls it); `handed(i)` resolves with the i-th stream.
   */
  async function addingServer(group: StreamGroup, acceptAtOnce = true) {
    const handers: ((h: Handed) => void)[] = [];
    const hands: Promise<Handed>[] = [];
    const handed = (i: number) => {
      while (hands.length <= i) hands.push(new Promise((resolve) => handers.push(resolve)));
      return hands[i]!;
    };
    let next = 0;
    const srv = net.createServer((socket) => {
      const ws = new WebSocketStream(socket);
      let outcome: Promise<string> | undefined;
      const accepted = () =>
        (outcome ??= ws.accept().then(
          () => {
            void ws.read().catch(() => {});
            return 'open';
          },
          (e: WebSocketError) => e.code,
        ));
      if (acceptAtOnce) void accepted();
      group.add(ws);
      void handed(next);
      handers[next++]!({ ws, accepted });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return { port: (srv.address() as net.AddressInfo).port, handed, close: () => srv.close() };
  }

  /** The client's view of the server's answer: its response head, or that the connection ended without one. */
  const answerHead = (peer: RawPeer): Promise<string> =>
    peer.until(() => {
      const i = peer.received.indexOf('\r\n\r\n');
      if (i >= 0) return peer.received.subarray(0, i).toString('latin1').split('\r\n')[0];
      return peer.closed || peer.ended ? 'ended without a response' : undefined;
    });

  it('StreamGroup.shutdown: a stream still handshaking (added right after accept() returned) is closed with the code once its handshake completes', async (t) => {
    const group = new StreamGroup();
    const s = await addingServer(group);
    t.after(() => s.close());
    const before = await rawClient(s.port, false);
    const request = Buffer.from(requestHead());
    before.peer.send(request.subarray(0, 20)); // the handshake runs: half a request line
    const first = await s.handed(0);
    assert.equal(group.size, 1);
    // The deadline on node's mocked clock, never ticked: the shutdown ends once both closes completed.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const shutdown = group.shutdown({ code: 4000, reason: 'bye', deadline: 300 });
    // One more connection, added while the shutdown runs, before its request came.
    const during = await rawClient(s.port, false);
    const second = await s.handed(1);
    before.peer.send(request.subarray(20));
    during.peer.send(request);
    for (const { peer } of [before, during]) {
      assert.equal(await answerHead(peer), 'HTTP/1.1 101 Switching Protocols', 'the handshake was not disturbed');
      const [f] = await peer.until(() => (peer.frames().length > 0 || peer.closed ? peer.frames() : undefined));
      assert.equal(f?.opcode, 8, 'then the close frame');
      assert.equal(f.payload.readUInt16BE(0), 4000);
      assert.equal(f.payload.subarray(2).toString(), 'bye');
      peer.send(closeFrame(4000));
    }
    assert.deepEqual([await first.accepted(), await second.accepted()], ['open', 'open']);
    assert.deepEqual(await shutdown, { closed: 2, destroyed: 0 });
    for (const { ws } of [first, second]) {
      assert.deepEqual(await ws.whenClosed(), { initiatedBy: 'local', code: 4000, reason: 'bye', wasClean: true });
    }
    await Promise.all([before.peer.waitClosed(), during.peer.waitClosed()]);
    assert.equal(group.size, 0);
  });

  it('StreamGroup.shutdown: a stream whose handshake fails meanwhile, or still runs at the deadline, is counted destroyed', async (t) => {
    const group = new StreamGroup();
    const s = await addingServer(group);
    t.after(() => s.close());
    const refused = await rawClient(s.port, false);
    const refusedStream = await s.handed(0);
    const stalled = await rawClient(s.port, false);
    stalled.peer.send(requestHead().slice(0, 20)); // and never the rest
    const stalledStream = await s.handed(1);
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let settled = false;
    const shutdown = group.shutdown({ deadline: 300 }).finally(() => {
      settled = true;
    });
    refused.peer.send(requestHead({ 'Sec-WebSocket-Key': null }));
    assert.equal(await answerHead(refused.peer), 'HTTP/1.1 400 Bad Request', 'the refusal went out whole');
    await refused.peer.waitClosed();
    assert.equal(await refusedStream.accepted(), 'ERR_WS_NO_SEC_KEY');
    await refusedStream.ws.whenClosed();
    await turns();
    assert.equal(settled, false, 'the shutdown waits for the handshake still running until the deadline');
    assert.equal(stalledStream.ws.closeInfo, undefined);
    t.mock.timers.tick(300);
    assert.deepEqual(await shutdown, { closed: 0, destroyed: 2 });
    assert.equal(await stalledStream.accepted(), 'ERR_WS_EOF', 'the deadline tore the handshake down');
    await stalled.peer.waitClosed();
    assert.equal(stalled.peer.received.length, 0, 'the stalled client got no answer');
    assert.equal(group.size, 0);
  });

  it('StreamGroup.shutdown: a stream added before its accept() was called is closed with the code once that handshake completes', async (t) => {
    const group = new StreamGroup();
    const s = await addingServer(group, false);
    t.after(() => s.close());
    const { peer } = await rawClient(s.port, false);
    peer.send(requestHead());
    const { ws, accepted } = await s.handed(0);
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const shutdown = group.shutdown({ deadline: 300 });
    assert.equal(await accepted(), 'open', 'the handshake the application started after the shutdown began');
    assert.equal(await answerHead(peer), 'HTTP/1.1 101 Switching Protocols');
    const [f] = await peer.until(() => (peer.frames().length > 0 || peer.closed ? peer.frames() : undefined));
    assert.equal(f?.opcode, 8);
    assert.equal(f.payload.readUInt16BE(0), 1001);
    peer.send(closeFrame(1001));
    assert.deepEqual(await shutdown, { closed: 1, destroyed: 0 });
    assert.equal((await ws.whenClosed()).wasClean, true);
  });

  it('a stream in two groups leaves both once closed', async () => {
    const { createTestPair } = await import('../../src/index.js');
    const { requestObject } = await import('../support/frames.js');
    const [a, b] = createTestPair();
    const ws = new WebSocketStream(a);
    await ws.accept(requestObject());
    const g1 = new StreamGroup();
    const g2 = new StreamGroup();
    g1.add(ws);
    g2.add(ws);
    assert.deepEqual([g1.size, g2.size], [1, 1]);
    b.destroy();
    await ws.whenClosed();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([g1.size, g2.size], [0, 0]);
  });

  it('over TLS the client ends cleanly (close_notify, no reset) after the close handshake', async () => {
    const { readFileSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const tls = await import('node:tls');
    const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
    const srv = tls.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') }, (socket) => {
      const ws = new WebSocketStream(socket);
      ws.accept()
        .then(() => ws.read())
        .catch(() => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const ws = await connect(`wss://localhost:${(srv.address() as net.AddressInfo).port}/`, {
      ca: fixture('cert.pem'),
    });
    await ws.close({ code: 1000 });
    assert.deepEqual(await ws.whenClosed(), { initiatedBy: 'local', code: 1000, reason: '', wasClean: true });
    srv.close();
  });
});

void closeFrame;
