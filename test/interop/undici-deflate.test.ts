/**
 * undici 7's WebSocket (which offers `permessage-deflate; client_max_window_bits` and inflates with the window
 * the server answers) against each permessage-deflate configuration of the ws-stream server: window bits 8, 9
 * and 12 each side, no context takeover each side. Messages at the length boundaries and a repeated message.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket as UndiciWebSocket } from 'undici';
import type { DeflateOptions } from '../../src/index.js';
import { payload, startEchoServer } from './edge.js';

const MESSAGES: (Buffer | string)[] = [
  ...[0, 1, 125, 126, 65535, 65536].flatMap((size, i) => [payload(size, i, false), payload(size, i, true).toString()]),
  payload(4000, 99, false),
  payload(4000, 99, false),
];

/** Sends each message after the echo of the one before; whether each echo was equal, and the close code. */
function exchange(port: number): Promise<{ extensions: string; echoes: boolean[]; code: number }> {
  const c = new UndiciWebSocket(`ws://127.0.0.1:${port}/`);
  c.binaryType = 'arraybuffer';
  const echoes: boolean[] = [];
  return new Promise((resolve, reject) => {
    c.onerror = () => reject(new Error('undici failed the connection'));
    c.onopen = () => c.send(MESSAGES[0]!);
    c.onmessage = (e) => {
      const sent = MESSAGES[echoes.length]!;
      const got = e.data as ArrayBuffer | string;
      echoes.push(
        typeof sent === 'string' ? got === sent : got instanceof ArrayBuffer && Buffer.from(got).equals(sent),
      );
      if (echoes.length < MESSAGES.length) c.send(MESSAGES[echoes.length]!);
      else c.close(1000);
    };
    c.onclose = (e) => resolve({ extensions: c.extensions, echoes, code: e.code });
  });
}

const configs: [DeflateOptions | true, string][] = [
  [true, 'permessage-deflate'],
  ...[8, 9, 12].map((b): [DeflateOptions, string] => [
    { serverMaxWindowBits: b },
    `permessage-deflate; server_max_window_bits=${b}`,
  ]),
  ...[8, 9, 12].map((b): [DeflateOptions, string] => [
    { clientMaxWindowBits: b },
    `permessage-deflate; client_max_window_bits=${b}`,
  ]),
  [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
  [{ serverNoContextTakeover: true, threshold: 0 }, 'permessage-deflate; server_no_context_takeover'],
  [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
];

describe('undici ← the ws-stream server, permessage-deflate configurations', () => {
  for (const [config, expected] of configs) {
    it(`${JSON.stringify(config)} → ${expected}`, async () => {
      const srv = await startEchoServer({ perMessageDeflate: config });
      const record = srv.next();
      const result = await exchange(srv.port);
      assert.equal(result.extensions, expected);
      assert.deepEqual(
        result.echoes,
        MESSAGES.map(() => true),
      );
      assert.equal(result.code, 1000);
      const rec = await record;
      assert.equal(rec.offered, 'permessage-deflate; client_max_window_bits');
      assert.equal(rec.extensions, expected);
      assert.deepEqual([rec.closeInfo.code, rec.closeInfo.wasClean], [1000, true]);
    });
  }
});
