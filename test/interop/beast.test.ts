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
  closeAnswer: (code) => ({ code, reason: '' }),
  frameLimit: () => 4096,
  limitsInflated: true,
  selects: (offered) => ['chat', 'superchat'].find((p) => offered.includes(p)) ?? '',
});
