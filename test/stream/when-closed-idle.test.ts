/**
 * `whenClosed()` on a stream that never started a handshake resolves once its next layer closes (the
 * peer reset it, or its owner destroyed it) or the peer ends its side (a FIN on the socket node:http's
 * 'upgrade' hands over, held half-open), over a TCP socket, TLS, an HTTP/2 stream and the test layer;
 * it leaves no listener on the layer behind, and a later handshake goes as it would have. A FIN behind
 * bytes nobody read yet is left to the handshake that reads them; a custom NextLayer is told only once
 * destroyed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  DuplexLayer,
  WebSocketStream,
  createTestPair,
  rejectUpgrade,
  type CloseInfo,
  type LayerSink,
  type WebSocketError,
} from '../../src/index.js';
import { CustomDuplexLayer } from '../support/duplex-layer.js';
import { closeFrame, frame, parseFrames, requestHead, requestObject } from '../support/frames.js';
import { closedEvenIfReset, exchange } from '../support/peer.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));

/** How a stream whose layer closed before any handshake ended. */
function assertClosedBeforeHandshake(info: CloseInfo): void {
  assert.equal(info.initiatedBy, 'abnormal');
  assert.equal(info.code, 1006);
  assert.equal(info.reason, '');
  assert.equal(info.wasClean, false);
  assert.equal(info.error?.code, 'ERR_WS_EOF');
}

/** The next connection `server` takes: its socket, from `event`. */
function firstConnection<S>(server: net.Server, event: string): Promise<S> {
  return once(server, event).then(([s]) => s as S);
}

