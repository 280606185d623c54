/**
 * An idle WebSocket of `ws-stream serve` holds nothing of the handshake deadline: the deadline's
 * 'close' listener (a closure and node's once-wrapper, ~320 bytes of heap per connection at 10,000
 * idle connections) leaves the socket when the upgrade disarms it. An upgraded socket then carries
 * the same listeners whether the deadline is on (the default, 30 s) or off (0).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { it } from 'node:test';
import WebSocket from 'ws';
import { serve } from '../../src/cli/serve.js';

/** The listener counts per event of the server side of one upgraded, idle connection. */
async function upgradedListeners(handshakeTimeout: number): Promise<Record<string, number>> {
  let opened!: () => void;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const running = await serve({ host: '127.0.0.1', port: 0, quiet: true, handshakeTimeout, onOpen: () => opened() });
  let socket: net.Socket | undefined;
  running.server.on('upgrade', (_req, s: net.Socket) => {
    socket = s;
  });
  const client = new WebSocket(running.url.replace(/^http/, 'ws'));
  await Promise.all([once(client, 'open'), open]);
  const counts: Record<string, number> = {};
  for (const name of socket!.eventNames()) counts[String(name)] = socket!.listenerCount(name);
  client.close();
  await once(client, 'close');
  await running.shutdown();
  return counts;
}

it('serve: an upgraded socket keeps no listener of the handshake deadline', async () => {
  const withDeadline = await upgradedListeners(30_000);
  const without = await upgradedListeners(0);
  assert.deepEqual(withDeadline, without);
});
