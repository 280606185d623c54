/**
 * WebSocket over HTTP/2 (RFC 8441), client role, against real node:http2 servers and raw TLS peers
 * on 127.0.0.1: the SETTINGS wait, per-caller deadlines, failing at once when the session or the
 * stream ends, forbidden request fields, which sessions a failure destroys, and 2xx answers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocketStream, connect, type WebSocketError, type ClientHandshakeError } from '../../src/index.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
const ca = fixture('cert.pem');
const key = fixture('key.pem');

/** Starts a server on a free port of 127.0.0.1; resolves with the port. */
async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A TLS server that speaks ALPN h2 and then does what `onSocket` says (never sends SETTINGS itself). */
async function rawH2(onSocket: (s: tls.TLSSocket) => void): Promise<{ port: number; server: tls.Server }> {
  const server = tls.createServer({ key, cert: ca, ALPNProtocols: ['h2'] }, (s) => {
    s.on('error', () => {});
    s.resume(); // the client's preface is read and dropped (a paused socket would never see the client's end)
    onSocket(s);
  });
  return { port: await listen(server), server };
}

let server: http2.Http2SecureServer;
let plain: http2.Http2SecureServer;
let port = 0;
let plainPort = 0;
/** 200 answers that name what the client did not offer (it offers the subprotocol `a` and no extension). */
const badAnswers: Record<string, Record<string, string>> = {
  '/protocol-empty': { 'sec-websocket-protocol': '' },
  '/protocol-other': { 'sec-websocket-protocol': 'b' },
  '/extension-not-offered': { 'sec-websocket-extensions': 'permessage-deflate' },
};
/** The RST_STREAM codes the streams of `badAnswers` closed with, in order. */
const resetCodes: number[] = [];
/** The server's sessions, to see which a client closed. */
const serverSessions: http2.ServerHttp2Session[] = [];

before(async () => {
  server = http2.createSecureServer({ key, cert: ca, settings: { enableConnectProtocol: true } });
  server.on('session', (s) => serverSessions.push(s));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const path = headers[':path'];
    if (path === '/deny') {
      stream.respond({ ':status': 403 });
      stream.end('no');
    } else if (path === '/reset') {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    } else if (path === '/reset-no-error') {
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
    } else if (path === '/goaway') {
      // GOAWAY with an error code: the session is over, this stream with it.
      stream.session!.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    } else if (path === '/hang-up') {
      stream.session!.destroy();
    } else if (path === '/202') {
      // A 2xx that is not 200, then a raw server WebSocket: a text frame "hi" and a close 1000;
      // the stream ends when the client's close arrives.
      stream.respond({ ':status': 202 });
      stream.write(Buffer.from([0x81, 2, 0x68, 0x69, 0x88, 2, 0x03, 0xe8]));
      stream.on('data', (d: Buffer) => {
        if ((d[0]! & 0x0f) === 8) stream.end();
      });
    } else if (typeof path === 'string' && path in badAnswers) {
      // A 200 whose fields the client must refuse; the RST_STREAM code its end comes with is recorded.
      stream.respond({ ':status': 200, ...badAnswers[path] });
      stream.on('close', () => resetCodes.push(stream.rstCode));
    } else if (path === '/silent') {
      /* never answers */
    } else {
      const ws = new WebSocketStream(stream);
      ws.accept({ headers }).then(
        async () => {
          for await (const m of ws) await ws.write(m.data, { binary: m.binary });
        },
        () => {},
      );
    }
  });
  port = await listen(server as unknown as net.Server);
  plain = http2.createSecureServer({ key, cert: ca });
  plain.on('stream', (stream) => stream.close());
  plainPort = await listen(plain as unknown as net.Server);
});
after(() => {
  server.close();
  plain.close();
  for (const s of serverSessions) s.destroy();
});

/** A shared session to `port` whose SETTINGS arrived (so connect() cannot see a 'remoteSettings' event). */
async function settledSession(to: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://localhost:${to}`, { ca });
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  return session;
}

/** Resolves once the server side of the newest session is closed (a client destroyed its session). */
function newestServerSessionCloses(): Promise<unknown> {
  const s = serverSessions.at(-1)!;
  return s.closed || s.destroyed ? Promise.resolve() : once(s, 'close');
}

