/**
 * WebSocket over HTTP/2 (RFC 8441) against hostile and faulty peers, over real node:http2 sessions on
 * 127.0.0.1: a declined answer whose session fails while its body is read, a stream the peer reset
 * (or whose session ended) before `accept()` was called, a Content-Length on the extended CONNECT or
 * on its 200, many extended CONNECTs waiting on one shared session, and DATA before the answer's HEADERS (which
 * node's client takes as a connection error it tells nobody of: only handshakeTimeout ends that wait).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { type ClientHandshakeError, type WebSocketError, WebSocketStream, connect } from '../../src/index.js';
import { h2Frame } from '../support/frames.js';
import { type After, type RawH2Frame, ca, connectHeaders, h2Server, rawH2c } from '../support/h2-server.js';

/** A client session whose SETTINGS arrived; destroyed after the test. */
async function sessionTo(t: After, port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  session.on('error', () => {});
  t.after(() => session.destroy());
  await once(session, 'remoteSettings');
  return session;
}

describe('WebSocket over HTTP/2, client role, against a faulty server', { timeout: 60_000 }, () => {
  it('a 403 whose session fails (GOAWAY INTERNAL_ERROR) while its body is read: ERR_WS_UPGRADE_DECLINED with what came, never an uncaught stream error', async (t) => {
    const port = await h2Server(t, (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 403 });
      stream.write('partial');
      // The PING's answer comes after the client read the 403 and the body so far: it is reading the rest then.
      stream.session!.ping(() => stream.session!.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR));
    });
    // On a session connect() makes, and on a shared one (whose own 'error' the caller handles).
    const shared = await sessionTo(t, port);
    for (const http2Option of [true, shared] as const) {
      const err = await connect(`wss://localhost:${port}/`, { http2: http2Option, ca }).then(
        () => assert.fail('connect() opened'),
        (e: ClientHandshakeError) => e,
      );
      assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(err.response?.status, 403);
      assert.equal(err.response?.body.toString(), 'partial');
    }
  });

  it("DATA before the answer's HEADERS: node's client answers GOAWAY PROTOCOL_ERROR and tells nothing (nor the 200 after it), so only handshakeTimeout ends connect(); the session it made goes", async (t) => {
    // A pin of node:http2's behaviour (Node 20), which ws-stream cannot change: nghttp2 takes DATA on a stream whose
    // response has not begun as a connection error ("DATA: stream not opened"; RFC 9113 §8.1.1 calls for a stream
    // error, §5.4.1 lets an endpoint make it a connection error), sends GOAWAY and reads nothing more, but node emits
    // nothing on the session or the stream ('error', 'frameError', 'goaway' and 'close' stay silent, also with
    // maxSessionInvalidFrames 0) and keeps the connection open, which §5.4.1 says to close. Should node ever tell it,
    // connect() can fail at once here.
    const goaways: Buffer[] = [];
    let goneAway!: () => void;
    const goaway = new Promise<void>((resolve) => {
      goneAway = resolve;
    });
    let connectionClosed!: Promise<unknown>;
    const port = await rawH2c(t, (f, socket) => {
      connectionClosed ??= once(socket, 'close');
      if (f.type === 1 && f.stream === 1) {
        socket.write(h2Frame(0, 0, 1, Buffer.from([0x81, 2, 0x68, 0x69]))); // a WebSocket frame before any :status
        socket.write(h2Frame(1, 4, 1, Buffer.from([0x88]))); // then HEADERS :status 200 (static table index 8)
      }
      if (f.type === 7) {
        goaways.push(f.payload);
        goneAway();
      }
    });
    // The deadline on node's mocked clock: it passes only when ticked.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const outcome = connect(`ws://127.0.0.1:${port}/`, { http2: true, handshakeTimeout: 1000 }).then(
      () => 'open',
      (e: WebSocketError) => e.code,
    );
    await goaway;
    assert.equal(goaways[0]!.readUInt32BE(0), 0, 'last stream 0: the CONNECT was not processed');
    assert.equal(goaways[0]!.readUInt32BE(4), http2.constants.NGHTTP2_PROTOCOL_ERROR);
    t.mock.timers.tick(1000);
    assert.equal(await outcome, 'ERR_WS_TIMEOUT', 'nothing but the deadline ended the wait');
    await connectionClosed;
  });
});

