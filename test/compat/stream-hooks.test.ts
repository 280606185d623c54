/**
 * What the ws-compat layer needs from the stream, tested on the stream itself: `validateUtf8: false`
 * (ws's skipUTF8Validation) and `controlCallback` reporting a ping only once the message before it,
 * still being inflated, is readable (wire order).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { createTestPair, WebSocketStream, type StreamOptions } from '../../src/index.js';
import { closeFrame, ping, requestObject, text } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

const BAD = Buffer.from([0x68, 0xc3, 0x28]);

function deflated(s: string | Buffer): Buffer {
  const out = zlib.deflateRawSync(s, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

async function open(options: StreamOptions, deflate = false) {
  const [server, client] = createTestPair();
  const ws = new WebSocketStream(server, options);
  const peer = new RawPeer(client);
  await ws.accept(
    requestObject(deflate ? { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover' } : {}),
  );
  await peer.responseHead();
  return { ws, peer };
}

describe('stream option validateUtf8', () => {
  for (const deflate of [false, true]) {
    it(`false: text that is not UTF-8 is read as it came (permessage-deflate ${deflate})`, async () => {
      const { ws, peer } = await open({ validateUtf8: false, perMessageDeflate: deflate }, deflate);
      peer.send(deflate ? text(deflated(BAD), { rsv: 4 }) : text(BAD));
      const m = await ws.read();
      assert.deepEqual([m.data.toString('hex'), m.binary], ['68c328', false]);
      peer.send(closeFrame(4000, BAD));
      await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
      assert.equal(ws.closeReason?.code, 4000);
      const frames = await peer.waitFrames(1);
      assert.deepEqual([frames[0]!.opcode, frames[0]!.payload.readUInt16BE(0)], [8, 4000]);
    });
  }

  it('true (the default): the same text fails the connection with 1007', async () => {
    const { ws, peer } = await open({});
    peer.send(text(BAD));
    await assert.rejects(ws.read(), { code: 'ERR_WS_BAD_FRAME_PAYLOAD' });
    const frames = await peer.waitFrames(1);
    assert.deepEqual([frames[0]!.opcode, frames[0]!.payload.readUInt16BE(0)], [8, 1007]);
  });

  it('a value that is not a boolean is refused', () => {
    const [server] = createTestPair();
    assert.throws(() => new WebSocketStream(server, { validateUtf8: 'no' as never }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
    });
  });
});

describe('controlCallback in wire order', () => {
  it('a ping behind a message still inflating is reported once that message is readable', async () => {
    const events: string[] = [];
    let pinged: () => void;
    const pingSeen = new Promise<void>((resolve) => {
      pinged = resolve;
    });
    const controlCallback = (kind: string, payload: Buffer): void => {
      events.push(`${kind} ${payload}`);
      pinged();
    };
    const { ws, peer } = await open({ perMessageDeflate: true, controlCallback }, true);
    // A read waits: it completes as the message is delivered, before anything after it.
    const read = new Promise<void>((resolve) =>
      ws.read((err, m) => {
        assert.equal(err, null);
        events.push(`message ${m!.data.length}`);
        resolve();
      }),
    );
    peer.send(Buffer.concat([text(deflated('a'.repeat(500_000)), { rsv: 4 }), ping('p')]));
    await Promise.all([read, pingSeen]);
    assert.deepEqual(events, ['message 500000', 'ping p']);
  });
});
