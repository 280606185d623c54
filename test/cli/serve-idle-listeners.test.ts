/**
 * An idle WebSocket of `ws-stream serve` holds nothing of the handshake deadline: the deadline's
 * 'close' listener (a closure and node's once-wrapper, ~320 bytes of heap per connection at 10,000
 * idle connections) leaves the socket when the upgrade disarms it. An upgraded socket then carries
 * the same listeners whether the deadline is on (the default, 30 s) or off (0); over TLS so does the
 * TCP socket under it, which the deadline watched from the connection on.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { it } from 'node:test';
import WebSocket from 'ws';
import { serve } from '../../src/cli/serve.js';
import { selfSigned } from '../support/tls-cert.js';

type Counts = Record<string, number>;

function listenersOf(socket: net.Socket): Counts {
  const counts: Counts = {};
  for (const name of socket.eventNames()) counts[String(name)] = socket.listenerCount(name);
  return counts;
}

/**
 * The listener counts per event of the server side of one upgraded, idle connection: the socket
 * the connection came as ('connection') and the one upgraded (the same one without TLS).
 */
async function upgradedListeners(
  handshakeTimeout: number,
  tls?: { key: Buffer; cert: Buffer },
): Promise<{ connection: Counts; upgraded: Counts }> {
  let opened!: () => void;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const running = await serve({
    host: '127.0.0.1',
    port: 0,
    quiet: true,
    handshakeTimeout,
    tls,
    onOpen: () => opened(),
  });
  let connection: net.Socket | undefined;
  let socket: net.Socket | undefined;
  running.server.on('connection', (s: net.Socket) => {
    connection = s;
  });
  running.server.on('upgrade', (_req, s: net.Socket) => {
    socket = s;
  });
  const client = new WebSocket(running.url.replace(/^http/, 'ws'), { rejectUnauthorized: false });
  await Promise.all([once(client, 'open'), open]);
  const counts = { connection: listenersOf(connection!), upgraded: listenersOf(socket!) };
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

it('serve --tls: neither the upgraded TLS socket nor the TCP socket under it keeps a listener of the handshake deadline', async () => {
  const files = selfSigned();
  const tls = { key: readFileSync(files.key), cert: readFileSync(files.cert) };
  const withDeadline = await upgradedListeners(30_000, tls);
  const without = await upgradedListeners(0, tls);
  assert.deepEqual(withDeadline, without);
});