describe('WebSocket over HTTP/2, client role, many waits on one shared session', { timeout: 60_000 }, () => {
  it('a GOAWAY with an error code that leaves a waiting extended CONNECT out: ERR_WS_EOF for both waits, never an uncaught stream error', async (t) => {
    let first: http2.ServerHttp2Stream | undefined;
    let firstSeen!: () => void;
    const seen = new Promise<void>((resolve) => {
      firstSeen = resolve;
    });
    const port = await h2Server(t, (stream) => {
      stream.on('error', () => {});
      if (first === undefined) {
        first = stream; // never answered
        firstSeen();
        return;
      }
      // The second CONNECT is left out: the last stream processed is the first.
      stream.session!.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR, first.id);
    });
    const session = await sessionTo(t, port);
    const waits = [connect(`wss://localhost:${port}/`, { http2: session })];
    await seen;
    waits.push(connect(`wss://localhost:${port}/`, { http2: session }));
    for (const wait of waits) await assert.rejects(wait, { code: 'ERR_WS_EOF' });
  });

  it("a declined answer that ended: our side ends with END_STREAM, no RST_STREAM behind it (it would reach a closed stream, and count towards nghttp2's limit of resets, past which it ends the session)", async (t) => {
    const frames: RawH2Frame[] = [];
    let pinged!: () => void;
    const ping = new Promise<void>((resolve) => {
      pinged = resolve;
    });
    let clientEnded!: () => void;
    const ended = new Promise<void>((resolve) => {
      clientEnded = resolve;
    });
    // SETTINGS with ENABLE_CONNECT_PROTOCOL, then 403 and "no" with END_STREAM on stream 1.
    const port = await rawH2c(t, (f, socket) => {
      frames.push(f);
      if (f.type === 1 && f.stream === 1) {
        // HEADERS :status 403 (a literal with the static table's name 8), then DATA "no" with END_STREAM.
        socket.write(h2Frame(1, 4, 1, Buffer.from([0x08, 3, ...Buffer.from('403')])));
        socket.write(h2Frame(0, 1, 1, Buffer.from('no')));
      }
      // The client's end of stream 1: END_STREAM (DATA with flag 1) or RST_STREAM.
      if (f.stream === 1 && (f.type === 3 || (f.type === 0 && (f.flags & 1) === 1))) clientEnded();
      if (f.type === 6 && (f.flags & 1) === 0) pinged();
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    t.after(() => session.destroy());
    await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { http2: session }), (e: ClientHandshakeError) => {
      assert.equal(e.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(e.response?.body.toString(), 'no');
      return true;
    });
    // Once the client ended stream 1, a PING comes after every frame it sent on it.
    await ended;
    session.ping(() => {});
    await ping;
    const onStream1 = frames.filter((f) => f.stream === 1).map((f) => `${f.type}/${f.flags & 1}`);
    assert.deepEqual(onStream1, ['1/0', '0/1'], 'HEADERS, then DATA with END_STREAM; no RST_STREAM (type 3)');
  });
});

