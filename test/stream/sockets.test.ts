/** accept over real next layers on 127.0.0.1: node:http 'upgrade', net + accept(), net + readRequest, TLS. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { WebSocketStream, readRequest, rejectUpgrade, isUpgrade, type WebSocketError } from '../../src/index.js';
import { requestHead, text } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url)));

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function echoOnce(ws: WebSocketStream): Promise<void> {
  const m = await ws.read();
  await ws.write(m.data, { binary: m.binary });
}

function wsClient(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const c = new WebSocket(url, protocols, opts);
    c.once('open', () => resolve(c));
    c.once('error', reject);
  });
}

function nextMessage(c: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => c.once('message', (data, binary) => resolve({ data: data as Buffer, binary })));
}

describe('accept over node:http (IncomingMessage + head)', () => {
  const server = http.createServer();
  after(() => server.close());

  it('a ws client connects, gets its subprotocol, and a message echoes', async () => {
    server.on('upgrade', (req, socket, head) => {
      const ws = new WebSocketStream(socket);
      ws.accept(req, { head, selectProtocol: (o) => (o.includes('chat') ? 'chat' : undefined) })
        .then(() => echoOnce(ws))
        .catch(() => {});
    });
    const port = await listen(server);
    const c = await wsClient(`ws://127.0.0.1:${port}/x`, {}, ['other', 'chat']);
    assert.equal(c.protocol, 'chat');
    const got = nextMessage(c);
    c.send('héllo ✓');
    const m = await got;
    assert.equal(m.binary, false);
    assert.equal(m.data.toString(), 'héllo ✓');
    c.terminate();
  });

  it('an eager frame in the same TCP write as the request is the first message', async () => {
    const port = (server.address() as net.AddressInfo).port;
    const sock = net.connect(port, '127.0.0.1');
    const peer = new RawPeer(sock);
    sock.write(Buffer.concat([Buffer.from(requestHead()), text('eager')]));
    assert.equal((await peer.responseHead()).status, 101);
    const f = await peer.waitFrames(1);
    assert.equal(f[0]!.payload.toString(), 'eager');
    sock.destroy();
  });
});

describe('accept() over net, reading the request itself', () => {
  it('serves a ws client, and refuses a bad request with 400 before closing', async () => {
    const results: (WebSocketError | null)[] = [];
    const server = net.createServer((socket) => {
      const ws = new WebSocketStream(socket);
      ws.accept().then(
        () => echoOnce(ws),
        (e: WebSocketError) => {
          results.push(e);
        },
      );
    });
    const port = await listen(server);
    const c = await wsClient(`ws://127.0.0.1:${port}/`);
    const got = nextMessage(c);
    c.send(Buffer.from([1, 2, 3]));
    assert.deepEqual([...(await got).data], [1, 2, 3]);
    c.terminate();

    const sock = net.connect(port, '127.0.0.1');
    const peer = new RawPeer(sock);
    sock.write(requestHead({ 'Sec-WebSocket-Version': '7' }));
    const res = await peer.responseHead();
    assert.equal(res.status, 426);
    await peer.waitClosed();
    assert.equal(results[0]?.code, 'ERR_WS_BAD_SEC_VERSION');
    server.close();
  });
});

describe('readRequest, isUpgrade and rejectUpgrade over net (the Beast pattern)', () => {
  it('routes: a non-upgrade request is refused, a bad token 401, a good one accepted with head bytes', async () => {
    const server = net.createServer(async (socket) => {
      try {
        const { request, head } = await readRequest(socket);
        if (!isUpgrade(request)) return void (await rejectUpgrade(socket, 404, { body: 'no such page\n' }));
        if (request.headers.authorization !== 'Bearer good') {
          await new Promise((r) => setTimeout(r, 5)); // an asynchronous authentication
          return void (await rejectUpgrade(socket, 401, { headers: { 'WWW-Authenticate': 'Bearer' } }));
        }
        const ws = new WebSocketStream(socket);
        await ws.accept(request, { head });
        await echoOnce(ws);
      } catch {
        socket.destroy();
      }
    });
    const port = await listen(server);

    const plain = await fetch(`http://127.0.0.1:${port}/`).then(async (r) => ({
      status: r.status,
      body: await r.text(),
    }));
    assert.deepEqual(plain, { status: 404, body: 'no such page\n' });

    const sock = net.connect(port, '127.0.0.1');
    const peer = new RawPeer(sock);
    sock.write(requestHead());
    const res = await peer.responseHead();
    assert.equal(res.status, 401);
    assert.match(res.head, /\r\nWWW-Authenticate: Bearer(\r\n|$)/);
    await peer.waitClosed();

    const sock2 = net.connect(port, '127.0.0.1');
    const peer2 = new RawPeer(sock2);
    sock2.write(Buffer.concat([Buffer.from(requestHead({ Authorization: 'Bearer good' })), text('in the head')]));
    assert.equal((await peer2.responseHead()).status, 101);
    assert.equal((await peer2.waitFrames(1))[0]!.payload.toString(), 'in the head');
    sock2.destroy();
    server.close();
  });

  it("rejectUpgrade: a status RFC 9110 registers goes out with its reason phrase (serve answers node:http's request timeout 408)", async () => {
    const server = net.createServer(async (socket) => {
      try {
        const { request } = await readRequest(socket);
        await rejectUpgrade(socket, Number(request.target.slice(1)));
      } catch {
        socket.destroy();
      }
    });
    const port = await listen(server);
    const statuses: [number, string][] = [
      [302, 'Found'],
      [307, 'Temporary Redirect'],
      [408, 'Request Timeout'],
      [413, 'Content Too Large'],
      [414, 'URI Too Long'],
      [502, 'Bad Gateway'],
      [599, 'Unknown'], // registered nowhere
    ];
    const lines: string[] = [];
    for (const [status] of statuses) {
      const sock = net.connect(port, '127.0.0.1');
      const peer = new RawPeer(sock);
      sock.write(requestHead({}, `GET /${status} HTTP/1.1`));
      lines.push((await peer.responseHead()).head.split('\r\n')[0]!);
      await peer.waitClosed();
    }
    server.close();
    assert.deepEqual(
      lines,
      statuses.map(([status, phrase]) => `HTTP/1.1 ${status} ${phrase}`),
    );
  });

  it('readRequest rejects a malformed head with status 400 and writes nothing', async () => {
    const server = net.createServer(async (socket) => {
      const err = await readRequest(socket).then(
        () => null,
        (e: WebSocketError & { status: number }) => e,
      );
      socket.end(`${err?.code} ${err?.status}`);
    });
    const port = await listen(server);
    const sock = net.connect(port, '127.0.0.1');
    const peer = new RawPeer(sock);
    sock.write('GET / HTTP/1.1\r\nNo colon here\r\n\r\n');
    await peer.waitClosed();
    assert.equal(peer.received.toString(), 'ERR_WS_BAD_REQUEST 400');
    server.close();
  });

  it('isUpgrade tells an upgrade from a plain request', () => {
    assert.equal(isUpgrade({ method: 'GET', headers: { connection: 'Upgrade', upgrade: 'websocket' } }), true);
    assert.equal(isUpgrade({ method: 'GET', headers: { connection: 'keep-alive' } }), false);
    assert.equal(isUpgrade({ method: 'POST', headers: { connection: 'Upgrade', upgrade: 'websocket' } }), false);
  });
});

describe('accept over TLS', () => {
  it('a wss client with the test CA connects and a message echoes', async () => {
    const server = tls.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') }, (socket) => {
      const ws = new WebSocketStream(socket);
      ws.accept()
        .then(() => echoOnce(ws))
        .catch(() => {});
    });
    const port = await listen(server);
    const c = await wsClient(`wss://localhost:${port}/`, { ca: fixture('cert.pem') });
    const got = nextMessage(c);
    c.send('over tls');
    assert.equal((await got).data.toString(), 'over tls');
    c.terminate();
    server.close();
  });

  it('a frame nobody waits for (the answer to a ping) goes as one write with its callback, none of no bytes', async () => {
    // Over TLS a write is never out within the call (the TLS layer completes it later): a write with no
    // callback would be followed by one of no bytes to learn when it is out. Only a plain TCP socket skips
    // the callback. (This TLS socket is not half-open, node's default for tls.Server's and tls.connect's.)
    const writes: string[] = [];
    const server = tls.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') });
    after(() => server.close());
    const accepted = new Promise<WebSocketStream>((resolve, reject) => {
      server.on('secureConnection', (socket) => {
        const write = socket.write;
        socket.write = function (this: tls.TLSSocket, chunk: Buffer, ...rest: unknown[]) {
          writes.push(`${chunk.length} bytes, ${typeof rest.at(-1) === 'function' ? 'a callback' : 'no callback'}`);
          return write.call(this, chunk, ...(rest as [BufferEncoding]));
        } as typeof socket.write;
        const ws = new WebSocketStream(socket);
        ws.accept().then(() => resolve(ws), reject);
      });
    });
    const port = await listen(server);
    const c = await wsClient(`wss://localhost:${port}/`, { ca: fixture('cert.pem') });
    after(() => c.terminate());
    await accepted;
    writes.length = 0; // (the handshake's answer)
    const pong = new Promise<Buffer>((resolve) => c.once('pong', resolve));
    c.ping('are you there');
    assert.equal((await pong).toString(), 'are you there');
    assert.deepEqual(writes, ['15 bytes, a callback']);
  });
});
