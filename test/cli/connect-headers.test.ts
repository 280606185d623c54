/**
 * `ws-stream connect --header`: what a real server receives. A name given several times (in any
 * case) is sent as that many fields, in the order given; a Latin-1 value goes as its bytes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { it } from 'node:test';
import { WebSocketStream } from '../../src/index.js';
import { exitOf, MAIN } from './cli-support.js';

it('--header with one name several times (in any case): as many fields, in order; a Latin-1 value as its bytes', async (t) => {
  const seen: string[][] = [];
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push(req.rawHeaders);
    const ws = new WebSocketStream(socket);
    ws.accept(req, { head }).catch(() => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  const args = ['connect', `ws://127.0.0.1:${port}/`, '--header', 'X-Two: a', '--header', 'X-Two: b'];
  args.push('--header', 'x-two: c', '--header', 'X-Latin: caf\u00e9');
  const proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (/^connected to /m.test(out) && !proc.stdin.writableEnded) proc.stdin.end(); // Ctrl-D
  });
  const { code } = await exitOf(proc);
  assert.equal(code, 0, err);
  assert.equal(seen.length, 1);
  const fields = [];
  for (let i = 0; i < seen[0]!.length; i += 2) fields.push(`${seen[0]![i]}: ${seen[0]![i + 1]}`);
  assert.deepEqual(
    fields.filter((f) => /^x-/i.test(f)),
    ['X-Two: a', 'X-Two: b', 'X-Two: c', 'X-Latin: caf\u00e9'],
  );
});