describe('WebSocket over HTTP/2, server role, against a faulty client', { timeout: 60_000 }, () => {
  it("accept() on a stream the client reset before it was called: ERR_WS_NEXT_LAYER (the reset), not the caller's ERR_WS_INVALID_ARGUMENT; the session goes on", async (t) => {
    let settle!: (outcome: Promise<WebSocketError | 'open'>) => void;
    const outcome = new Promise<WebSocketError | 'open'>((resolve) => {
      settle = resolve;
    });
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      if (headers[':path'] === '/') {
        // A later stream, accepted at once: it echoes, as the session is not harmed.
        ws.accept({ headers }).then(async () => {
          for await (const m of ws) await ws.write(m.data);
        });
        return;
      }
      // accept() only once the stream is gone (an application that accepts after an await).
      settle(
        (stream.closed ? Promise.resolve() : once(stream, 'close')).then(() =>
          ws.accept({ headers }).then(
            () => 'open' as const,
            (e: WebSocketError) => e,
          ),
        ),
      );
    });
    const session = await sessionTo(t, port);
    const req = session.request(connectHeaders(port, { ':path': '/reset' }));
    req.on('error', () => {});
    req.close(http2.constants.NGHTTP2_CANCEL);
    const err = await outcome;
    assert.notEqual(err, 'open');
    assert.equal((err as WebSocketError).code, 'ERR_WS_NEXT_LAYER');
    assert.equal(((err as WebSocketError).cause as { code?: string }).code, 'ERR_HTTP2_STREAM_ERROR');
    const ws = await connect(`wss://localhost:${port}/`, { http2: session });
    await ws.write('the session goes on');
    assert.equal((await ws.read()).text(), 'the session goes on');
    await ws.close();
  });

  it('accept() on a stream whose whole session ended before it was called: ERR_WS_EOF', async (t) => {
    let settle!: (outcome: Promise<WebSocketError | 'open'>) => void;
    const outcome = new Promise<WebSocketError | 'open'>((resolve) => {
      settle = resolve;
    });
    let streamSeen!: () => void;
    const seen = new Promise<void>((resolve) => {
      streamSeen = resolve;
    });
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      settle(
        once(stream, 'close').then(() =>
          ws.accept({ headers }).then(
            () => 'open' as const,
            (e: WebSocketError) => e,
          ),
        ),
      );
      streamSeen();
    });
    const session = await sessionTo(t, port);
    session.request(connectHeaders(port)).on('error', () => {});
    await seen;
    session.destroy();
    const err = await outcome;
    assert.equal((err as WebSocketError).code, 'ERR_WS_EOF');
  });

  it('RFC 9110 §9.3.6: an extended CONNECT with a Content-Length (0 too) is answered 400 (node:http2 would reset the stream at the first frame past it), the session goes on', async (t) => {
    const outcomes: Promise<string>[] = [];
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      outcomes.push(
        ws.accept({ headers }).then(
          async () => {
            for await (const m of ws) await ws.write(m.data);
            return 'open';
          },
          (e: WebSocketError) => e.code,
        ),
      );
    });
    const session = await sessionTo(t, port);
    for (const length of ['0', '5']) {
      const req = session.request(connectHeaders(port, { 'content-length': length }));
      req.on('error', () => {});
      const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(headers[':status'], 400, `content-length: ${length}`);
      req.close();
      assert.equal(await outcomes.at(-1), 'ERR_WS_BAD_REQUEST', `content-length: ${length}`);
    }
    const ws = await connect(`wss://localhost:${port}/`, { http2: session });
    await ws.write('no content-length');
    assert.equal((await ws.read()).text(), 'no content-length');
    await ws.close();
  });

  it("RFC 9110 §8.6: a decorator's Content-Length on the 200 is a field a server must not send (500, ERR_WS_INVALID_ARGUMENT); connect()'s on its request is refused before any stream, as a server would reset the stream at its first frame", async (t) => {
    const outcomes: Promise<string>[] = [];
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      outcomes.push(
        ws.accept({ headers }, { decorator: (h) => void (h['Content-Length'] = '0') }).then(
          () => 'open',
          (e: WebSocketError) => e.code,
        ),
      );
    });
    const session = await sessionTo(t, port);
    await assert.rejects(connect(`wss://localhost:${port}/`, { http2: session }), (e: ClientHandshakeError) => {
      assert.equal(e.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.equal(e.response?.status, 500);
      return true;
    });
    assert.equal(await outcomes[0], 'ERR_WS_INVALID_ARGUMENT');
    // The client's own request: refused before any stream is opened.
    await assert.rejects(connect(`wss://localhost:${port}/`, { http2: session, headers: { 'Content-Length': '0' } }), {
      code: 'ERR_WS_INVALID_ARGUMENT',
    });
    assert.equal(outcomes.length, 1, 'no second stream reached the server');
  });
});

describe('many extended CONNECTs on one shared session', { timeout: 60_000 }, () => {
  it('20 connect() calls waiting at once on one session: no MaxListenersExceededWarning (one GOAWAY watch per session), and none left after', async (t) => {
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      ws.accept({ headers }).then(async () => {
        for await (const m of ws) await ws.write(m.data);
      });
    });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const session = await sessionTo(t, port);
    const before = session.listenerCount('goaway');
    const streams = await Promise.all(
      Array.from({ length: 20 }, () => connect(`wss://localhost:${port}/`, { http2: session })),
    );
    // A warning is emitted on the next tick: the round trips below come after it.
    for (const [i, ws] of streams.entries()) {
      await ws.write(`ws ${i}`);
      assert.equal((await ws.read()).text(), `ws ${i}`);
    }
    await Promise.all(streams.map((ws) => ws.close()));
    assert.deepEqual(
      warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
      [],
    );
    assert.equal(session.listenerCount('goaway'), before, 'no GOAWAY listener left behind');
  });
});
