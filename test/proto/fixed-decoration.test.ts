/**
 * A decorator recorded with the fields it adds to every 101 (`serve`'s, so that its 101 is one string
 * and not decorated per handshake) gives the same bytes as the same decorator called per handshake,
 * and a field set that would not come out the same (or that is refused) is not recorded.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ResponseHeaders } from '../../src/options.js';
import { acceptResponse, computeAccept, recordFixedDecoration } from '../../src/proto/handshake-server.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** What acceptResponse answers (or the message of what it throws). */
function answer(protocol: string, extensions: string, decorator: (h: ResponseHeaders) => void): string {
  try {
    return acceptResponse(KEY, protocol, extensions, decorator).toString('latin1');
  } catch (e) {
    return `threw: ${(e as Error).message}`;
  }
}

it('a recorded decorator gives the bytes of the same decorator called per handshake, for every field set', () => {
  const fieldSets: ResponseHeaders[] = [
    { Server: 'ws-stream' },
    { Server: 'ws-stream', 'X-Two': ['a', 'b'], 'x-lower': 'c' },
    // Fields the 101 sets itself: changed in place by the decorator (not recorded).
    { Server: 'ws-stream', 'Sec-WebSocket-Protocol': 'other' },
    { Connection: 'Upgrade, keep-alive' },
    // An integer name goes first in the header object; `__proto__` set by assignment is no field.
    { Server: 'ws-stream', '123': 'n' },
    JSON.parse('{"Server":"ws-stream","__proto__":"x"}') as ResponseHeaders,
    // Refused by the serialiser: the same refusal either way.
    { 'Bad Name': 'x' },
    { 'X-Crlf': 'a\r\nInjected: yes' },
  ];
  let compared = 0;
  for (const fields of fieldSets) {
    const recorded = (h: ResponseHeaders): void => void Object.assign(h, fields);
    const called = (h: ResponseHeaders): void => void Object.assign(h, fields);
    recordFixedDecoration(recorded, fields);
    for (const protocol of ['', 'chat']) {
      for (const extensions of ['', 'permessage-deflate; server_no_context_takeover']) {
        assert.equal(
          answer(protocol, extensions, recorded),
          answer(protocol, extensions, called),
          `${JSON.stringify(fields)} ${protocol} ${extensions}`,
        );
        compared++;
      }
    }
  }
  assert.equal(compared, fieldSets.length * 4);
  // The usual case, spelled out: the fields after the ones the 101 sets itself, in their order.
  const decorator = (h: ResponseHeaders): void => void Object.assign(h, { Server: 'ws-stream', 'X-Two': ['a', 'b'] });
  recordFixedDecoration(decorator, { Server: 'ws-stream', 'X-Two': ['a', 'b'] });
  assert.equal(
    answer('chat', '', decorator),
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(KEY)}\r\n` +
      'Sec-WebSocket-Protocol: chat\r\nServer: ws-stream\r\nX-Two: a\r\nX-Two: b\r\n\r\n',
  );
});
