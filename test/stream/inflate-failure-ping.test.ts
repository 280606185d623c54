/**
 * The stream's own automatic pong (`autoPong`, the default) for a ping that came behind a compressed
 * message still inflating: answered once that message is inflated and delivered, and never when it
 * fails the connection (RFC 6455 §7.1.7: after the failure nothing more is processed; ws neither
 * answers nor emits such a ping). Before the fix the pong went out at once, ahead of the close 1007.
 * A server over TCP against a raw client, everything in one chunk (the ping is parsed while zlib,
 * asynchronous, still inflates the message ahead of it).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { compressedText } from '../support/drop-client.js';
import { closeFrame, ping, requestHead, type WireFrame } from '../support/frames.js';
import { openServerOverTcp } from '../support/open.js';

const NOT_UTF8 = Buffer.from([0x68, 0xc3, 0x28]);

function describeFrame(f: WireFrame): string {
  if (f.opcode === 8) return `close ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005}`;
  if (f.opcode === 0xa) return `pong ${f.payload}`;
  return `opcode ${f.opcode}`;
}

/** `chunk` sent at once; the messages the server read, how reading ended, and the frames the client got. */
async function run(t: TestContext, chunk: Buffer): Promise<{ read: string[]; end: string; wire: string[] }> {
  const { ws, peer } = await openServerOverTcp(
    { perMessageDeflate: true },
    requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
    t,
  );
  const result = (async () => {
    const read: string[] = [];
    try {
      for (;;) read.push((await ws.read()).text());
    } catch (err) {
      return { read, end: (err as { code: string }).code };
    }
  })();
  assert.match((await peer.responseHead()).head, /permessage-deflate/);
  peer.send(chunk);
  await peer.waitClosed();
  return { ...(await result), wire: peer.frames().map(describeFrame) };
}

describe('a ping behind a compressed message still inflating (server, autoPong)', () => {
  it('the message fails (not UTF-8): no pong, only the close 1007', async (t) => {
    const got = await run(
      t,
      Buffer.concat([compressedText('fine'), compressedText(NOT_UTF8), ping('late'), closeFrame(1000)]),
    );
    assert.deepEqual(got, { read: ['fine'], end: 'ERR_WS_BAD_FRAME_PAYLOAD', wire: ['close 1007'] });
  });

  it('the message is fine: the ping is answered after it, then the close handshake', async (t) => {
    const got = await run(
      t,
      Buffer.concat([ping('early'), compressedText('x'.repeat(100_000)), ping('late'), closeFrame(1000)]),
    );
    assert.deepEqual(got, {
      read: ['x'.repeat(100_000)],
      end: 'ERR_WS_CLOSED',
      wire: ['pong early', 'pong late', 'close 1000'],
    });
  });
});
