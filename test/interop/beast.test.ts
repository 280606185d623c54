/**
 * Interoperability with Boost.Beast 1.74 (Debian 12's libboost-dev; header-only Beast and Asio), the C++ library
 * ws-stream's design is modelled on: peers/beast-peer.cpp, built here with g++, as client of ws-stream's servers
 * (`accept()` in process and `ws-stream serve`) and as echo server for `connect()` (native-peers.ts has the checks).
 */
import { buildBeast, nativePeerSuite } from './native-peers.js';

nativePeerSuite({
  name: 'Boost.Beast',
  build: buildBeast,
  clientOffer: 'permessage-deflate; server_max_window_bits=15; client_max_window_bits=15',
  serverResponse: 'permessage-deflate',
  // Beast answers a close with its code and no reason.
  closeAnswer: (code) => ({ code, reason: '' }),
  // Beast 1.74's check of a received code (is_valid_close_code, detail/frame.hpp) stops at 1013.
  refusesCodes: [1014],
  sendsClose: (code) => code,
  dropsOverLimit: false,
  refusesUnknownProtocol: false,
  frameLimit: () => 4096,
  limitsInflated: true,
  pings: true,
  sendsInvalidText: true,
  compressesEmpty: true,
  pieces: true,
  selects: (offered) => ['chat', 'superchat'].find((p) => offered.includes(p)) ?? '',
  answers: [
    [true, 'permessage-deflate'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
    [{ serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9'],
    [{ clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    ],
    // Beast answers server_max_window_bits=9 to an offer of 8: its zlib cannot deflate with a 256-octet window
    // (option.hpp: "Due to a bug in ZLib, this value must be greater than 8"). RFC 7692 §7.1.2.1 lets a server answer
    // the offered value or a smaller one only; ws-stream refuses the 101 (ERR_WS_BAD_EXTENSION), as README's Design says.
    [{ serverMaxWindowBits: 8 }, null],
  ],
  // Beast's offer names both window sizes (15): each is answered, lowered where ws-stream's server is set lower.
  responses: [
    [true, 'permessage-deflate; server_max_window_bits=15; client_max_window_bits=15'],
    [
      { serverNoContextTakeover: true },
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15',
    ],
    [
      { clientNoContextTakeover: true },
      'permessage-deflate; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=15',
    ],
    // Beast's inflater takes ws-stream's 8-bit window (Node's zlib deflates it as 9 bits; ws-stream keeps to 8).
    [{ serverMaxWindowBits: 8 }, 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=15'],
    [{ serverMaxWindowBits: 12 }, 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=15'],
    [{ clientMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=15; client_max_window_bits=9'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    ],
  ],
});
