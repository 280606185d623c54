/**
 * Interoperability with gorilla/websocket 1.5.0 (Debian 12's golang-github-gorilla-websocket-dev, built with its Go
 * 1.19 offline): peers/gorilla-peer.go as client of ws-stream's servers (`accept()` in process and `ws-stream
 * serve`) and as echo server for `connect()` (native-peers.ts has the checks).
 */
import { buildGorilla, nativePeerSuite } from './native-peers.js';

/** What gorilla offers as a client and answers as a server, always. */
const GORILLA_DEFLATE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

nativePeerSuite({
  name: 'gorilla/websocket',
  build: buildGorilla,
  clientOffer: GORILLA_DEFLATE,
  serverResponse: GORILLA_DEFLATE,
  // gorilla's default close handler answers with the code and no reason.
  closeAnswer: (code) => ({ code, reason: '' }),
  // gorilla's validReceivedCloseCodes (conn.go) has 1012 and 1013 but not 1014.
  refusesCodes: [1014],
  sendsClose: (code) => (code === 1005 ? 'none' : code),
  dropsOverLimit: false,
  refusesUnknownProtocol: false,
  frameLimit: (role, compressed) => (role === 'server' && !compressed ? Infinity : 4096),
  limitsInflated: false,
  pings: true,
  sendsInvalidText: true,
  compressesEmpty: true,
  pieces: true,
  selects: (offered) => ['chat', 'superchat'].find((p) => offered.includes(p)) ?? '',
  // gorilla's server takes any permessage-deflate offer and answers no context takeover both ways, never a window
  // size (server.go), compressing with Go's 32 KiB window.
  answers: [
    [true, GORILLA_DEFLATE],
    [{ serverNoContextTakeover: true }, GORILLA_DEFLATE],
    [{ clientNoContextTakeover: true }, GORILLA_DEFLATE],
    // The client's own limit: ws-stream keeps its window to 8 bits whatever the answer.
    [{ clientMaxWindowBits: 8 }, GORILLA_DEFLATE],
    // Asked for a server window of 9 bits, gorilla answers none (so 15 bits, RFC 7692 §7.1.2.1): ws-stream refuses the
    // 101 (ERR_WS_BAD_EXTENSION) rather than take a window it asked not to get, as README's Design says; ws opens.
    [{ serverMaxWindowBits: 9 }, null],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      null,
    ],
  ],
  // gorilla's client offers no context takeover both ways and no window size: ws-stream's server agrees to both
  // (whatever its own setting) and may lower its own window, but cannot limit the client's, which the offer did not let
  // it do (RFC 7692 §7.1.2.2): a server set to clientMaxWindowBits declines.
  responses: [
    [true, GORILLA_DEFLATE],
    [{ serverNoContextTakeover: true }, GORILLA_DEFLATE],
    [{ clientNoContextTakeover: true }, GORILLA_DEFLATE],
    [{ serverMaxWindowBits: 8 }, `${GORILLA_DEFLATE}; server_max_window_bits=8`],
    [{ serverMaxWindowBits: 12 }, `${GORILLA_DEFLATE}; server_max_window_bits=12`],
    [{ clientMaxWindowBits: 9 }, ''],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      '',
    ],
  ],
});
