/**
 * A peer that sends a message, its close frame and its FIN together, with permessage-deflate: the
 * echo of that message compresses in zlib's thread pool while the FIN arrives. On a net.Socket as
 * node makes it by default (`allowHalfOpen: false`, the README's `net` example and `connect()`'s
 * own socket), node ended our side at that FIN, so the echo failed with ERR_WS_CLOSED, our close
 * frame never went out, and closeInfo still said `wasClean: true`. The stream ends its side itself
 * once its close frame is out, so both now reach the peer, in both roles.
 * Also: a compressed write cut short by an unclean end reports that end's error, as the writes
 * queued behind it do (it reported ERR_WS_CLOSED); and an answer to the peer's close that the next
 * layer failed to write (a reset right behind the peer's close) is no clean close (it said
 * `wasClean: true`).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import { type WebSocketError, WebSocketStream, connect, createTestPair } from '../../src/index.js';
import { inflateMessage } from '../support/deflate-sender.js';
import { closeFrame, parseFrames, requestHead, text, type WireFrame } from '../support/frames.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Reads `socket` to its end; returns the bytes after the response head. */
async function afterHead(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  await once(socket, 'end');
  const all = Buffer.concat(chunks);
  const i = all.indexOf('\r\n\r\n');
  assert.ok(i > 0, 'a response head');
  assert.match(all.subarray(0, i).toString(), /^HTTP\/1\.1 101 /);
  return all.subarray(i + 4);
}

/** The echo, compressed, then the close frame answering 1000. */
function assertEchoThenClose(frames: WireFrame[], message: string): void {
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.rsv]),
    [
      [1, 4],
      [8, 0],
    ],
    'the compressed echo, then the close frame',
  );
  assert.equal(inflateMessage(frames[0]!.payload).toString(), message);
  assert.equal(frames[1]!.payload.readUInt16BE(0), 1000);
}

/** Echoes every message; returns how each echo's write ended and how the connection ended. */
async function echo(ws: WebSocketStream): Promise<{ writes: string[]; wasClean: boolean; code: number }> {
  const writes: Promise<string>[] = [];
  for await (const m of ws) {
    writes.push(
      ws.write(m.data, { binary: m.binary }).then(
        () => 'ok',
        (e: WebSocketError) => e.code,
      ),
    );
  }
  const info = await ws.whenClosed();
  return { writes: await Promise.all(writes), wasClean: info.wasClean, code: info.code };
}

it("server role on net.createServer()'s default socket: the echo and the close answer reach a peer that sent its FIN with its close", {
  timeout: 60_000,
}, async () => {
  let served!: Promise<{ writes: string[]; wasClean: boolean; code: number }>;
  const srv = net.createServer((socket) => {
    const ws = new WebSocketStream(socket, { perMessageDeflate: true });
    served = ws.accept().then(() => echo(ws));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const message = 'hello '.repeat(200);
  const peer = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  peer.on('connect', () =>
    peer.write(requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }), () =>
      peer.end(Buffer.concat([text(message), closeFrame(1000)])),
    ),
  );
  try {
    const received = await afterHead(peer);
    assertEchoThenClose(parseFrames(received).frames, message);
    assert.deepEqual(await served, { writes: ['ok'], wasClean: true, code: 1000 });
  } finally {
    peer.destroy();
    srv.close();
  }
});

it('client role (connect()): the echo and the close answer reach a server that sent its FIN with its close', {
  timeout: 60_000,
}, async () => {
  const message = 'world '.repeat(200);
  let received!: Promise<Buffer>;
  const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
    let head = '';
    const onHead = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onHead);
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      const accept = crypto
        .createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      received = once(socket, 'end').then(() => Buffer.concat(chunks));
      socket.end(
        Buffer.concat([
          Buffer.from(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
          ),
          text(message, { mask: false }),
          closeFrame(1000, '', { mask: false }),
        ]),
      );
    };
    socket.on('data', onHead);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const ws = await connect(`ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, { perMessageDeflate: true });
  try {
    assert.deepEqual(await echo(ws), { writes: ['ok'], wasClean: true, code: 1000 });
    const frames = parseFrames(await received).frames;
    assert.ok(
      frames.every((f) => f.masked),
      'client frames are masked',
    );
    assertEchoThenClose(frames, message);
  } finally {
    ws.nextLayer.destroy();
    srv.close();
  }
});

it('a compressed write cut short by an unclean end reports that end, not ERR_WS_CLOSED', async () => {
  const [a, b] = createTestPair();
  const server = new WebSocketStream(a, { perMessageDeflate: true });
  const client = new WebSocketStream(b, { perMessageDeflate: true });
  await Promise.all([server.accept(), client.handshake({ host: 'h' })]);
  // zlib answers from its thread pool; the layer's failure and 'close' come on ticks before that.
  const write = server.write('x'.repeat(100_000)).then(
    () => 'ok',
    (e: WebSocketError) => e.code,
  );
  a.destroy(new Error('cut'));
  const info = await server.whenClosed();
  assert.equal(info.error?.code, 'ERR_WS_NEXT_LAYER');
  assert.equal(await write, 'ERR_WS_NEXT_LAYER', 'the end that cut it short');
  client.nextLayer.destroy();
});

it('an answer to the peer close that the next layer failed to write leaves the close unclean', async () => {
  // The server's writes: the 101, then the answer to the client's close, which fails.
  const [a, b] = createTestPair({ failWriteAt: 2 });
  const server = new WebSocketStream(a);
  const client = new WebSocketStream(b);
  await Promise.all([server.accept(), client.handshake({ host: 'h' })]);
  const closing = client.close({ code: 1000 }).then(
    () => 'ok',
    (e: WebSocketError) => e.code,
  );
  await assert.rejects(server.read(), { code: 'ERR_WS_CLOSED' });
  const info = await server.whenClosed();
  assert.deepEqual(
    [info.initiatedBy, info.code, info.wasClean, info.error?.code],
    ['remote', 1000, false, 'ERR_WS_NEXT_LAYER'],
    'our close frame never went',
  );
  assert.notEqual(await closing, 'ok', 'the client never got an answer');
});
