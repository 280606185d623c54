/**
 * A peer's FIN that arrives with the request head, while no layer listens: between `readRequest`
 * and `accept(request, { head })` (or `rejectUpgrade`), or between node:http's 'upgrade' and
 * `accept(req, { head })`. Each server here waits for the socket's 'end' before it goes on (an
 * asynchronous authentication, say), so the FIN is always handled in that gap. The answer is the one
 * the peer gets when the FIN comes later: a 101, the close echoed, a clean close (or the 400); and
 * the stream learns of the FIN it did not see (reads end with ERR_WS_EOF, not at an idle timeout).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { it } from 'node:test';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type CloseInfo, readRequest, rejectUpgrade, WebSocketStream, type WebSocketError } from '../../src/index.js';
import { closeFrame, requestHead } from '../support/frames.js';
import { closeCodeOf, parseExchange } from '../support/hostile.js';
import { exchange } from '../support/peer.js';

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url)));

type After = { after(fn: () => unknown): void };

/** What the server saw of one connection. */
interface Served {
  /** Bytes readRequest read past the head. */
  headBytes: number;
  accept: string;
  readError?: string;
  info?: CloseInfo;
}

/** Resolves once `socket` emitted 'end' (the peer's FIN was handled), at once if it did already. */
function ended(socket: net.Socket): Promise<unknown> {
  return socket.readableEnded ? Promise.resolve() : once(socket, 'end');
}

/** Accepts on `ws`, reads until the end, and tells how it went. */
async function serve(ws: WebSocketStream, request: Parameters<WebSocketStream['accept']>[0], head: Buffer) {
  const served: Served = { headBytes: head.length, accept: 'ok' };
  try {
    await ws.accept(request as never, { head });
  } catch (e) {
    served.accept = (e as WebSocketError).code;
    return served;
  }
  try {
    for await (const _ of ws);
    served.readError = 'ERR_WS_CLOSED';
  } catch (e) {
    served.readError = (e as WebSocketError).code;
  }
  served.info = await ws.whenClosed();
  return served;
}

