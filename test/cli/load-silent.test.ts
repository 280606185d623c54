/**
 * `ws-stream serve` (its handshake deadline on, 30 s by default): a connection that closes before
 * it asks for anything must not stay referenced until its deadline passes. A client that connects
 * and leaves at a high rate would otherwise make the server hold every such socket (~1.8 KB of heap
 * each) for 30 s after it closed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import { eventually, startProbed } from './load-support.js';

it('echo: 3,000 connections that close before sending anything are not held until their handshake deadline', async () => {
  // (The deadline is 30 s by default: a connection already gone must not keep its socket until then.)
  const server = await startProbed([]);
  try {
    const fds = server.fds();
    const silent = async (count: number): Promise<void> => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next++ < count) {
            const sock = net.connect(server.port, '127.0.0.1');
            sock.on('error', () => {});
            await once(sock, 'connect');
            const closed = once(sock, 'close');
            sock.end();
            sock.resume();
            await closed;
          }
        }),
      );
      assert.ok(await eventually(() => server.fds() <= fds), `descriptors ${server.fds()}, before ${fds}`);
    };
    await silent(300); // code and feedback warmed up, outside the measure
    const before = await server.heap();
    await silent(3000);
    const after = await server.heap();
    assert.ok(
      after - before < 3000 * 256,
      `heap grew by ${after - before} bytes (${Math.round((after - before) / 3000)} per connection already closed)`,
    );
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
