/**
 * ws's client takes its scheme's default port for any falsy `defaultPort` (`opts.defaultPort || defaultPort`):
 * node:http leaves the port out of the Host header when it is the default one, so `ws://127.0.0.1/` (port 80)
 * with `defaultPort: 0` sends `Host: 127.0.0.1`. ws-stream/ws kept 0, '', false and NaN and sent
 * `Host: 127.0.0.1:80`, which a server or proxy comparing Host against its name sees. Run on both engines; the
 * connection goes to a real server through `createConnection`, as port 80 is not ours to listen on. A `wss:` URL
 * without a port goes to 443, so its Host header has no port either.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { impls, listen, ws } from './support.js';

for (const value of [0, '', false, Number.NaN]) {
  describe(`defaultPort: ${String(value)}`, () => {
    it('is the scheme\'s default port on both engines, as in ws: the Host header has no ":80"', async (t) => {
      const { wss, port } = await listen(t, ws);
      const hosts: string[] = [];
      for (const impl of impls) {
        const accepted = once(wss, 'connection');
        const client = new impl.WebSocket('ws://127.0.0.1/', {
          defaultPort: value,
          createConnection: () => net.connect(port, '127.0.0.1'),
        });
        const [serverSide, req] = await accepted;
        hosts.push(`${impl.name}: ${req.headers.host}`);
        serverSide.close(1000);
        await once(client, 'close');
      }
      assert.deepEqual(hosts, ['ws: 127.0.0.1', 'compat: 127.0.0.1']);
    });
  });
}

describe('wss:// without a port', () => {
  it('connects to port 443 on both engines, as in ws: createConnection gets 443, the Host header has no port', async (t) => {
    const { wss, port } = await listen(t, ws);
    const seen: string[] = [];
    for (const impl of impls) {
      const accepted = once(wss, 'connection');
      // The request goes in plain text to a local server: createConnection makes the connection, not tls.connect.
      const client = new impl.WebSocket('wss://127.0.0.1/', {
        createConnection: (options: { port: unknown }) => {
          seen.push(`${impl.name}: port ${String(options.port)}`);
          return net.connect(port, '127.0.0.1');
        },
      });
      const [serverSide, req] = await accepted;
      seen.push(`${impl.name}: Host ${req.headers.host}`);
      serverSide.close(1000);
      await once(client, 'close');
    }
    assert.deepEqual(seen, ['ws: port 443', 'ws: Host 127.0.0.1', 'compat: port 443', 'compat: Host 127.0.0.1']);
  });
});
