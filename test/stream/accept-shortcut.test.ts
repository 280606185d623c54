/**
 * review36: accept() skips re-checks (keys in other cases, a second Host in rawHeaders) only for the head
 * its own reader parsed. A request object given to accept(req), even one shaped as the parser's (a null
 * prototype, rawHeaders), is still checked in full.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebSocketStream, createTestPair, type WebSocketError } from '../../src/index.js';
import { requestObject } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

function setup() {
  const [server, client] = createTestPair();
  return { ws: new WebSocketStream(server), peer: new RawPeer(client) };
}

/** requestObject()'s fields with a null prototype, names in another case, and rawHeaders, as a parsed request. */
function parsedLike(rawHost: string[]) {
  const req = requestObject();
  const headers = Object.setPrototypeOf({}, null) as Record<string, string>;
  for (const [k, v] of Object.entries(req.headers)) headers[k === 'upgrade' ? 'Upgrade' : k] = v;
  const rawHeaders = [
    ...rawHost,
    ...Object.entries(req.headers)
      .flat()
      .filter((_, i, a) => a[i - (i % 2)] !== 'host'),
  ];
  return { ...req, headers, rawHeaders };
}

describe('accept(req) with an object the caller made', () => {
  it('finds a field whose key is not lower-case (Upgrade)', async () => {
    const { ws, peer } = setup();
    await ws.accept(parsedLike(['Host', 'example.com']));
    assert.equal((await peer.responseHead()).status, 101);
  });

  it('refuses two Host fields in rawHeaders 400', async () => {
    const { ws, peer } = setup();
    await assert.rejects(
      ws.accept(parsedLike(['Host', 'example.com', 'host', 'evil.example'])),
      (e: WebSocketError) => e.code === 'ERR_WS_BAD_REQUEST' && /more than one Host/.test(e.message),
    );
    assert.equal((await peer.responseHead()).status, 400);
  });
});
