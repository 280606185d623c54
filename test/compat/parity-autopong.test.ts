/**
 * ws's `maxPendingAutoPongs` (default 60), on the real `ws` and on ws-stream/ws with one expectation:
 * a ping that finds that many automatic pongs whose write has not completed terminates the
 * connection ('ping' is still emitted; 'close' 1006, no 'error'). A write completes once the socket
 * took it: pongs a peer reads never pile up, pongs to a peer that does not read do, and so do the
 * pongs of many pings that came in one chunk (answered in one turn, before any write completed).
 * Last, ws 8.23's other new limit, `maxBufferedChunks`: a documented difference (ignored here).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { describe, it } from 'node:test';
import { fakeServer, response101 } from '../support/hostile.js';
import { closeCodeOf } from '../support/hostile.js';
import { closeFrame, ping, text } from '../support/frames.js';
import type { RawPeer } from '../support/peer.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** `n` masked pings in one buffer (one write: one chunk for the server), payloads '0', '1', … */
function pings(n: number): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => ping(String(i))));
}

/** What the server's WebSocket emitted, and how it ended. */
interface Seen {
  pings: number;
  errors: string[];
  close: number | null;
}

function watch(server: Any): Seen {
  const seen: Seen = { pings: 0, errors: [], close: null };
  server.on('ping', () => seen.pings++);
  server.on('error', (e: Error) => seen.errors.push(e.message));
  server.on('close', (code: number) => {
    seen.close = code;
  });
  return seen;
}

/** A server of `impl` with `options` and a raw client past the handshake; the server's WebSocket. */
async function open(t: TestContext, impl: Impl, options: Record<string, unknown> = {}): Promise<[Any, RawPeer]> {
  const { wss, port } = await listen(t, impl, options);
  const connected = once(wss, 'connection');
  const peer = await rawPeer(t, port);
  assert.equal((await peer.responseHead()).status, 101);
  const [server] = await connected;
  return [server, peer];
}

function pongsOf(peer: RawPeer): string[] {
  return peer
    .frames()
    .filter((f) => f.opcode === 0xa)
    .map((f) => f.payload.toString());
}

