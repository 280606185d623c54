/**
 * Through the ws API: compressed text that inflates to invalid UTF-8 with the peer's close frame
 * 1000 right behind it, in the same chunk. The failure, found on the earlier frame, wins (RFC 6455
 * §5.4): 'error', our close 1007 on the wire, then 'close' as for the same text uncompressed; before
 * the fix ws-stream/ws emitted no 'error' and 'close' 1000, the close frame taken for a clean close.
 * Runs on the real `ws` and on ws-stream/ws.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { compressedText } from '../support/drop-client.js';
import { closeFrame, KEY, text } from '../support/frames.js';
import { closeCodeOf } from '../support/hostile.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

const NOT_UTF8 = Buffer.from([0x68, 0xc3, 0x28]);

/** The server socket's events and the close code the raw client received, for `message` then a close 1000. */
async function run(t: TestContext, impl: Impl, message: Buffer): Promise<{ events: string[]; wire: number | null }> {
  const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
  const events: string[] = [];
  const closed = new Promise<void>((resolve) => {
    // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
    wss.on('connection', (sws: any) => {
      sws.on('message', (d: Buffer) => events.push(`message ${d}`));
      sws.on('error', (err: Error & { code?: string }) => events.push(`error ${err.code}`));
      sws.on('close', (code: number) => {
        events.push(`close ${code}`);
        // Anything emitted after 'close' would show up in `events` by the next turns.
        setImmediate(() => setImmediate(resolve));
      });
    });
  });
  const peer = await rawPeer(
    t,
    port,
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
  );
  const head = await peer.responseHead();
  assert.match(head.head, /permessage-deflate/);
  peer.send(Buffer.concat([message, closeFrame(1000)]));
  await peer.waitClosed();
  await closed;
  return { events, wire: closeCodeOf(peer.frames()[0]) };
}

for (const impl of impls) {
  describe(`${impl.name}: compressed text that is not UTF-8, then the peer's close 1000 in the same chunk`, () => {
    it("'error' WS_ERR_INVALID_UTF8, close 1007 on the wire, then 'close' 1006: as the same text uncompressed", async (t) => {
      const got = await run(t, impl, compressedText(NOT_UTF8));
      assert.deepEqual(got, { events: ['error WS_ERR_INVALID_UTF8', 'close 1006'], wire: 1007 });
      assert.deepEqual(got, await run(t, impl, text(NOT_UTF8)));
    });
  });
}