describe('WebSocket over HTTP/2, client role', { timeout: 60_000 }, () => {
  it("a shared session whose SETTINGS already came: answered by a PING round trip, not a wait for another 'remoteSettings'", async () => {
    // connectTimeout 0: no deadline at all, so a wait for an event that never comes would hang the test.
    const session = await settledSession(port);
    const ws = await connect(`wss://localhost:${port}/`, { http2: session, connectTimeout: 0 });
    await ws.write('after settings');
    assert.equal((await ws.read()).text(), 'after settings');
    await ws.close();
    // A server that does not enable extended CONNECT, SETTINGS already in: declined at once.
    const other = await settledSession(plainPort);
    await assert.rejects(connect(`wss://localhost:${plainPort}/`, { http2: other, connectTimeout: 0 }), {
      code: 'ERR_WS_UPGRADE_DECLINED',
    });
    assert.equal(other.destroyed, false, 'a shared session is not destroyed by a failed connect');
    session.close();
    other.close();
  });

  it('connectTimeout is per caller: a second caller on a shared session gets its own ERR_WS_TIMEOUT and the session lives', async () => {
    const held: tls.TLSSocket[] = [];
    const { port: silentPort, server: silent } = await rawH2((s) => held.push(s));
    const session = http2.connect(`https://localhost:${silentPort}`, { ca });
    session.on('error', () => {});
    const aborter = new AbortController();
    const first = connect(`wss://localhost:${silentPort}/`, {
      http2: session,
      connectTimeout: 0,
      signal: aborter.signal,
    });
    first.catch(() => {});
    await assert.rejects(connect(`wss://localhost:${silentPort}/`, { http2: session, connectTimeout: 100 }), {
      code: 'ERR_WS_TIMEOUT',
    });
    assert.equal(session.destroyed, false, "a caller's timeout does not destroy a session it did not create");
    aborter.abort();
    await assert.rejects(first, { code: 'ERR_WS_ABORTED' });
    assert.equal(session.destroyed, false);
    session.destroy();
    for (const s of held) s.destroy();
    silent.close();
  });

  it('a session connect() made and that timed out is destroyed: the server sees its connection close', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    const { port: silentPort, server: silent } = await rawH2((s) => {
      closed = once(s, 'close');
    });
    await assert.rejects(connect(`wss://localhost:${silentPort}/`, { http2: true, ca, connectTimeout: 100 }), {
      code: 'ERR_WS_TIMEOUT',
    });
    await closed;
    silent.close();
  });

  it('fails at once (no deadline set) when the session closes before its SETTINGS: ERR_WS_EOF', async () => {
    const { port: p, server: s } = await rawH2((sock) => sock.end());
    await assert.rejects(connect(`wss://localhost:${p}/`, { http2: true, ca, connectTimeout: 0 }), {
      code: 'ERR_WS_EOF',
    });
    s.close();
  });

  it('fails at once (no deadline set) when the answer to the CONNECT cannot come', async () => {
    const opts = { http2: true, ca, connectTimeout: 0, handshakeTimeout: 0 } as const;
    // The stream is reset: ERR_WS_NEXT_LAYER, with an error code or with NO_ERROR.
    for (const path of ['/reset', '/reset-no-error']) {
      const session = await settledSession(port);
      await assert.rejects(connect(`wss://localhost:${port}${path}`, { ...opts, http2: session }), {
        code: 'ERR_WS_NEXT_LAYER',
      });
      assert.equal(session.destroyed, false, `${path}: the shared session lives`);
      // and still carries WebSockets
      const ws = await connect(`wss://localhost:${port}/`, { http2: session });
      await ws.close();
      session.close();
    }
    // GOAWAY that ends the session, and the session hung up: ERR_WS_EOF.
    for (const path of ['/goaway', '/hang-up']) {
      await assert.rejects(connect(`wss://localhost:${port}${path}`, opts), { code: 'ERR_WS_EOF' }, path);
      await newestServerSessionCloses();
    }
  });

  it('a shared session that got GOAWAY: the next connect on it fails at once with ERR_WS_EOF', async () => {
    const session = await settledSession(port);
    await assert.rejects(connect(`wss://localhost:${port}/goaway`, { http2: session }), { code: 'ERR_WS_EOF' });
    await assert.rejects(connect(`wss://localhost:${port}/`, { http2: session, connectTimeout: 0 }), {
      code: 'ERR_WS_EOF',
    });
    session.destroy();
  });

  it('GOAWAY instead of SETTINGS: fails at once (no deadline set), typed', async () => {
    // GOAWAY (type 7) on stream 0: last stream 0, NO_ERROR. A server's preface must be SETTINGS
    // (RFC 9113 §3.4), so node's client may take this as a protocol error: either way, at once.
    const goaway = Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const { port: p, server: s } = await rawH2((sock) => sock.write(goaway));
    await assert.rejects(
      connect(`wss://localhost:${p}/`, { http2: true, ca, connectTimeout: 0 }),
      (e: WebSocketError) => e.code === 'ERR_WS_EOF' || e.code === 'ERR_WS_NEXT_LAYER',
    );
    s.close();
  });

  it('forbidden HTTP/2 request fields and a throwing decorator fail with no connection made; uppercase names are lowercased', async () => {
    let connections = 0;
    const counter = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    const counterPort = await listen(counter);
    const url = `wss://127.0.0.1:${counterPort}/`;
    const bad: [
      string,
      Record<string, string> | undefined,
      ((h: Record<string, string | string[]>) => void) | undefined,
    ][] = [
      ['Connection', { Connection: 'close' }, undefined],
      ['Keep-Alive', { 'Keep-Alive': 'timeout=5' }, undefined],
      ['Proxy-Connection', { 'Proxy-Connection': 'keep-alive' }, undefined],
      ['Transfer-Encoding', { 'Transfer-Encoding': 'chunked' }, undefined],
      ['TE: gzip', { TE: 'gzip' }, undefined],
      ['Upgrade (decorator)', undefined, (h) => void (h.Upgrade = 'websocket')],
      ['Connection (decorator)', undefined, (h) => void (h.connection = 'keep-alive')],
      [':path (decorator)', undefined, (h) => void (h[':path'] = '/elsewhere')],
      [':authority (decorator)', undefined, (h) => void (h[':authority'] = 'evil.example')],
      ['Host not the authority (decorator)', undefined, (h) => void (h.Host = 'evil.example')],
    ];
    for (const [what, headers, decorator] of bad) {
      await assert.rejects(
        connect(url, { http2: true, ca, headers, decorator }),
        (e: WebSocketError) => e.code === 'ERR_WS_INVALID_ARGUMENT',
        what,
      );
    }
    await assert.rejects(
      connect(url, {
        http2: true,
        ca,
        decorator: () => {
          throw new Error('decorator says no');
        },
      }),
      /decorator says no/,
    );
    // A probe connection: the server sees it, and it is the only one.
    const probe = net.connect(counterPort, '127.0.0.1');
    probe.on('error', () => {});
    await once(probe, 'close');
    assert.equal(connections, 1, 'no refused connect opened a connection');
    counter.close();

    // Allowed: TE: trailers, a Host equal to the authority, uppercase names (sent lowercased).
    const seen = once(server, 'stream') as Promise<[http2.ServerHttp2Stream, http2.IncomingHttpHeaders]>;
    const ws = await connect(`wss://localhost:${port}/`, {
      http2: true,
      ca,
      headers: { TE: 'trailers', 'X-Upper-Case': 'Value' },
      decorator: (h) => void (h.Host = `localhost:${port}`),
    });
    const [, h] = await seen;
    assert.equal(h['x-upper-case'], 'Value');
    assert.equal(h.te, 'trailers');
    assert.equal(h[':authority'], `localhost:${port}`);
    assert.equal(h.host, undefined, ':authority carries the host');
    await ws.close();
  });

  it('a refused CONNECT destroys the session connect() made, never a shared one', async () => {
    await assert.rejects(connect(`wss://localhost:${port}/deny`, { http2: true, ca }), (e: ClientHandshakeError) => {
      assert.equal(e.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(e.response?.status, 403);
      assert.equal(e.response?.body.toString(), 'no');
      return true;
    });
    await newestServerSessionCloses();
    await assert.rejects(connect(`wss://localhost:${port}/silent`, { http2: true, ca, handshakeTimeout: 100 }), {
      code: 'ERR_WS_TIMEOUT',
    });
    await newestServerSessionCloses();

    const session = await settledSession(port);
    for (const [path, code] of [
      ['/deny', 'ERR_WS_UPGRADE_DECLINED'],
      ['/silent', 'ERR_WS_TIMEOUT'],
      ['/reset', 'ERR_WS_NEXT_LAYER'],
    ] as const) {
      await assert.rejects(connect(`wss://localhost:${port}${path}`, { http2: session, handshakeTimeout: 100 }), {
        code,
      });
      assert.equal(session.destroyed || session.closed, false, path);
    }
    const ws = await connect(`wss://localhost:${port}/`, { http2: session });
    await ws.write('still here');
    assert.equal((await ws.read()).text(), 'still here');
    await ws.close();
    session.close();
  });

  it('RFC 6455 §4.1 over RFC 8441: a 200 naming a subprotocol or extension not offered (an empty subprotocol too) fails as over HTTP/1.1, and the stream is reset with CANCEL (§5: where TCP would be reset)', async () => {
    const session = await settledSession(port);
    for (const [path, code] of [
      ['/protocol-empty', 'ERR_WS_BAD_SUBPROTOCOL'],
      ['/protocol-other', 'ERR_WS_BAD_SUBPROTOCOL'],
      ['/extension-not-offered', 'ERR_WS_BAD_EXTENSION'],
    ] as const) {
      const closed = once(server, 'stream').then(([stream]) => {
        const s = stream as http2.ServerHttp2Stream;
        return s.closed ? undefined : once(s, 'close');
      });
      await assert.rejects(
        connect(`wss://localhost:${port}${path}`, { http2: session, protocols: ['a'] }),
        { code },
        path,
      );
      await closed;
    }
    const cancel = http2.constants.NGHTTP2_CANCEL;
    assert.deepEqual(resetCodes, [cancel, cancel, cancel]);
    assert.equal(session.destroyed || session.closed, false, 'the shared session lives');
    session.close();
  });

  it('any 2xx answer to the extended CONNECT opens the WebSocket (202 here)', async () => {
    const ws = await connect(`wss://localhost:${port}/202`, { http2: true, ca });
    assert.equal((await ws.read()).text(), 'hi');
    const info = await ws.whenClosed();
    assert.equal(info.code, 1000);
    assert.equal(info.initiatedBy, 'remote');
  });
});
