/**
 * A client's maxPayload counts a compressed message's octets on the wire too, as ws's does: 200 random bytes (which
 * permessage-deflate makes longer) sent to a client whose maxPayload is 200 fail (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH;
 * the client sends 1009 and reports 1006), although the message itself would fit. (The server's side is set-socket's and parity's; this is the client's opening path.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { impls, listen, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

for (const impl of impls) {
  describe(`${impl.name}: a client's maxPayload and a compressed message`, () => {
    it('200 random bytes, compressed longer than 200, to maxPayload 200: the error, then close 1006', async (t) => {
      const { wss, port } = await listen(t, ws, { perMessageDeflate: { threshold: 0 } });
      wss.on('connection', (sws: Ws) => sws.send(randomBytes(200)));
      const client: Ws = new impl.WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 200, perMessageDeflate: true });
      const events: string[] = [];
      client.on('message', (d: Buffer) => events.push(`message:${d.length}`));
      client.on('error', (err: Error & { code?: string }) => events.push(`error:${err.code}`));
      // A message taken ends the wait too (the connection would stay open).
      const code = await new Promise<number | string>((resolve) => {
        client.on('close', resolve);
        client.on('message', () => resolve('open'));
      });
      assert.deepEqual([...events, code], ['error:WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1006]);
    });
  });
}
