/**
 * RFC 8441 §5: over HTTP/2, TCP's FIN is END_STREAM and TCP's RST is RST_STREAM with CANCEL. A
 * WebSocket that gives up on its stream (a close handshake the peer never answers, an abort) resets
 * it with CANCEL, in both roles; node's own destroy() would send NO_ERROR, which RFC 9113 §8.1 gives
 * to a server that has answered the whole request. A clean close still ends the stream with END_STREAM.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocketStream, connect } from '../../src/index.js';
import { closeFrame, parseFrames } from '../support/frames.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${n}`, import.meta.url)));
const ca = fixture('cert.pem');
type After = { after(fn: () => unknown): void };

/** An HTTP/2 server with extended CONNECT, handing each stream to `onStream`; closed after the test. */
async function h2Server(
  t: After,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<number> {
  const server = http2.createSecureServer({
    key: fixture('key.pem'),
    cert: ca,
    settings: { enableConnectProtocol: true },
  });
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  t.after(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** An extended CONNECT from node's own client (no WebSocket on this side): the stream and its session. */
async function rawConnect(port: number): Promise<{ session: http2.ClientHttp2Session; req: http2.ClientHttp2Stream }> {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  const req = session.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/',
      ':authority': `localhost:${port}`,
      'sec-websocket-version': '13',
    },
    { endStream: false },
  );
  req.on('error', () => {});
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  assert.equal(headers[':status'], 200);
  return { session, req };
}

describe('RFC 8441 §5: RST_STREAM CANCEL where TCP would reset, END_STREAM where it would end', {
  timeout: 60_000,
}, () => {
  it('client role: a close the server never answers times out, and the stream is reset with CANCEL', async (t) => {
    let serverStream: http2.ServerHttp2Stream | undefined;
    const port = await h2Server(t, (stream) => {
      serverStream = stream;
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.resume(); // reads the client's close frame and never answers it
    });
    const ws = await connect(`wss://localhost:${port}/`, { http2: true, ca, closeTimeout: 100 });
    const closed = once(serverStream!, 'close');
    await assert.rejects(ws.close({ code: 1000 }), { code: 'ERR_WS_TIMEOUT' });
    await closed;
    assert.equal(serverStream!.rstCode, http2.constants.NGHTTP2_CANCEL);
  });

  it('server role: a close the client never answers times out, and the stream is reset with CANCEL; one answered ends with END_STREAM', async (t) => {
    const outcomes: Promise<string>[] = [];
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream, { closeTimeout: 100 });
      outcomes.push(
        ws.accept({ headers }).then(() =>
          ws.close({ code: 1001 }).then(
            () => 'clean',
            (e: { code: string }) => e.code,
          ),
        ),
      );
    });

    const silent = await rawConnect(port);
    silent.req.resume(); // takes the server's close frame, never answers
    await once(silent.req, 'close');
    assert.equal(await outcomes[0], 'ERR_WS_TIMEOUT');
    assert.equal(silent.req.rstCode, http2.constants.NGHTTP2_CANCEL);
    silent.session.destroy();

    const polite = await rawConnect(port);
    const got: Buffer[] = [];
    polite.req.on('data', (d: Buffer) => {
      got.push(d);
      // The server's close frame: answer it and end our side, as a client ends TCP after the handshake.
      if (parseFrames(Buffer.concat(got)).frames.some((f) => f.opcode === 8)) polite.req.end(closeFrame(1001));
    });
    const ended = once(polite.req, 'end');
    await once(polite.req, 'close');
    await ended;
    assert.equal(await outcomes[1], 'clean');
    assert.notEqual(polite.req.rstCode, http2.constants.NGHTTP2_CANCEL);
    polite.session.destroy();
  });
});
