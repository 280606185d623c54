/**
 * Interoperability with gorilla/websocket 1.5.0 (Debian 12's golang-github-gorilla-websocket-dev, built with its Go
 * 1.19 offline): peers/gorilla-peer.go as client of ws-stream's servers (`accept()` in process and `ws-stream
 * serve`) and as echo server for `connect()` (native-peers.ts has the checks).
 */
import { buildGorilla, nativePeerSuite } from './native-peers.js';

nativePeerSuite({
  name: 'gorilla/websocket',
  build: buildGorilla,
  clientOffer: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  serverResponse: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  closeAnswer: (code) => ({ code, reason: '' }),
  frameLimit: (role, compressed) => (role === 'server' && !compressed ? Infinity : 4096),
  limitsInflated: false,
  selects: (offered) => ['chat', 'superchat'].find((p) => offered.includes(p)) ?? '',
});
