/**
 * The second review's findings on the stream: a close reason that is not UTF-8 echoed with
 * validation off, a next layer's sink called with the receiver's argument shapes, the order of
 * control reports behind a message still inflating, and a flushed write aborted after a new queue.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeFrame } from '../support/frames.js';
import { openServer } from '../support/open.js';

describe('a close reason that is not UTF-8, with validateUtf8 false', () => {
  it('the answer echoes the reason bytes as they came (60 × 0xff, re-encoded it would be 180 bytes)', async () => {
    const { ws, peer } = await openServer({ validateUtf8: false });
    const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(60, 0xff)]);
    peer.send(closeFrame(1000, Buffer.alloc(60, 0xff)));
    const [answer] = await peer.waitFrames(1);
    assert.equal(answer!.opcode, 8);
    assert.equal(answer!.masked, false);
    assert.equal(answer!.payload.toString('hex'), payload.toString('hex'));
    const info = await ws.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['remote', 1000, true]);
    assert.equal(info.reason, '\ufffd'.repeat(60));
    assert.equal(peer.frames().length, 1);
  });
});
