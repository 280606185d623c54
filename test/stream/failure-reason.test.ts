/**
 * The close frame of a connection failed by a protocol violation: with the error's one-line
 * description as its reason by default, with the code alone under `failureReason: false` (what
 * `ws` sends, and what ws-stream/ws asks for). The reader hears the same error either way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocketError } from '../../src/index.js';
import { normaliseStreamOptions } from '../../src/options.js';
import { frame } from '../support/frames.js';
import { openServer } from '../support/open.js';

describe('failureReason', () => {
  for (const failureReason of [undefined, true, false]) {
    it(`a reserved opcode from the peer (failureReason: ${failureReason}): close 1002 ${failureReason === false ? 'without' : 'with'} a reason`, async () => {
      const { ws, peer } = await openServer(failureReason === undefined ? {} : { failureReason });
      const read = ws.read().then(
        () => assert.fail('nothing to read'),
        (e: WebSocketError) => e.code,
      );
      peer.send(frame({ opcode: 5 }));
      const [close] = await peer.waitFrames(1);
      assert.equal(close!.opcode, 8);
      assert.equal(close!.payload.readUInt16BE(0), 1002);
      const reason = close!.payload.subarray(2).toString();
      if (failureReason === false) assert.equal(reason, '');
      else assert.match(reason, /opcode/);
      assert.equal(await read, 'ERR_WS_BAD_OPCODE');
    });
  }

  it('must be a boolean', () => {
    assert.throws(
      () => normaliseStreamOptions({ failureReason: 'no' as never }),
      (e: WebSocketError) => e.code === 'ERR_WS_INVALID_ARGUMENT' && /failureReason/.test(e.message),
    );
  });
});
