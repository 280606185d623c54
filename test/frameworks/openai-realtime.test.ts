/**
 * The OpenAI SDK's Realtime client over ws (openai 6, `OpenAIRealtimeWS`, which imports `ws` and always dials
 * `wss:`), run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each
 * (apps/openai-realtime.ts), against a fake Realtime API on 127.0.0.1 over TLS (a self-signed certificate passed as
 * `ca`): nothing leaves the machine. Both must show the same: the URL built from `baseURL`, session events, a streamed
 * response reassembled (text deltas, a large audio delta) with every event in order, 256 kB of input audio, a server
 * error event and a non-JSON frame reported to the 'error' listener, `close()` as 1000 OK on both ends, and the
 * engine's message for a key refused with 401, and the TLS error (with its code) for a client not given the `ca`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`openai realtime (OpenAIRealtimeWS) on ${engine.name}`, () => {
    it('runs a session over wss: events, a streamed response, audio, errors, close, a refused key', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'openai-realtime', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        socketIsOurs: ours,
        url: 'wss://127.0.0.1:PORT/v1/realtime?model=gpt-realtime',
        created: { event_id: 'evt_1', type: 'session.created', session: { id: 'sess_1', model: 'gpt-realtime' } },
        updated: {
          event_id: 'evt_2',
          type: 'session.updated',
          session: { id: 'sess_1', type: 'realtime', instructions: 'Be brief.' },
        },
        done: { event_id: 'evt_9', type: 'response.done', response: { id: 'resp_1', status: 'completed' } },
        response: { text: 'Hello 👋', audio: 72_000 },
        committed: { event_id: 'evt_10', type: 'input_audio_buffer.committed', item_id: 'item_audio', bytes: 262_144 },
        serverError: 'Unknown event code=unknown_event param=null type=invalid_request_error event_id=c1',
        parseError: 'could not parse websocket event',
        closed: { client: '1000 OK', server: '1000 OK' },
        types: [
          'session.created',
          'session.updated',
          'response.created',
          'response.output_text.delta',
          'response.output_text.delta',
          'response.output_text.delta',
          'response.output_audio.delta',
          'response.output_text.done',
          'response.done',
          'input_audio_buffer.committed',
          'error',
        ],
        refused: 'Unexpected server response: 401',
        untrusted: ['self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
        server: [
          'connect /v1/realtime model=gpt-realtime',
          'text session.update',
          'text conversation.item.create',
          'text response.create',
          'text input_audio_buffer.append 349528',
          'text session.bogus',
          'text garble',
        ],
      });
    });
  });
}
