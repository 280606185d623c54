/**
 * permessage-deflate negotiation (ws's permessage-deflate.test.js and websocket-server.test.js
 * cases), on the real `ws` and on ws-stream/ws: a raw client offers `Sec-WebSocket-Extensions`
 * to a server with given `perMessageDeflate` options; the status and the agreed parameters must be
 * the same (their order in the header is not: doc/ws-compat.md).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { KEY } from '../support/frames.js';
import { type Impl, compat, listen, rawPeer, ws } from './support.js';

/** The status and, on a 101, the agreed extension with its parameters sorted. */
async function negotiate(t: TestContext, impl: Impl, server: unknown, offer: string): Promise<string> {
  const { port } = await listen(t, impl, { perMessageDeflate: server });
  const peer = await rawPeer(
    t,
    port,
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`,
  );
  const { status, head } = await peer.responseHead();
  const line = /^sec-websocket-extensions: (.*)$/im.exec(head)?.[1];
  if (line === undefined) return `${status}`;
  const [name, ...params] = line.split(';').map((s) => s.trim());
  return `${status} ${[name, ...params.sort()].join('; ')}`;
}

/** Name, the server's perMessageDeflate, the offer, what ws answers. */
const cases: [string, unknown, string, string][] = [
  ['a bare offer', true, 'permessage-deflate', '101 permessage-deflate'],
  [
    'client_max_window_bits without a value',
    true,
    'permessage-deflate; client_max_window_bits',
    '101 permessage-deflate',
  ],
  [
    'server_max_window_bits=10',
    true,
    'permessage-deflate; server_max_window_bits=10',
    '101 permessage-deflate; server_max_window_bits=10',
  ],
  [
    'both no_context_takeover',
    true,
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    '101 permessage-deflate; client_no_context_takeover; server_no_context_takeover',
  ],
  [
    'serverNoContextTakeover configured, not offered',
    { serverNoContextTakeover: true },
    'permessage-deflate',
    '101 permessage-deflate; server_no_context_takeover',
  ],
  [
    'clientNoContextTakeover configured, not offered',
    { clientNoContextTakeover: true },
    'permessage-deflate',
    '101 permessage-deflate; client_no_context_takeover',
  ],
  [
    'serverMaxWindowBits 10 configured, the client offers 12',
    { serverMaxWindowBits: 10 },
    'permessage-deflate; server_max_window_bits=12',
    '101 permessage-deflate; server_max_window_bits=10',
  ],
  [
    'clientMaxWindowBits 10 configured, client_max_window_bits offered',
    { clientMaxWindowBits: 10 },
    'permessage-deflate; client_max_window_bits',
    '101 permessage-deflate; client_max_window_bits=10',
  ],
  [
    'clientMaxWindowBits 10 configured, not offered by the client: refused',
    { clientMaxWindowBits: 10 },
    'permessage-deflate',
    '400',
  ],
  [
    'two offers, the first acceptable',
    true,
    'permessage-deflate; server_max_window_bits=9, permessage-deflate',
    '101 permessage-deflate; server_max_window_bits=9',
  ],
  // Taken for its truth, as ws takes it.
  [
    'serverNoContextTakeover 1, not offered',
    { serverNoContextTakeover: 1 },
    'permessage-deflate',
    '101 permessage-deflate; server_no_context_takeover',
  ],
  // zlib's -1, its default level: a server that has it negotiates.
  [
    "zlibDeflateOptions.level -1 (zlib's default)",
    { zlibDeflateOptions: { level: -1 } },
    'permessage-deflate',
    '101 permessage-deflate',
  ],
  ['an unknown extension only', true, 'x-unknown', '101'],
  ['an unknown parameter', true, 'permessage-deflate; foo=1', '400'],
  ['server_max_window_bits=16', true, 'permessage-deflate; server_max_window_bits=16', '400'],
  ['client_max_window_bits=7', true, 'permessage-deflate; client_max_window_bits=7', '400'],
  ['a duplicated parameter', true, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', '400'],
  ['a value on server_no_context_takeover', true, 'permessage-deflate; server_no_context_takeover=1', '400'],
  ['a header that does not parse', true, 'permessage-deflate;;', '400'],
  ['perMessageDeflate off: the offer is ignored', false, 'permessage-deflate', '101'],
  // An option set to false refuses what an offer asks for: that offer is declined, the next one taken.
  [
    'serverNoContextTakeover false: an offer asking for it declined, the next one taken',
    { serverNoContextTakeover: false },
    'permessage-deflate; server_no_context_takeover; server_max_window_bits=10, permessage-deflate; server_max_window_bits=11',
    '101 permessage-deflate; server_max_window_bits=11',
  ],
  [
    'serverNoContextTakeover false: the only offer asks for it',
    { serverNoContextTakeover: false },
    'permessage-deflate; server_no_context_takeover',
    '400',
  ],
  [
    'serverMaxWindowBits false: an offer limiting it declined, the next one taken',
    { serverMaxWindowBits: false },
    'permessage-deflate; server_max_window_bits=10, x-unknown, permessage-deflate; client_no_context_takeover',
    '101 permessage-deflate; client_no_context_takeover',
  ],
  [
    "clientMaxWindowBits false: the client's offered window is not answered",
    { clientMaxWindowBits: false },
    'permessage-deflate; client_max_window_bits=10; server_no_context_takeover',
    '101 permessage-deflate; server_no_context_takeover',
  ],
];

describe('permessage-deflate negotiation, ws-stream/ws against ws', () => {
  for (const [name, server, offer, expected] of cases) {
    it(`${name}: ${expected}`, async (t) => {
      assert.equal(await negotiate(t, ws, server, offer), expected, `ws, offer "${offer}"`);
      assert.equal(await negotiate(t, compat, server, offer), expected, `ws-stream/ws, offer "${offer}"`);
    });
  }
});
