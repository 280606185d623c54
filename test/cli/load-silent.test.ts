/**
 * `ws-stream serve` (its handshake deadline on, 30 s by default; an hour here): a connection that closes before
 * it asks for anything must not stay referenced until its deadline passes. A client that connects
 * and leaves at a high rate would otherwise make the server hold every such socket (~1.8 KB of heap
 * each; twice that over TLS) for 30 s after it closed; so does one that asked for the page and left.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import tls from 'node:tls';
import { eventually, startProbed } from './load-support.js';

/** One connection: nothing sent, or one request for the page (answered, then the client leaves). */
async function visit(port: number, tlsOn: boolean, page: boolean): Promise<void> {
  const sock = tlsOn
    ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    : net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, tlsOn ? 'secureConnect' : 'connect');
  const closed = once(sock, 'close');
  if (page) {
    sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await once(sock, 'data');
  }
  sock.end();
  sock.resume();
  await closed;
}

/**
 * The deadline, far beyond anything the test takes: a socket held until it passes is held when the
 * heap is measured, however slow a loaded machine makes the visits (with the default 30 s, visits
 * that took longer than that let the first ones' deadlines pass, and with them what they held).
 */
const DEADLINE = ['--handshake-timeout', '3600'];

// `allowed`: heap growth per connection let pass. A socket held costs ~1.8 KB (over TLS, ~4.5 KB
// with its TLS socket); the measure itself moves by up to ~0.8 MB between runs (seen in a CI run).
for (const { name, args, page, count, allowed } of [
  { name: 'echo: connections that close before sending anything', args: [], page: false, count: 3000, allowed: 768 },
  { name: 'echo: connections that leave after a page request', args: [], page: true, count: 3000, allowed: 768 },
  {
    name: 'echo --tls: connections that close after the TLS handshake, sending nothing',
    args: ['--tls'],
    page: false,
    count: 1000,
    allowed: 2048, // a held TLS socket shows as 4.5 MB; 1 MB of margin was close to the ~0.8 MB noise
  },
]) {
  it(`${name} are not held until their handshake deadline`, async () => {
    // (The deadline is 30 s by default: a connection already gone must not keep its socket until then.)
    const server = await startProbed([...DEADLINE, ...args]);
    try {
      const fds = server.fds();
      const visits = async (n: number): Promise<void> => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            while (next++ < n) await visit(server.port, args.includes('--tls'), page);
          }),
        );
        assert.ok(await eventually(() => server.fds() <= fds), `descriptors ${server.fds()}, before ${fds}`);
      };
      await visits(200); // code and caches warmed up, outside the measure
      const before = await server.heap();
      await visits(count);
      const after = await server.heap();
      assert.ok(
        after - before < count * allowed,
        `heap grew by ${after - before} bytes (${Math.round((after - before) / count)} per connection already closed)`,
      );
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }
  });
}
