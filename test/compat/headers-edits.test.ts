/**
 * The server's 'headers' event: what a listener's edits of the 101's lines put on the wire, on ws and on
 * ws-stream/ws. Lines added, replaced, removed or reordered are sent as on ws; the status line, a line that is
 * no header field and the white space around a value are read as HTTP reads them here, and sent as written by
 * ws (doc/ws-compat.md, What differs: "'headers' edits").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { impls, listen, rawPeer } from './support.js';

/** The response head's lines, the accept value left out. */
async function answered(
  t: Parameters<typeof listen>[0],
  impl: (typeof impls)[number],
  edit: (lines: string[]) => void,
) {
  const { wss, port } = await listen(t, impl);
  wss.on('headers', edit);
  const peer = await rawPeer(t, port);
  const { status, head } = await peer.responseHead();
  assert.equal(status, 101);
  return head.split('\r\n').filter((l) => !l.startsWith('Sec-WebSocket-Accept:'));
}

describe("'headers' edits on the wire, ws-stream/ws beside ws", () => {
  for (const impl of impls) {
    it(`${impl.name}: lines added, replaced and reordered are sent as ws sends them`, async (t) => {
      const lines = await answered(t, impl, (h) => {
        h.splice(1, 0, 'Server: mine');
        h.push('Set-Cookie: a=1', 'Set-Cookie: b=2');
        h[h.indexOf('Connection: Upgrade')] = 'Connection: upgrade';
      });
      assert.deepEqual(lines, [
        'HTTP/1.1 101 Switching Protocols',
        'Server: mine',
        'Upgrade: websocket',
        'Connection: upgrade',
        'Set-Cookie: a=1',
        'Set-Cookie: b=2',
      ]);
    });

    it(`${impl.name}: the status line, a line without a colon, a value's white space`, async (t) => {
      const lines = await answered(t, impl, (h) => {
        h[0] = 'HTTP/1.1 101 Web Socket Protocol Handshake';
        h.push('no colon here', 'X-Padded:   v  ');
      });
      // ws writes the lines as they are; the core sends the 101's own status line and header fields
      // (a line that is no field is dropped, optional white space trimmed: RFC 9112 §5).
      assert.deepEqual(
        lines,
        impl.name === 'ws'
          ? [
              'HTTP/1.1 101 Web Socket Protocol Handshake',
              'Upgrade: websocket',
              'Connection: Upgrade',
              'no colon here',
              'X-Padded:   v  ',
            ]
          : ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', 'X-Padded: v'],
      );
    });
  }
});