/** A TCP connection on 127.0.0.1: our client socket and the server's socket for it (its server closed after the test). */
async function tcpConnection(t: {
  after(fn: () => unknown): void;
}): Promise<{ client: net.Socket; socket: net.Socket }> {
  const server = net.createServer();
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = firstConnection<net.Socket>(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  return { client, socket: await accepted };
}

/** A node:http server whose next 'upgrade' is awaited (request, socket, head), and a TCP client connected to it; closed after the test. */
async function upgradeServer(t: { after(fn: () => unknown): void }): Promise<{
  upgraded: Promise<[http.IncomingMessage, net.Socket, Buffer]>;
  client: net.Socket;
}> {
  const server = http.createServer();
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const upgraded = once(server, 'upgrade') as Promise<[http.IncomingMessage, net.Socket, Buffer]>;
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  return { upgraded, client };
}

describe('whenClosed() before any handshake', () => {
  it('over TCP: resolves when the peer resets the connection, with no close listener left', async (t) => {
    const { client, socket } = await tcpConnection(t);
    socket.on('error', () => {}); // the application's: the reset is reported to it as ECONNRESET
    const closeListeners = socket.listenerCount('close');
    const ws = new WebSocketStream(socket);
    const first = ws.whenClosed();
    const second = ws.whenClosed(); // a second wait watches nothing more
    assert.equal(socket.listenerCount('close'), closeListeners + 1);
    await once(client, 'connect');
    client.resetAndDestroy();
    const info = await first;
    assertClosedBeforeHandshake(info);
    assert.equal(await second, info);
    assert.equal(ws.closeInfo, info);
    assert.equal(socket.listenerCount('close'), closeListeners);
    // Still no handshake: operations say so, as on any stream before its handshake.
    assert.equal(ws.isOpen, false);
    await assert.rejects(ws.write('x'), { code: 'ERR_WS_INVALID_STATE' });
  });

  it("over node:http's 'upgrade': resolves at the client's FIN (the socket is held half-open), and leaves the socket to its owner", async (t) => {
    const { upgraded, client } = await upgradeServer(t);
    client.write(requestHead());
    const [, socket] = await upgraded;
    t.after(() => socket.destroy());
    const endListeners = socket.listenerCount('end');
    const ws = new WebSocketStream(socket);
    const ended = ws.whenClosed();
    const socketEnded = once(socket, 'end'); // (listening after the wait: its listener runs first)
    client.end(); // a tab closed while the server still decides
    await socketEnded;
    assert.notEqual(ws.closeInfo, undefined, "told by the peer's FIN");
    assertClosedBeforeHandshake(await ended);
    assert.equal(socket.listenerCount('end'), endListeners);
    assert.equal(socket.destroyed, false, "the socket is its owner's: it may still answer");
    await assert.rejects(ws.write('x'), { code: 'ERR_WS_INVALID_STATE' });
  });

  it("over node:http's 'upgrade': once the wait reported the client's FIN, accept() fails ERR_WS_EOF and opens nothing (no session runs under the 1006 reported)", async (t) => {
    const { upgraded, client } = await upgradeServer(t);
    // The whole session behind the request, then the FIN: node:http reads the frames into the upgrade's `head`.
    const answer = exchange(client);
    client.end(Buffer.concat([Buffer.from(requestHead()), frame({ opcode: 1, payload: 'hello' }), closeFrame(1000)]));
    const [req, socket, head] = await upgraded;
    assert.equal(head.length > 0, true, 'the frames came in the head');
    const ws = new WebSocketStream(socket);
    const ended = await ws.whenClosed();
    assertClosedBeforeHandshake(ended);
    await assert.rejects(ws.accept(req, { head }), { code: 'ERR_WS_EOF' });
    assert.equal(ws.isOpen, false);
    assert.equal(ws.closeInfo, ended, 'the end reported stays the end');
    await assert.rejects(ws.read(), { code: 'ERR_WS_INVALID_STATE' });
    assert.equal(await answer, '', 'no 101: the client was told the stream is closed');
  });

  it('over TCP: a FIN behind bytes nobody read yet is left to the handshake that reads them (a close frame among them: a clean close)', async (t) => {
    const { client, socket } = await tcpConnection(t);
    const answer = exchange(client, Buffer.concat([Buffer.from(requestHead()), closeFrame(1000, 'bye')]));
    client.end();
    // Until the FIN has come behind the bytes (node holds it until they are read; 'readable' tells
    // of each arrival, and the listener leaves the socket paused as it was once removed).
    const finCame = (): boolean => (socket as unknown as { _readableState: { ended: boolean } })._readableState.ended;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (!finCame()) return;
        socket.off('readable', check);
        resolve();
      };
      socket.on('readable', check);
    });
    assert.equal(socket.readableLength > 0, true, 'the bytes are still unread');
    const ws = new WebSocketStream(socket);
    const ended = ws.whenClosed();
    await ws.accept();
    assert.deepEqual(await ended, { initiatedBy: 'remote', code: 1000, reason: 'bye', wasClean: true });
    const got = await answer;
    const frames = parseFrames(Buffer.from(got.slice(got.indexOf('\r\n\r\n') + 4), 'latin1')).frames;
    assert.equal(got.split('\r\n')[0], 'HTTP/1.1 101 Switching Protocols');
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.readUInt16BE(0)]),
      [[8, 1000]],
    );
  });

  it('over a custom NextLayer: resolves at once when the layer was destroyed before the call', async () => {
    class Layer extends CustomDuplexLayer {
      attach(sink: LayerSink): void {
        this.d.on('data', (chunk: Buffer) => sink.onData(chunk));
        this.d.on('end', () => sink.onEnd());
        this.d.on('close', () => sink.onClose());
      }
    }
    const [a] = createTestPair();
    const layer = new Layer(a);
    a.destroy();
    await once(a, 'close');
    const ws = new WebSocketStream(layer);
    const ended = ws.whenClosed();
    const first = await Promise.race([ended, new Promise((resolve) => setImmediate(resolve, 'still waiting'))]);
    assert.notEqual(first, 'still waiting');
    assertClosedBeforeHandshake(await ended);
  });

  it('over a custom NextLayer destroyed before any handshake: accept() fails at once with ERR_WS_EOF, as over a destroyed Duplex (the layer tells its close to no sink attached after it)', async () => {
    class Layer extends CustomDuplexLayer {
      attach(sink: LayerSink): void {
        this.d.on('data', (chunk: Buffer) => sink.onData(chunk));
        this.d.on('end', () => sink.onEnd());
        this.d.on('close', () => sink.onClose());
      }
    }
    for (const custom of [false, true]) {
      const [a] = createTestPair();
      a.destroy();
      await once(a, 'close');
      // No handshake deadline: the layer's end is all that can end the handshake.
      const ws = new WebSocketStream(custom ? new Layer(a) : a, { handshakeTimeout: 0 });
      const accepting = ws.accept().then(
        () => 'accepted',
        (e: WebSocketError) => e.code,
      );
      const first = await Promise.race([accepting, new Promise((resolve) => setImmediate(resolve, 'still waiting'))]);
      assert.equal(first, 'ERR_WS_EOF', custom ? 'custom layer' : 'Duplex');
      assert.equal(ws.closeInfo?.code, 1006);
    }
  });

  it('over TLS: resolves when the server destroys the socket before accepting', async (t) => {
    const server = tls.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') });
    t.after(() => server.close());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = firstConnection<tls.TLSSocket>(server, 'secureConnection');
    const client = tls.connect({
      port: (server.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      ca: fixture('cert.pem'),
    });
    const clientClosed = closedEvenIfReset(client);
    const socket = await accepted;
    const ws = new WebSocketStream(socket);
    const ended = ws.whenClosed();
    socket.destroy(); // the application's own limit, say
    assertClosedBeforeHandshake(await ended);
    await clientClosed;
  });

  it('over an HTTP/2 stream: resolves when the client resets the stream', async (t) => {
    const server = http2.createServer();
    const sessions: http2.ServerHttp2Session[] = [];
    server.on('session', (s) => sessions.push(s));
    t.after(() => {
      for (const s of sessions) s.destroy();
      server.close();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const streamTaken = once(server, 'stream').then(([s]) => s as http2.ServerHttp2Stream);
    const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    t.after(() => session.destroy());
    const req = session.request({ ':path': '/' });
    req.on('error', () => {});
    const stream = await streamTaken;
    const ws = new WebSocketStream(stream);
    const ended = ws.whenClosed();
    req.close(http2.constants.NGHTTP2_CANCEL);
    assertClosedBeforeHandshake(await ended);
  });

  it('over the test layer: resolves when the layer is destroyed, also before the call; a handshake after it takes over, or fails as without the wait', async () => {
    const [a] = createTestPair();
    const ws = new WebSocketStream(a);
    const ended = ws.whenClosed();
    a.destroy();
    assertClosedBeforeHandshake(await ended);
    // A handshake started now fails as it would have without the wait.
    await assert.rejects(ws.accept(requestObject()), { code: 'ERR_WS_EOF' });
    assert.equal(ws.closeInfo?.code, 1006);

    const [b] = createTestPair();
    b.destroy();
    await once(b, 'close');
    const late = new WebSocketStream(b);
    assertClosedBeforeHandshake(await late.whenClosed());
    assert.equal(b.listenerCount('close'), 0);

    // A handshake after the wait: as many close listeners as on a stream that never waited, and the real end.
    const [c, d] = createTestPair();
    const [other] = createTestPair();
    await new WebSocketStream(other).accept(requestObject());
    const server = new WebSocketStream(c);
    const serverEnded = server.whenClosed();
    const client = new WebSocketStream(d);
    await Promise.all([server.accept(), client.handshake({ host: 'example.com', target: '/chat' })]);
    assert.equal(c.listenerCount('close'), other.listenerCount('close'));
    await client.close({ code: 4000, reason: 'done' });
    assert.deepEqual(await serverEnded, { initiatedBy: 'remote', code: 4000, reason: 'done', wasClean: true });
  });

  it('one DuplexLayer given to two streams: the wait of each resolves, also when the other one took the layer for its handshake', async () => {
    const [a] = createTestPair();
    const closeListeners = a.listenerCount('close');
    const layer = new DuplexLayer(a);
    const first = new WebSocketStream(layer);
    const second = new WebSocketStream(layer);
    const firstEnded = first.whenClosed();
    const secondEnded = second.whenClosed();
    assert.equal(a.listenerCount('close'), closeListeners + 2);
    a.destroy();
    assertClosedBeforeHandshake(await firstEnded);
    assert.notEqual(second.closeInfo, undefined, "the second stream's wait is told by the same 'close'");
    assertClosedBeforeHandshake(await secondEnded);
    assert.equal(a.listenerCount('close'), closeListeners);

    // The first stream's handshake ends its own watch only: the second's wait resolves when the connection closes.
    const [c, d] = createTestPair();
    const shared = new DuplexLayer(c);
    const server = new WebSocketStream(shared);
    const idle = new WebSocketStream(shared);
    const serverEnded = server.whenClosed();
    const idleEnded = idle.whenClosed();
    const client = new WebSocketStream(d);
    await Promise.all([server.accept(), client.handshake({ host: 'example.com', target: '/chat' })]);
    await client.close({ code: 4000, reason: 'done' });
    assert.deepEqual(await serverEnded, { initiatedBy: 'remote', code: 4000, reason: 'done', wasClean: true });
    assert.notEqual(idle.closeInfo, undefined, "the idle stream's wait is told by the same 'close'");
    assertClosedBeforeHandshake(await idleEnded);
  });

  it("a refusal on the stream's own layer (rejectUpgrade) leaves the wait be: it resolves once the refused connection closes", async () => {
    const [a, b] = createTestPair();
    const ws = new WebSocketStream(a);
    const ended = ws.whenClosed();
    await rejectUpgrade(ws.nextLayer, 401);
    b.on('data', () => {});
    b.end(); // the client read the answer and goes
    assertClosedBeforeHandshake(await ended);
  });
});
