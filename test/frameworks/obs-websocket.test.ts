/**
 * obs-websocket-js 5 (OBS Studio's WebSocket API client; its socket comes from isomorphic-ws, i.e. `require('ws')`),
 * run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each
 * (apps/obs.ts), against a local server on the real ws speaking the protocol, in both of the package's encodings (JSON
 * in text frames, msgpack in binary frames). Both engines must show the same: a wrong password refused with OBS's
 * close 4009 and its reason, the identify handshake, requests answered (a failure with its status code, 300 kB), an
 * event before its request's response, a batch, reidentify, the server's 1001 as ConnectionClosed, a plain
 * disconnect (1005 on the server), and the engine's own messages for a refused port, a server that picks no
 * subprotocol, a 401 to the upgrade, and an upgrade dropped unanswered.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

/** What one encoding's run shows, with `setScene` (the empty response) as that encoding carries it. */
function flow(setScene: Record<string, unknown>) {
  const ok = { result: true, code: 100 };
  return {
    wrongPassword: { code: 4009, message: 'Authentication failed.' },
    connected: { rpcVersion: 1, obsWebSocketVersion: '5.5.0', negotiatedRpcVersion: 1 },
    identified: true,
    version: { obsVersion: '31.0.0', availableRequests: ['GetVersion'] },
    ...setScene,
    sceneChanged: { sceneName: 'Live' },
    invalid: { code: 204, message: 'Your request type is not valid.' },
    screenshot: 300_022,
    batch: [
      { requestType: 'GetVersion', requestStatus: ok },
      { requestType: 'GetStats', requestStatus: ok },
    ],
    reidentified: { negotiatedRpcVersion: 1 },
    shutdown: { code: 1001, message: 'OBS is shutting down' },
    identifiedAfter: false,
  };
}

/** The server's record of one encoding's three connections. */
function serverSaw(protocol: string, frames: string) {
  const op = (s: string) => `obswebsocket.${protocol} ${frames} op ${s}`;
  const closed = (s: string) => `obswebsocket.${protocol} closed ${s}`;
  return [
    [op('1'), closed('4009 Authentication failed.')],
    [
      op('1'),
      op('6 GetVersion'),
      op('6 SetCurrentProgramScene'),
      op('6 Nope'),
      op('6 GetSourceScreenshot'),
      op('8'),
      op('3'),
      op('6 ShutDown'),
      closed('1001 OBS is shutting down'),
    ],
    [op('1'), closed('1005 ')],
  ];
}

for (const engine of aliasEngines) {
  describe(`obs-websocket-js on ${engine.name}`, () => {
    it('identifies, calls, batches, gets events and closes, in JSON and msgpack; reports failures to connect', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'obs', engine);
      assert.deepEqual(result, {
        aliased: engine.name === 'ws-stream/ws',
        // JSON drops the undefined responseData; msgpack carries it as nil.
        json: flow({}),
        msgpack: flow({ setScene: null }),
        refused: { code: -1, message: 'connect ECONNREFUSED 127.0.0.1:PORT' },
        noProtocol: { code: -1, message: 'Server sent no subprotocol' },
        unauthorized: { code: -1, message: 'Unexpected server response: 401' },
        hungUp: { code: -1, message: 'socket hang up' },
        server: [...serverSaw('json', 'text'), ...serverSaw('msgpack', 'binary')],
      });
    });
  });
}