/** A server on `make` (net or tls) that reads the request, waits for the peer's FIN, then accepts. */
async function readThenAccept(t: After, make: typeof net.createServer | typeof tls.createServer, options = {}) {
  let resolve!: (s: Served) => void;
  const result = new Promise<Served>((r) => (resolve = r));
  const srv = (make as typeof net.createServer)(options, async (socket) => {
    socket.on('error', () => {});
    const { request, head } = await readRequest(socket);
    await ended(socket);
    resolve(await serve(new WebSocketStream(socket), request, head));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  return { port: (srv.address() as net.AddressInfo).port, result };
}

const request = Buffer.from(requestHead());
const close = closeFrame(1000, 'bye');

/** The server's answer to a request, a close frame and a FIN sent together, and what it saw. */
function assertCleanClose(received: string, served: Served): void {
  assert.equal(served.headBytes, close.length, 'the close frame came with the request head');
  assert.deepEqual(
    { accept: served.accept, readError: served.readError, info: served.info },
    {
      accept: 'ok',
      readError: 'ERR_WS_CLOSED',
      info: { initiatedBy: 'remote', code: 1000, reason: 'bye', wasClean: true },
    },
  );
  const { status, frames, cut } = parseExchange(Buffer.from(received, 'latin1'));
  assert.equal(status, 101);
  assert.equal(cut.length, 0, 'no frame cut off after the close');
  assert.deepEqual(
    frames.map((f) => [closeCodeOf(f), f.payload.subarray(2).toString()]),
    [[1000, 'bye']],
  );
}

it('net: readRequest, the FIN handled, then accept(request, { head }): 101, the close echoed, a clean close', async (t) => {
  const srv = await readThenAccept(t, net.createServer);
  const socket = net.connect(srv.port, '127.0.0.1');
  await once(socket, 'connect');
  const received = exchange(socket);
  socket.end(Buffer.concat([request, close]));
  assertCleanClose(await received, await srv.result);
});

it('tls: the same over TLS (close_notify and FIN with the request)', async (t) => {
  const srv = await readThenAccept(t, tls.createServer, { key: fixture('key.pem'), cert: fixture('cert.pem') });
  const socket = tls.connect({ port: srv.port, host: '127.0.0.1', ca: fixture('cert.pem'), servername: 'localhost' });
  await once(socket, 'secureConnect');
  const received = exchange(socket);
  socket.end(Buffer.concat([request, close]));
  assertCleanClose(await received, await srv.result);
});

it('net: a malformed head and the FIN together, then rejectUpgrade(socket, err.status): the 400 reaches the peer', async (t) => {
  const srv = net.createServer(async (socket) => {
    socket.on('error', () => {});
    const status = await readRequest(socket).then(
      () => 200,
      (e: { status: number }) => e.status,
    );
    await ended(socket);
    await rejectUpgrade(socket, status, { body: 'refused\n' }).catch(() => {});
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const received = exchange(socket);
  socket.end('GET / HTTP/1.1\r\nNo colon here\r\n\r\n');
  const got = await received;
  assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.ok(got.endsWith('\r\n\r\nrefused\n'), got);
});

it("node:http: the FIN handled after 'upgrade', then accept(req, { head }): the stream learns of it (ERR_WS_EOF, not the idle timeout)", async (t) => {
  let resolve!: (s: Served) => void;
  const result = new Promise<Served>((r) => (resolve = r));
  const srv = http.createServer();
  srv.on('upgrade', async (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    await ended(socket);
    // The idle timeout only bounds the test if the FIN is never told: it ends the reads with ERR_WS_TIMEOUT.
    resolve(await serve(new WebSocketStream(socket, { idleTimeout: 20_000 }), req, head));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const socket = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const received = exchange(socket);
  socket.end(request);
  const served = await result;
  assert.deepEqual(
    { accept: served.accept, readError: served.readError, code: served.info?.code, clean: served.info?.wasClean },
    { accept: 'ok', readError: 'ERR_WS_EOF', code: 1006, clean: false },
  );
  const answer = parseExchange(Buffer.from(await received, 'latin1'));
  assert.deepEqual([answer.status, answer.frames.length, answer.cut.length], [101, 0, 0]);
});

/**
 * A server that reads a request, answers it by hand (no end(): the peer closes, as node's default then closes
 * our side too) and resolves, once the peer's FIN was handled, with whether our side was ended.
 */
async function answerByHand(t: After, make: typeof net.createServer | typeof tls.createServer, options = {}) {
  let resolve!: (ended: boolean) => void;
  const ourSideEnded = new Promise<boolean>((r) => (resolve = r));
  const srv = (make as typeof net.createServer)(options, async (socket) => {
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    await readRequest(socket);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
    await ended(socket);
    // node ends the writable side on the next tick after 'end', when it is not half-open.
    setImmediate(() => resolve(socket.writableEnded));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  return { port: (srv.address() as net.AddressInfo).port, ourSideEnded };
}

/** Sends a plain GET, waits for the whole answer, then ends; resolves with what came before the server's close. */
async function getThenEnd(t: After, socket: net.Socket): Promise<string> {
  t.after(() => socket.destroy());
  const received = exchange(socket, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  let got = '';
  const onData = (chunk: Buffer): void => {
    got += chunk.toString('latin1');
    if (!got.endsWith('ok\n')) return;
    socket.off('data', onData);
    socket.end();
  };
  socket.on('data', onData);
  return received;
}

it('net: readRequest, an answer written by hand without end(), then the peer FINs: node closes our side as before', async (t) => {
  const srv = await answerByHand(t, net.createServer);
  const socket = net.connect(srv.port, '127.0.0.1');
  await once(socket, 'connect');
  const received = getThenEnd(t, socket);
  assert.equal(await srv.ourSideEnded, true, 'the server socket was left half-open');
  assert.match(await received, /^HTTP\/1\.1 200 OK\r\n/);
});

it('tls: the same over TLS', async (t) => {
  const srv = await answerByHand(t, tls.createServer, { key: fixture('key.pem'), cert: fixture('cert.pem') });
  const socket = tls.connect({ port: srv.port, host: '127.0.0.1', ca: fixture('cert.pem'), servername: 'localhost' });
  await once(socket, 'secureConnect');
  const received = getThenEnd(t, socket);
  assert.equal(await srv.ourSideEnded, true, 'the server socket was left half-open');
  assert.match(await received, /^HTTP\/1\.1 200 OK\r\n/);
});
