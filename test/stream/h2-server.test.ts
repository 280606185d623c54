/**
 * WebSocket over HTTP/2 (RFC 8441), server role, with real node:http2 sessions over TLS on
 * 127.0.0.1: a decorator's forbidden field, refused streams the client keeps open, a wrong version,
 * END_STREAM after the close handshake, and GOAWAY while a WebSocket is open.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocketStream, connect, type WebSocketError } from '../../src/index.js';
import type { ResponseHeaders } from '../../src/options.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
const ca = fixture('cert.pem');

let server: http2.Http2SecureServer;
let port = 0;
/** Each accept's outcome, in order: 'open' or the error code. */
const outcomes: string[] = [];
let onOutcome: () => void = () => {};
const sessions: http2.ServerHttp2Session[] = [];

/** What the decorator of a path sets (a field HTTP/2 forbids, or a value node will not send). */
const decorations: Record<string, (h: ResponseHeaders) => void> = {
  '/decorate-connection': (h) => void (h.Connection = 'keep-alive'),
  '/decorate-te': (h) => void (h.TE = 'gzip'),
  '/decorate-upgrade': (h) => void (h.Upgrade = 'websocket'),
  '/decorate-newline': (h) => void (h['X-Bad'] = 'a\r\nInjected: yes'),
  '/decorate-single-value': (h) => void (h['Content-Type'] = ['text/a', 'text/b']),
};

before(async () => {
  server = http2.createSecureServer({ key: fixture('key.pem'), cert: ca, settings: { enableConnectProtocol: true } });
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const ws = new WebSocketStream(stream);
    ws.accept({ headers }, { decorator: decorations[path] }).then(
      async () => {
        outcomes.push('open');
        onOutcome();
        // GOAWAY naming this stream as the last one: it goes on, no new stream is taken.
        if (path === '/goaway-after-open') stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
        if (path === '/server-closes') {
          await ws.close({ code: 1000, reason: 'server done' });
          return;
        }
        try {
          for await (const m of ws) await ws.write(m.data, { binary: m.binary });
        } catch {
          /* ended */
        }
      },
      (e: WebSocketError) => {
        outcomes.push(e.code);
        onOutcome();
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.close();
  for (const s of sessions) s.destroy();
});

function nextOutcome(): Promise<string> {
  const n = outcomes.length;
  return new Promise((resolve) => {
    if (outcomes.length > n) return resolve(outcomes[n]!);
    onOutcome = () => resolve(outcomes[n]!);
  });
}

function sessionTo(): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  session.on('error', () => {});
  return once(session, 'remoteSettings').then(() => session);
}

/** Everything a stream receives until its end, and its response headers. */
async function readAll(req: http2.ClientHttp2Stream): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => {
    body += d;
  });
  await once(req, 'end');
  return { headers, body };
}

describe('WebSocket over HTTP/2, server role', { timeout: 60_000 }, () => {
  it("a decorator's forbidden field or a value node will not send: 500 on that stream, accept rejects typed, the session goes on", async () => {
    const session = await sessionTo();
    for (const path of Object.keys(decorations)) {
      const outcome = nextOutcome();
      await assert.rejects(
        connect(`wss://localhost:${port}${path}`, { http2: session }),
        (
          e: WebSocketError & {
            response?: { status: number; headers: Record<string, unknown> };
          },
        ) => {
          assert.equal(e.code, 'ERR_WS_UPGRADE_DECLINED', path);
          assert.equal(e.response?.status, 500, path);
          assert.equal(e.response?.headers.injected, undefined, 'no field injected into the 500 either');
          return true;
        },
      );
      assert.equal(await outcome, 'ERR_WS_INVALID_ARGUMENT', path);
    }
    const ws = await connect(`wss://localhost:${port}/`, { http2: session });
    await ws.write('after 500s');
    assert.equal((await ws.read()).text(), 'after 500s');
    await ws.close();
    assert.equal(session.destroyed || session.closed, false);
    session.close();
  });

  it('sec-websocket-version 8: 400 with sec-websocket-version: 13; a client that keeps its side open is reset with NO_ERROR', async () => {
    const session = await sessionTo();
    const outcome = nextOutcome();
    const req = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/',
      ':authority': `localhost:${port}`,
      'sec-websocket-version': '8',
    });
    // The client never ends its side of the stream.
    const closed = once(req, 'close');
    const { headers, body } = await readAll(req);
    assert.equal(headers[':status'], 400);
    assert.equal(headers['sec-websocket-version'], '13');
    assert.equal(headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(headers.connection, undefined);
    assert.match(body, /13/);
    assert.equal(await outcome, 'ERR_WS_BAD_SEC_VERSION');
    await closed;
    assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'RST_STREAM NO_ERROR (RFC 9113 §8.1)');
    assert.equal(session.destroyed || session.closed, false, 'the session goes on');
    const ws = await connect(`wss://localhost:${port}/`, { http2: session });
    await ws.close();
    session.close();
  });

  it("END_STREAM after the close handshake (either side's) ends that stream only: the session and its other WebSockets go on", async () => {
    const session = await sessionTo();
    const staying = await connect(`wss://localhost:${port}/`, { http2: session });
    const mine = await connect(`wss://localhost:${port}/`, { http2: session });
    await mine.close({ code: 1000, reason: 'client done' });
    assert.deepEqual(mine.closeInfo, { initiatedBy: 'local', code: 1000, reason: 'client done', wasClean: true });
    const theirs = await connect(`wss://localhost:${port}/server-closes`, { http2: session });
    const info = await theirs.whenClosed();
    assert.deepEqual(info, { initiatedBy: 'remote', code: 1000, reason: 'server done', wasClean: true });
    assert.equal(session.destroyed || session.closed, false);
    await staying.write('still');
    assert.equal((await staying.read()).text(), 'still');
    const fresh = await connect(`wss://localhost:${port}/`, { http2: session });
    await fresh.write('new');
    assert.equal((await fresh.read()).text(), 'new');
    await fresh.close();
    await staying.close();
    assert.equal(session.destroyed, false);
    session.close();
  });

  it('after the server sends GOAWAY(last stream = the WebSocket), that WebSocket works to its clean close; no new stream is taken', async () => {
    const session = await sessionTo();
    const goaway = once(session, 'goaway') as Promise<[number, number]>;
    const ws = await connect(`wss://localhost:${port}/goaway-after-open`, { http2: session });
    const [code, last] = await goaway;
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    for (const m of ['one', 'two', 'x'.repeat(70000)]) {
      await ws.write(m);
      assert.equal((await ws.read()).text(), m);
    }
    await assert.rejects(connect(`wss://localhost:${port}/`, { http2: session }), { code: 'ERR_WS_EOF' });
    await ws.close({ code: 1000, reason: 'bye' });
    assert.deepEqual(ws.closeInfo, { initiatedBy: 'local', code: 1000, reason: 'bye', wasClean: true });
    assert.equal(last, 1, 'the WebSocket was stream 1');
    // The session closes by itself once its last stream is done (node closes on a NO_ERROR GOAWAY).
    if (!session.destroyed) await once(session, 'close');
  });
});
