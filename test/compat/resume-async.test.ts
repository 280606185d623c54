/**
 * `resume()` emits nothing from inside the call, on ws and on ws-stream/ws: ws resumes its socket, which flows on a
 * later tick, so code right after `resume()` runs before the next 'message' (an application that resumes and then
 * marks itself ready sees the message ready), and a `pause()` right after it holds everything back. Before,
 * ws-stream/ws emitted a message it had held back while paused from inside `resume()`. A WebSocket still paused
 * when its peer leaves emits the messages that came before the end, then 'close'.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { KEY, text } from '../support/frames.js';
import type { RawPeer } from '../support/peer.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** One turn of the event loop: what the socket holds is read and parsed by then. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A server WebSocket paused in 'connection' itself, whose peer sent the messages a, b and c in the request's chunk
 * (they are there when the WebSocket is made). `events` gets each message, marked when it came from inside
 * `resume()`; `all` resolves once the three came.
 */
async function pausedWithMessages(
  t: TestContext,
  impl: Impl,
): Promise<{ ws: Any; peer: RawPeer; events: string[]; resume(): void; all: Promise<void> }> {
  const { wss, port } = await listen(t, impl);
  const events: string[] = [];
  let inResume = false;
  let all!: Promise<void>;
  const connected = new Promise<Any>((resolve) =>
    wss.on('connection', (ws: Any) => {
      ws.pause();
      let count = 0;
      all = new Promise<void>((done) =>
        ws.on('message', (data: Buffer) => {
          events.push(`${data}${inResume ? ' (inside resume)' : ''}`);
          if (++count === 3) done();
        }),
      );
      resolve(ws);
    }),
  );
  const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const peer = await rawPeer(t, port, Buffer.concat([Buffer.from(head), text('a'), text('b'), text('c')]));
  const ws = await connected;
  const resume = (): void => {
    inResume = true;
    try {
      ws.resume();
    } finally {
      inResume = false;
    }
  };
  return { ws, peer, events, resume, all };
}

for (const impl of impls) {
  describe(`${impl.name}: resume()`, () => {
    it('the messages of a WebSocket paused on connection come after resume() returned, in order', async (t) => {
      const { ws, events, resume, all } = await pausedWithMessages(t, impl);
      await turn();
      resume();
      events.push('resume() returned');
      await all;
      assert.deepEqual(events, ['resume() returned', 'a', 'b', 'c']);
      assert.equal(ws.isPaused, false);
    });

    it('pause() right after resume() holds them back until the next resume()', async (t) => {
      const { ws, events, resume, all } = await pausedWithMessages(t, impl);
      await turn();
      resume();
      ws.pause();
      events.push('paused again');
      await turn();
      events.push('resumed again');
      resume();
      await all;
      assert.deepEqual(events, ['paused again', 'resumed again', 'a', 'b', 'c']);
    });

    it('still paused when the peer leaves: the messages that came, then close 1006', async (t) => {
      const { ws, peer, events, all } = await pausedWithMessages(t, impl);
      await turn();
      const closed = new Promise<void>((resolve) =>
        ws.on('close', (code: number) => {
          events.push(`close ${code}`);
          resolve();
        }),
      );
      peer.io.destroy();
      await Promise.all([all, closed]);
      assert.deepEqual(events, ['a', 'b', 'c', 'close 1006']);
    });
  });
}
