/**
 * A stream destroyed while frames still wait in its socket's buffer (a subscriber that fell behind, cut at a
 * shutdown's deadline): node's Writable fails each buffered write, and without an error of ours it makes a
 * new Error for each one (~7 µs: 2,000 subscribers backed up with 30,000 frames each stalled `serve --pubsub`
 * for minutes). They all fail with one error, node's own code and message. Over real TCP sockets.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { it } from 'node:test';
import { StreamGroup } from '../../src/index.js';
import { queuePreparedFrame } from '../../src/stream/prepared.js';
import { frame } from '../support/frames.js';
import { backUpWithPreparedFrames, flushed, openServerOverTcp } from '../support/open.js';

/** Every write handed to `socket` from now on, with what it failed with (null: written), once it is known. */
function watchWriteResults(socket: net.Socket): { results: (Error | null | undefined)[]; allKnown: Promise<void> } {
  const results: (Error | null | undefined)[] = [];
  let wake = (): void => {};
  const allKnown = new Promise<void>((resolve) => {
    wake = () => {
      if (!results.includes(undefined)) resolve();
    };
  });
  const write = socket.write;
  socket.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    const i = results.push(undefined) - 1;
    const cb = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as (err?: Error | null) => void) : null;
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest, (err?: Error | null) => {
      results[i] = err ?? null;
      cb?.(err);
      wake();
    });
  } as typeof socket.write;
  return { results, allKnown };
}

it('a backed-up stream destroyed at a shutdown deadline fails its buffered writes with one error', async (t) => {
  const { ws, socket, peer } = await openServerOverTcp({}, undefined, t);
  peer.io.pause(); // the peer stops reading: the kernel's buffers fill, then the socket's
  const filler = frame({ opcode: 2, payload: Buffer.alloc(1 << 20), mask: false });
  await backUpWithPreparedFrames(ws, socket, filler);
  const watched = watchWriteResults(socket);
  // Prepared frames to a backed-up socket go to it as they are: one buffered write each.
  const small = frame({ opcode: 2, payload: Buffer.alloc(200, 7), mask: false });
  for (let i = 0; i < 1000; i++) assert.equal(queuePreparedFrame(ws, small), true);
  await flushed();
  assert.ok(watched.results.length >= 1000, `the frames wait in the socket as ${watched.results.length} writes`);
  const group = new StreamGroup();
  group.add(ws);
  const result = await group.shutdown({ deadline: 0 }); // the peer reads nothing: no close handshake
  assert.deepEqual(result, { closed: 0, destroyed: 1 });
  await watched.allKnown;
  const failures = new Set(watched.results);
  assert.equal(failures.size, 1, `the buffered writes failed with ${failures.size} different errors`);
  const [err] = failures as Set<NodeJS.ErrnoException | null>;
  assert.equal(err?.code, 'ERR_STREAM_DESTROYED');
  assert.equal(err?.message, 'Cannot call write after a stream was destroyed');
});