describe('maxPendingAutoPongs, on ws and ws-stream/ws', () => {
  for (const impl of impls) {
    it(`${impl.name}: 70 pings in one chunk: 60 answered, the 61st terminates, all 70 emitted (default 60)`, async (t) => {
      const [server, peer] = await open(t, impl);
      const seen = watch(server);
      assert.equal(server._maxPendingAutoPongs, 60);
      peer.send(pings(70));
      await once(server, 'close');
      await peer.waitClosed();
      assert.deepEqual(seen, { pings: 70, errors: [], close: 1006 });
      assert.deepEqual(
        pongsOf(peer),
        Array.from({ length: 60 }, (_, i) => String(i)),
      );
      // Nothing but the pongs: terminate() sends no close frame.
      assert.equal(peer.frames().length, 60);
    });

    it(`${impl.name}: 60 pings in one chunk are all answered and the connection stays open`, async (t) => {
      const [server, peer] = await open(t, impl);
      const seen = watch(server);
      peer.send(pings(60));
      await peer.waitFrames(60);
      // The pongs' writes completed: 60 more in one chunk are answered too.
      peer.send(pings(60));
      await peer.waitFrames(120);
      server.send('still open');
      const frames = await peer.waitFrames(121);
      assert.equal(frames[120]!.payload.toString(), 'still open');
      assert.deepEqual(seen, { pings: 120, errors: [], close: null });
    });

    it(`${impl.name}: maxPendingAutoPongs 0 is no limit`, async (t) => {
      const [server, peer] = await open(t, impl, { maxPendingAutoPongs: 0 });
      const seen = watch(server);
      peer.send(pings(200));
      await peer.waitFrames(200);
      assert.equal(pongsOf(peer).length, 200);
      assert.deepEqual(seen, { pings: 200, errors: [], close: null });
    });

    it(`${impl.name}: autoPong false answers nothing and counts nothing`, async (t) => {
      const [server, peer] = await open(t, impl, { autoPong: false, maxPendingAutoPongs: 1 });
      const seen = watch(server);
      peer.send(pings(10));
      while (seen.pings < 10) await once(server, 'ping');
      server.send('open');
      const frames = await peer.waitFrames(1);
      assert.deepEqual(
        frames.map((f) => f.opcode),
        [1],
      );
      assert.deepEqual(seen, { pings: 10, errors: [], close: null });
    });

    it(`${impl.name}: a ping after close() gets no pong and adds nothing to bufferedAmount`, async (t) => {
      const [server, peer] = await open(t, impl);
      server.close(1000);
      await peer.waitFrames(1); // our close frame, written to the socket
      const atPing: number[] = [];
      server.on('ping', () => atPing.push(server.readyState, server.bufferedAmount));
      peer.send(Buffer.concat([ping('late'), closeFrame(1000)]));
      await once(server, 'close');
      assert.deepEqual(atPing, [2, 0]);
      assert.deepEqual(pongsOf(peer), []);
    });

    it(`${impl.name}: a peer that pings but does not read is terminated once its pongs pile up`, async (t) => {
      const [server, peer] = await open(t, impl, { maxPendingAutoPongs: 3 });
      const seen = watch(server);
      const socket = peer.io;
      socket.pause(); // reads nothing: the server's writes stay unfinished
      const big = Buffer.alloc(8 * 1024 * 1024, 'x');
      server.send(big);
      // One ping at a time, each answered before the next comes: only the stalled socket piles them.
      for (let i = 0; i < 4; i++) {
        peer.send(ping(String(i)));
        await once(server, 'ping');
      }
      if (seen.close === null) await once(server, 'close');
      assert.deepEqual(seen, { pings: 4, errors: [], close: 1006 });
      socket.resume();
      await peer.waitClosed();
      // The peer got part of the big message at most: the pongs behind it never went out.
      assert.ok(peer.received.length < big.length);
      assert.deepEqual(pongsOf(peer), []);
    });
  }

  for (const impl of impls) {
    it(`${impl.name}: a client's limit comes from its options (default 60)`, async (t) => {
      const { url } = await fakeServer(t, (socket, accept) => {
        socket.write(response101(accept));
        socket.write(Buffer.concat(Array.from({ length: 4 }, (_, i) => ping(String(i), { mask: false }))));
      });
      const client = new impl.WebSocket(url, { perMessageDeflate: false, maxPendingAutoPongs: 3 });
      assert.equal(client._maxPendingAutoPongs, 3);
      const other = new impl.WebSocket(url);
      other.on('error', () => {});
      assert.equal(other._maxPendingAutoPongs, 60);
      other.terminate();
      const seen = watch(client);
      await once(client, 'close');
      assert.deepEqual(seen, { pings: 4, errors: [], close: 1006 });
    });
  }

  // A documented difference (doc/ws-compat.md, "Accepted and ignored"): ws counts the socket chunks
  // its receiver holds unparsed; the core gathers small pieces into one buffer and needs no such limit.
  for (const impl of impls) {
    it(`${impl.name}: maxBufferedChunks 4, a frame trickled in one byte per chunk`, async (t) => {
      const [server, peer] = await open(t, impl, { maxBufferedChunks: 4 });
      const seen = watch(server);
      const messages: string[] = [];
      server.on('message', (d: Buffer) => messages.push(d.toString()));
      const frame = text('0123456789');
      for (const byte of frame) {
        if (seen.errors.length > 0) break; // ws failed the connection (the chunk before)
        const arrived = once(server._socket, 'data');
        peer.send(Buffer.from([byte]));
        await arrived; // a chunk of its own for the server
      }
      if (impl.name === 'ws') {
        // Its close frame (the raw peer does not answer it: ws would wait closeTimeout for that).
        await peer.waitFrames(1);
        assert.deepEqual(seen.errors, ['Too many buffered chunks']);
        assert.equal(closeCodeOf(peer.frames()[0]), 1008);
        assert.deepEqual(messages, []);
      } else {
        if (messages.length === 0) await once(server, 'message');
        assert.deepEqual(messages, ['0123456789']);
        assert.deepEqual(seen.errors, []);
      }
    });
  }
});
