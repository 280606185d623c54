/**
 * The Live API of Google's Gen AI SDK (@google/genai 2, whose Node build imports `ws`), run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/genai-live.ts), against a fake
 * BidiGenerateContent endpoint on the real ws that answers, as the service does, with JSON in binary frames. Both must
 * show the same: the request path as the SDK builds it (a double slash after a base URL's own, kept), the setup,
 * a streamed model turn reassembled, realtime audio, a tool call and its response, goAway, the server's 1011 and its
 * reason at `onclose`, `session.close()` (1005 at the server), and a refused key reported as `onerror` with the
 * engine's message, then `onclose` 1006.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const path = '//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent google-genai-sdk';
const setup = (extra: object) =>
  `setup ${JSON.stringify({ model: 'models/gemini-live-2.5-flash', generationConfig: { responseModalities: ['TEXT'] }, ...extra })}`;

for (const engine of aliasEngines) {
  describe(`@google/genai live on ${engine.name}`, () => {
    it('connects, streams a turn, sends audio, answers a tool call, sees the closes and a refusal', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'genai-live', engine);
      assert.deepEqual(result, {
        aliased: engine.name === 'ws-stream/ws',
        turn: { text: 'Hello there', usage: { totalTokenCount: 12 } },
        transcription: { text: '200000 bytes of audio/pcm;rate=16000' },
        toolCall: { functionCalls: [{ id: 'call-1', name: 'get_weather', args: { city: 'Paris' } }] },
        goAway: { timeLeft: '10s' },
        serverClose: {
          client: '1011 Internal error',
          server: '1011 Internal error',
          log: ['open', 'close 1011 Internal error true'],
        },
        appClose: { client: '1005 ', server: '1005 ', log: ['open', 'close 1005  true'] },
        refused: ['error Unexpected server response: 403', 'close 1006  false'],
        server: [
          [
            path,
            'text setup',
            setup({ systemInstruction: { parts: [{ text: 'Be brief.' }], role: 'user' } }),
            'text clientContent',
            'text realtimeInput',
            'text toolResponse',
            `toolResponse ${JSON.stringify({ functionResponses: [{ id: 'call-1', name: 'get_weather', response: { forecast: 'sunny' } }] })}`,
          ],
          [path, 'text setup', setup({})],
        ],
      });
    });
  });
}
