/**
 * Interoperability with libsoup 3.2 (Debian 12's libsoup-3.0-dev), GNOME's HTTP library, whose WebSocket client and
 * server GNOME's applications use: peers/soup-peer.c, built here with gcc and pkg-config, as client of ws-stream's
 * servers (`accept()` in process and `ws-stream serve`) and as echo server for `connect()` (native-peers.ts has the
 * checks). Its API sends no ping and no message in pieces, and tells of no ping received; those checks are left out.
 */
import { buildSoup, nativePeerSuite } from './native-peers.js';

nativePeerSuite({
  name: 'libsoup',
  build: buildSoup,
  clientOffer: 'permessage-deflate; client_max_window_bits',
  serverResponse: 'permessage-deflate; client_max_window_bits=15',
  // libsoup answers a close with its code and reason.
  closeAnswer: (code, reason) => ({ code, reason }),
  // libsoup 3.2.3 takes 1000–1003, 1007–1011 and 3000–4999, not IANA's 1012–1014: it fails such a close frame
  // ("invalid WebSocket response"), and when told to close with one of them, or any code outside those, it sends 1002
  // without the reason. 1005 goes as a frame without a code. Its close() refuses 1006 and 1015, and 1010 from a server
  // (RFC 6455 §7.4.1: a client's code), with a g_return_if_fail (a CRITICAL on stderr): nothing is sent.
  refusesCodes: [1012, 1013, 1014],
  sendsClose: (code) =>
    code === 1006 || code === 1015 || code === 1010
      ? null
      : code === 1005
        ? 'none'
        : (code >= 1000 && code <= 1011 && code !== 1004) || (code >= 3000 && code <= 4999)
          ? code
          : 1002,
  dropsOverLimit: true,
  refusesUnknownProtocol: true,
  frameLimit: () => Infinity,
  limitsInflated: false,
  pings: false,
  sendsInvalidText: false,
  compressesEmpty: false,
  pieces: false,
  selects: (offered) => ['chat', 'superchat'].find((p) => offered.includes(p)) ?? '',
  // libsoup's server gives the client's window size a value (15 where the offer named none).
  answers: [
    [true, 'permessage-deflate; client_max_window_bits=15'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_max_window_bits=15'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits=15'],
    [{ serverMaxWindowBits: 8 }, 'permessage-deflate; server_max_window_bits=8; client_max_window_bits=15'],
    [{ clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    ],
  ],
  // libsoup's client offers client_max_window_bits without a value: ws-stream names it only when it limits it.
  responses: [
    [true, 'permessage-deflate'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
    [{ serverMaxWindowBits: 8 }, 'permessage-deflate; server_max_window_bits=8'],
    [{ serverMaxWindowBits: 12 }, 'permessage-deflate; server_max_window_bits=12'],
    [{ clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    ],
  ],
});
