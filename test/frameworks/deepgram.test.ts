/**
 * The Deepgram SDK's streaming sockets (@deepgram/sdk 5, requiring `ws`), run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/deepgram.ts), against a fake Deepgram API.
 * Both must show the same: the SDK's subclass of the engine's WebSocket carrying an http.Agent of the app's own (one
 * connection each), `binaryType` 'arraybuffer', Flux speech-to-text (binary audio answered by TurnInfo events, a ping
 * frame with its payload, Configure, ForceEndTurn, CloseStream, the server's close without a status as 1005),
 * text-to-speech (binary audio as Blobs in order with the JSON after it, Close as 1000), and a refused key's 'close'
 * and 'error' (the engine's message) in the SDK's order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`@deepgram/sdk streaming on ${engine.name}`, () => {
    it('runs speech-to-text and text-to-speech sockets, a ping, closes and a refused key', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'deepgram', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        engineSocket: { isOurs: ours, binaryType: 'arraybuffer', readyState: 1 },
        stt: [
          'open',
          'Connected',
          'TurnInfo Update 3200 bytes heard',
          'TurnInfo Update 6400 bytes heard',
          'ConfigureSuccess',
          'TurnInfo EndOfTurn Hello there.',
          'close 1005',
        ],
        tts: ['open', 'blob 24000', 'blob 24000', 'Flushed', 'close 1000'],
        blobs: ['24000 bytes of 1', '24000 bytes of 2'],
        refused: ['close 1000', 'error Unexpected server response: 401'],
        sessions: [
          [
            '/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000',
            'ping keepalive',
            'Configure after 6400 bytes',
            'ForceEndTurn after 6400 bytes',
            'CloseStream after 6400 bytes',
            'close 1005',
          ],
          [
            '/v1/speak?model=aura-2-thalia-en&encoding=linear16&sample_rate=24000',
            'Speak Hello there. after 0 bytes',
            'Flush after 0 bytes',
            'Close after 0 bytes',
            'close 1000',
          ],
        ],
        agentConnections: 3,
      });
    });
  });
}
