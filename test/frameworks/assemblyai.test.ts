/**
 * The AssemblyAI SDK's streaming transcriber (assemblyai 4, importing `ws`, `wss:` only), run with `ws` as installed
 * and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/assemblyai.ts), against a fake
 * streaming API over TLS on 127.0.0.1, its self-signed certificate trusted through NODE_EXTRA_CA_CERTS (the SDK passes
 * no TLS options). Both must show the same: Begin, partial and final turns for binary audio sent directly and through
 * `stream()`, a Warning, UpdateConfiguration, ForceEndpoint and Terminate in order after all the audio, `close()`
 * (1005 on the server), a server error frame, closes with a code the SDK names and with the server's reason, 4001
 * before Begin (not retried), and an upgrade refused with 401 (the engine's message, from the ErrorEvent).
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { selfSigned } from '../support/tls-cert.js';
import { aliasEngines, runApp } from './child.js';

const query = '/v3/ws?sample_rate=16000&format_turns=true&keyterms_prompt=%5B%22ws-stream%22%5D';

for (const engine of aliasEngines) {
  describe(`assemblyai streaming on ${engine.name}`, () => {
    it('streams audio over wss: turns, configuration, termination, server errors and closes, refusals', async (t) => {
      const { cert, key } = selfSigned();
      t.after(() => rmSync(dirname(cert), { recursive: true }));
      const result = await runApp<Record<string, unknown>>(t, 'assemblyai', engine, {
        NODE_EXTRA_CA_CERTS: cert,
        TLS_CERT: cert,
        TLS_KEY: key,
      });
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        begin: { type: 'Begin', id: 'session-1', expires_at: 1_700_000_000 },
        socket: { isOurs: ours, binaryType: 'arraybuffer' },
        session: ['turn 0 false hello', 'warning 1 noted', 'turn 0 true Hello world.', 'turn 1 true Bye.'],
        errorFrame: 'error Audio chunk too long 3007',
        closedByServer: 'close 3005 Server error',
        closedWithReason: 'close 4031 idle for too long',
        unauthorized: { message: 'Not Authorized', code: 4001, retryable: false },
        refused: { message: 'Unexpected server response: 401', code: null, retryable: true },
        sessions: [
          [
            query,
            'UpdateConfiguration {"end_of_turn_confidence_threshold":0.5} after 67200 bytes',
            'ForceEndpoint {} after 67200 bytes',
            'Terminate {} after 67200 bytes',
            'close 1005 ',
          ],
          [query, 'close 3005 '],
          [query, 'close 4031 idle for too long'],
          [query, 'close 4001 '],
        ],
      });
    });
  });
}
