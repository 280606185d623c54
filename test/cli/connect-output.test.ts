/**
 * What `ws-stream connect` prints of what a server sends, against a raw server that writes exact
 * frames: a binary message as its size and its first 32 bytes in hex (an ellipsis only past 32; an
 * empty one as its size alone, no trailing space), a
 * text message as it is, the subprotocol the server chose; and a protocol error in the middle of the
 * stream: its code on stderr, close 1002 from our side, exit 1.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { codeOf, rawServer, sclose, sframe } from '../conformance/raw-server.js';
import { startCollecting } from './cli-support.js';

it('ws-stream connect: binary shown by size and up to 32 bytes in hex, text as it is; a bad frame mid-stream exits 1 after close 1002', async (t) => {
  const server = await rawServer(t);
  // stdin stays open: only the server's frames end this run.
  const client = startCollecting(['connect', server.url('/'), '--protocol', 'chat'], 'pipe');
  t.after(() => client.proc.kill('SIGKILL'));
  const peer = await server.next();
  assert.equal(peer.headers['sec-websocket-protocol'], 'chat');
  const exactly32 = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const over32 = Buffer.from(Array.from({ length: 33 }, (_, i) => 0xe0 + (i % 32)));
  peer.write(
    peer.ok('Sec-WebSocket-Protocol: chat\r\n'),
    sframe({ opcode: 2, payload: exactly32 }),
    sframe({ opcode: 2, payload: over32 }),
    sframe({ opcode: 2, payload: Buffer.alloc(0) }),
    sframe({ opcode: 1, payload: Buffer.from('plain ✓ text') }),
    // Opcode 3 is reserved (RFC 6455 §5.2): the client must fail the connection.
    sframe({ opcode: 3, payload: Buffer.from('x') }),
  );
  const [closeFromClient] = await peer.frameCount(1);
  assert.equal(closeFromClient!.opcode, 8);
  assert.equal(codeOf(closeFromClient!), 1002);
  peer.write(sclose(1002));
  peer.end();
  const { code, out, err } = await client.exited;
  const hex32 = exactly32.toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const hexFirst32 = over32
    .subarray(0, 32)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  assert.equal(
    out,
    `connected to ${server.url('/')} (subprotocol chat); type a message and Enter to send, Ctrl-D to close\n` +
      `< [binary, 32 bytes] ${hex32}\n` +
      `< [binary, 33 bytes] ${hexFirst32} …\n` +
      '< [binary, 0 bytes]\n' +
      '< plain ✓ text\n' +
      'closed by local: 1002 reserved opcode: opcode 3\n',
  );
  assert.equal(err, 'ws-stream: ERR_WS_BAD_OPCODE: reserved opcode: opcode 3\n');
  assert.equal(code, 1);
});

it('ws-stream connect: Ctrl-C (SIGINT) while open closes with 1000, prints it and exits 0', async (t) => {
  const server = await rawServer(t);
  const client = startCollecting(['connect', server.url('/')], 'pipe');
  const p = client.proc;
  t.after(() => p.kill('SIGKILL'));
  // The helper's listener came first: what it collected includes this chunk.
  const connected = new Promise<void>((resolve) => {
    p.stdout!.on('data', () => {
      if (client.out().includes('\n')) resolve();
    });
  });
  const peer = await server.next();
  peer.write(peer.ok());
  await connected;
  p.kill('SIGINT');
  // A process killed by the signal ends its side without a frame: that fails here rather than waits.
  await peer.until(() => peer.frames.length > 0 || peer.clientEnded, 'a close frame or the end');
  const [closeFromClient] = peer.frames;
  assert.ok(closeFromClient, `no close frame before the end; the client printed: ${client.out()}`);
  assert.equal(closeFromClient!.opcode, 8);
  assert.equal(codeOf(closeFromClient!), 1000);
  peer.write(sclose(1000));
  peer.end();
  const { code, out, err } = await client.exited;
  assert.equal(
    out,
    `connected to ${server.url('/')}; type a message and Enter to send, Ctrl-D to close\nclosed by local: 1000\n`,
  );
  assert.equal(err, '');
  assert.equal(code, 0);
});

it('ws-stream connect: a refused upgrade with an empty body prints the status line alone, and exits 1', async (t) => {
  const server = await rawServer(t);
  const client = startCollecting(['connect', server.url('/')]);
  t.after(() => client.proc.kill('SIGKILL'));
  const peer = await server.next();
  peer.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  peer.end();
  const { code, out, err } = await client.exited;
  assert.equal(out, '');
  assert.equal(err, 'ws-stream: the server refused the upgrade: HTTP 403 Forbidden\n');
  assert.equal(code, 1);
});
