/**
 * websocket-stream 5.5, whose server and client require its own ws 3 (nested in its node_modules), run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts, which resolves `ws` from any folder), in a child
 * process each (apps/websocket-stream.ts): an echo server piping each stream into itself, clients as node streams.
 * Both must show the same: text and binary writes echoed as Buffers, 4 MiB through `pipeline` with backpressure and
 * every byte back in order, `end()` closing the socket (the server's socket closes; 'finish', 'end' then 'close' on
 * the client), `destroy()` seen by the server, and ECONNREFUSED as the stream's error. Where ws 8 changed ws 3's
 * behaviour (the close code of a `close()` without one, the error event's shape), ws-stream/ws does what ws 8 does
 * (a ws 8 client shows the same).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`websocket-stream on ${engine.name}`, () => {
    it('echoes text, binary and 4 MiB with backpressure, propagates end and close, reports a refusal', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'websocket-stream', engine);
      const ours = engine.name === 'ws-stream/ws';
      // websocket-stream closes with `socket.close()`: ws 3 sends 1000, ws 8 (and ws-stream/ws) an empty close: 1005.
      const noCode = ours ? 1005 : 1000;
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        clientIsOurs: ours,
        binaryType: 'arraybuffer',
        small: [Buffer.from('héllo').toString('hex'), '000102ff'],
        smallEnd: ['finish', 'end', 'close'],
        big: { length: 4 * 1024 * 1024, same: true, backpressure: true },
        // What ws 8 does (and ws-stream/ws with it), ws 3 otherwise: an ErrorEvent holding the socket's error.
        refused: ours
          ? { message: true, code: null, eventErrorCode: 'ECONNREFUSED' }
          : { message: true, code: 'ECONNREFUSED', eventErrorCode: null },
        serverSaw: [
          'stream /small',
          `socket close ${noCode} after 10 bytes`,
          'stream /big',
          `socket close ${noCode} after ${4 * 1024 * 1024} bytes`,
          'stream /destroyed',
          `socket close ${noCode} after 0 bytes`,
        ],
      });
    });
  });
}
