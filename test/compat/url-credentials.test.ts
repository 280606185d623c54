/**
 * Credentials in the URL become the Authorization header as ws makes it: percent-decoded by
 * querystring's unescape, which keeps a malformed escape as written. ws-stream/ws used
 * decodeURIComponent and threw a URIError from the constructor for `ws://u:%zz@host/`. Run on the
 * real `ws` and on ws-stream/ws alike.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

const CASES: [string, string][] = [
  ['u:p', 'u:p'],
  ['us%20er:pa%3Ass', 'us er:pa:ss'],
  ['u:%zz', 'u:%zz'],
  ['%E0%A4%A:100%', '\uFFFD%A:100%'],
  ['%C3%A9:%F0%9F%98%80', 'é:😀'],
];

for (const impl of impls) {
  describe(`${impl.name}: credentials in the URL`, () => {
    it('become the Authorization header, a malformed escape kept as written', async (t) => {
      const { wss, port } = await listen(t, impl);
      const seen: string[] = [];
      wss.on('connection', (s: { close(): void }, req: { headers: Record<string, string> }) => {
        seen.push(Buffer.from(req.headers.authorization!.replace(/^Basic /, ''), 'base64').toString());
        s.close();
      });
      for (const [userinfo] of CASES) {
        const client = new impl.WebSocket(`ws://${userinfo}@127.0.0.1:${port}/`);
        await once(client as never, 'close');
      }
      assert.deepEqual(
        seen,
        CASES.map(([, auth]) => auth),
      );
    });
  });
}
