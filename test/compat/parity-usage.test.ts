/**
 * Programs written the way ws's users write them (its README's examples), run on the real `ws` and
 * on ws-stream/ws with one expectation each.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compat, impls } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

for (const impl of impls) {
  describe(`${impl.name}: WebSocketServer.close(cb) made with \`port\``, () => {
    it("called once the client's socket closed: that WebSocket's 'close' comes first, then the server's", async (t) => {
      const wss: Any = new impl.WebSocketServer({ host: '127.0.0.1', port: 0 });
      t.after(() => wss.close());
      await once(wss, 'listening');
      const log: string[] = [];
      wss.on('connection', (ws: Any) => ws.on('close', (code: number) => log.push(`server-side close ${code}`)));
      const client = new impl.WebSocket(`ws://127.0.0.1:${wss.address().port}`);
      t.after(() => client.terminate());
      const [[serverSide]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      // The server's socket is gone (ws emits the WebSocket's 'close' a tick later): close the server now.
      const closed = new Promise<void>((resolve) => serverSide._socket.once('close', () => wss.close(() => resolve())));
      client.close(1000);
      await closed;
      log.push(`server closed, clients ${wss.clients.size}`);
      assert.deepEqual(log, ['server-side close 1000', 'server closed, clients 0']);
    });
  });
}

it("ws-stream/ws: close(cb) before the client closes: the server's 'close' waits for the client's", async (t) => {
  const wss: Any = new compat.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const log: string[] = [];
  wss.on('connection', (ws: Any) => ws.on('close', (code: number) => log.push(`server-side close ${code}`)));
  const client = new compat.WebSocket(`ws://127.0.0.1:${wss.address().port}`);
  t.after(() => client.terminate());
  await Promise.all([once(client, 'open'), once(wss, 'connection')]);
  const closed = new Promise<void>((resolve) => wss.close(() => resolve()));
  client.close(1000);
  await closed;
  log.push(`server closed, clients ${wss.clients.size}`);
  // ws emits its server's 'close' once the HTTP server's last socket closed, a tick before that
  // client's 'close' (clients 1 here): see doc/ws-compat.md.
  assert.deepEqual(log, ['server-side close 1000', 'server closed, clients 0']);
});
