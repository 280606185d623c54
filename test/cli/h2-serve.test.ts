/**
 * `ws-stream serve --tls` (a child process) over HTTP/2 and HTTP/1.1-over-TLS, with real sessions:
 * the page path answers GET and HEAD, other methods 405 with Allow, other paths 404, each with
 * Content-Length; an HTTP/2 session idle after its streams past --handshake-timeout gets GOAWAY.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';
import { requestHead } from '../support/frames.js';
import { exchange } from '../support/peer.js';

const fixturePath = (n: string) => fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url));
const ca = readFileSync(fixturePath('cert.pem'));

type Server = Awaited<ReturnType<typeof startServer>>;

/** One request on `session`: status, headers, body (as bytes). */
async function h2Request(
  session: http2.ClientHttp2Session,
  method: string,
  path: string,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }> {
  const req = session.request({ ':method': method, ':path': path }, { endStream: true });
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  await once(req, 'end');
  return { status: Number(headers[':status']), headers, body: Buffer.concat(parts) };
}

/** One HTTP/1.1-over-TLS request. */
async function h1Request(
  port: number,
  method: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const req = https.request({ host: '127.0.0.1', port, method, path, ca, servername: 'localhost', agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  const parts: Buffer[] = [];
  res.on('data', (d: Buffer) => parts.push(d));
  await once(res, 'end');
  return { status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) };
}

describe('ws-stream serve --tls --handshake-timeout 1: the HTTP front over HTTP/2 and HTTP/1.1', {
  timeout: 60_000,
}, () => {
  let server: Server;
  before(async () => {
    server = await startServer([
      '--tls',
      '--cert',
      fixturePath('cert.pem'),
      '--key',
      fixturePath('key.pem'),
      '--handshake-timeout',
      '1',
    ]);
  });
  after(() => server.stop());

  it('GET and HEAD of the page, 405 with Allow: GET, HEAD for other methods on it, 404 elsewhere, 400 for a fragment; Content-Length on each', async () => {
    const session = http2.connect(`https://localhost:${server.port}`, { ca });
    session.on('error', () => {});
    const get = await h2Request(session, 'GET', '/');
    const pageLength = get.body.length;
    assert.equal(get.status, 200);
    assert.match(String(get.headers['content-type']), /^text\/html/);
    assert.ok(pageLength > 0);
    const fragment = 'the request target has a fragment (#...), which none may\n';
    const cases: [string, string, number, Buffer | null][] = [
      ['GET', '/', 200, get.body],
      ['GET', '/index.html?x=1', 200, get.body],
      ['HEAD', '/', 200, Buffer.alloc(0)],
      ['POST', '/', 405, Buffer.from('method not allowed\n')],
      ['PUT', '/index.html', 405, Buffer.from('method not allowed\n')],
      ['DELETE', '/', 405, Buffer.from('method not allowed\n')],
      ['GET', '/nope', 404, Buffer.from('not found\n')],
      ['POST', '/nope', 404, Buffer.from('not found\n')],
      ['HEAD', '/nope', 404, Buffer.alloc(0)],
      // RFC 9112 §3.2 (and RFC 9113 §8.3.1's :path): no request target has a fragment.
      ['GET', '/#top', 400, Buffer.from(fragment)],
      ['HEAD', '/index.html#top', 400, Buffer.alloc(0)],
    ];
    for (const [method, path, status, body] of cases) {
      for (const version of ['HTTP/2', 'HTTP/1.1']) {
        const what = `${version} ${method} ${path}`;
        const res =
          version === 'HTTP/2' ? await h2Request(session, method, path) : await h1Request(server.port, method, path);
        assert.equal(res.status, status, what);
        assert.deepEqual(res.body, body, what);
        // HEAD has GET's headers: the length of what GET would send.
        const headLength = status === 200 ? pageLength : status === 400 ? fragment.length : 'not found\n'.length;
        const length = method === 'HEAD' ? headLength : body!.length;
        assert.equal(res.headers['content-length'], String(length), what);
        assert.equal(res.headers.allow, status === 405 ? 'GET, HEAD' : undefined, what);
      }
    }
    session.close();
  });

  it('RFC 9110 §15.5.15 over HTTP/1.1-over-TLS: a request line over 16 KiB is 414 (page, upgrade, behind a pipelined request) though it spans two TLS records; a long field after a short line is 431', async () => {
    const target = `/${'a'.repeat(17_000)}`;
    const page = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
    const cases: [string, string[]][] = [
      [`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, ['414']],
      [requestHead({}, `GET ${target} HTTP/1.1`), ['414']],
      [`${page}GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, ['200', '414']],
      [`GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: h\r\nX-A: ${'b'.repeat(9000)}\r\n\r\n`, ['431']],
      [`${page}GET / HTTP/1.1\r\nHost: h\r\nX-A: ${'b'.repeat(17_000)}\r\n\r\n`, ['200', '431']],
    ];
    for (const [request, statuses] of cases) {
      const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' });
      const response = await exchange(socket, request);
      const got = [...response.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
      assert.deepEqual(got, statuses, `${JSON.stringify(request.slice(0, 40))}: ${response.slice(0, 200)}`);
      if (statuses.at(-1) === '414') assert.match(response, /\r\n\r\n[^\r\n]*: request line over 16384 bytes\n$/);
    }
  });

  it('an HTTP/2 session idle past --handshake-timeout after its streams is closed with GOAWAY; one with a WebSocket open is not', async () => {
    const busy = http2.connect(`https://localhost:${server.port}`, { ca });
    busy.on('error', () => {});
    const ws = await connect(`wss://localhost:${server.port}/`, { http2: busy });
    const idle = http2.connect(`https://localhost:${server.port}`, { ca });
    idle.on('error', () => {});
    const goaway = once(idle, 'goaway') as Promise<[number, number]>;
    const closed = once(idle, 'close');
    // Its request finishes; then it does nothing.
    assert.equal((await h2Request(idle, 'GET', '/')).status, 200);
    const [code, last] = await goaway;
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(last, 1, 'the page request was its stream 1');
    await closed;
    // The busy session's deadline passed as well (it connected first): its WebSocket keeps it.
    // And the server outlived sessions closed under it (their sockets unbound from the session).
    assert.equal(server.proc.exitCode, null);
    assert.equal(busy.closed || busy.destroyed, false);
    await ws.write('still open');
    assert.equal((await ws.read()).text(), 'still open');
    await ws.close();
    busy.close();
  });
});
