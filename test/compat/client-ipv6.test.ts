/**
 * A client given `ws://[::1]:PORT/` connects to the IPv6 loopback: the URL's brackets are not part of the host it
 * connects to (node's `URL` keeps them in `hostname`), and the Host header is `[::1]:PORT`, as in ws. Run on the real
 * `ws` and on ws-stream/ws where this machine has IPv6 on loopback (a container may have none).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ipv6LoopbackMissing } from '../support/ipv6.js';
import { impls, ws } from './support.js';

const missing = await ipv6LoopbackMissing();

if (missing === null) {
  describe('a client of ws://[::1]:PORT/', () => {
    for (const impl of impls) {
      it(`${impl.name}: connects over IPv6, with Host [::1]:PORT`, async (t) => {
        const wss = new ws.WebSocketServer({ host: '::1', port: 0 });
        t.after(() => wss.close());
        await once(wss, 'listening');
        const { port } = wss.address();
        const seen = new Promise<string[]>((resolve) =>
          wss.on(
            'connection',
            (s: { close(): void }, req: { headers: { host?: string }; socket: { remoteAddress?: string } }) => {
              resolve([`${req.headers.host}`, `${req.socket.remoteAddress}`]);
              s.close();
            },
          ),
        );
        const client = new impl.WebSocket(`ws://[::1]:${port}/`);
        const closed = once(client, 'close');
        assert.deepEqual(await seen, [`[::1]:${port}`, '::1']);
        await closed;
      });
    }
  });
}
