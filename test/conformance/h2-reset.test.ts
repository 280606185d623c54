/**
 * RFC 8441 §5: over HTTP/2, TCP's FIN is END_STREAM and TCP's RST is RST_STREAM with CANCEL. A
 * WebSocket that gives up on its stream (a close handshake the peer never answers, an abort) resets
 * it with CANCEL, in both roles; node's own destroy() would send NO_ERROR, which RFC 9113 §8.1 gives
 * to a server that has answered the whole request. A clean close still ends the stream with END_STREAM.
 * The other way, a peer's RST_STREAM (any error code) is reported as a TCP reset is, ERR_WS_NEXT_LAYER
 * with close code 1006, and its END_STREAM without a close frame as a TCP FIN is, ERR_WS_EOF: node
 * emits 'end' for both, the reset ('aborted', rstCode) only after it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { type DuplexLayer, type WebSocketError, WebSocketStream, connect } from '../../src/index.js';
import { closeFrame, parseFrames, text } from '../support/frames.js';
import { ca, connectHeaders, h2Server } from '../support/h2-server.js';

/** An extended CONNECT from node's own client (no WebSocket on this side): the stream and its session. */
async function rawConnect(port: number): Promise<{ session: http2.ClientHttp2Session; req: http2.ClientHttp2Stream }> {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  const req = session.request(connectHeaders(port), { endStream: false });
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

/** How the peer leaves an open WebSocket's stream: RST_STREAM with an error code, or END_STREAM. */
const leavings: {
  name: string;
  leave: (s: http2.ServerHttp2Stream | http2.ClientHttp2Stream) => void;
  code: string;
}[] = [
  ...(['NGHTTP2_NO_ERROR', 'NGHTTP2_CANCEL', 'NGHTTP2_PROTOCOL_ERROR', 'NGHTTP2_INTERNAL_ERROR'] as const).map(
    (name) => ({
      name: `RST_STREAM ${name.slice(8)}`,
      leave: (s: http2.ServerHttp2Stream | http2.ClientHttp2Stream) => s.close(http2.constants[name]),
      code: 'ERR_WS_NEXT_LAYER',
    }),
  ),
  { name: 'END_STREAM without a close frame', leave: (s) => s.end(), code: 'ERR_WS_EOF' },
];

/** What the WebSocket reports once its peer left: the pending read's error, and whenClosed(). */
async function outcome(ws: WebSocketStream, read: Promise<unknown>) {
  const err = (await read.then(
    () => assert.fail('the read completed'),
    (e: WebSocketError) => e,
  )) as WebSocketError & { cause?: { code?: unknown } };
  const closed = await ws.whenClosed();
  return {
    read: err.code,
    cause: err.code === 'ERR_WS_NEXT_LAYER' ? err.cause?.code : undefined,
    closed: { code: closed.code, wasClean: closed.wasClean, error: closed.error?.code },
  };
}

const expected = (code: string) => ({
  read: code,
  cause: code === 'ERR_WS_NEXT_LAYER' ? 'ERR_HTTP2_STREAM_ERROR' : undefined,
  closed: { code: 1006, wasClean: false, error: code },
});

describe("RFC 8441 §5: a peer's RST_STREAM on an open WebSocket is a reset (ERR_WS_NEXT_LAYER, 1006), not an end", {
  timeout: 60_000,
}, () => {
  for (const { name, leave, code } of leavings) {
    it(`server role: ${name} while a read waits: ${code}`, async (t) => {
      const opened: Promise<{ ws: WebSocketStream; read: Promise<unknown> }>[] = [];
      const port = await h2Server(t, (stream, headers) => {
        const ws = new WebSocketStream(stream);
        opened.push(
          ws.accept({ headers }).then(async () => {
            // One message first: the WebSocket is open and reading when the peer leaves.
            assert.equal((await ws.read()).data.toString(), 'hi');
            return { ws, read: ws.read() };
          }),
        );
      });
      const client = await rawConnect(port);
      client.req.write(text('hi'));
      // The server answered the CONNECT: its 'stream' handler has run.
      const { ws, read } = await opened[0]!;
      leave(client.req);
      assert.deepEqual(await outcome(ws, read), expected(code));
      client.session.destroy();
    });

    it(`client role: ${name} while a read waits: ${code}`, async (t) => {
      let serverStream: http2.ServerHttp2Stream | undefined;
      const port = await h2Server(t, (stream) => {
        serverStream = stream;
        stream.on('error', () => {});
        stream.respond({ ':status': 200 });
        stream.write(text('hi', { mask: false }));
        stream.resume();
      });
      const ws = await connect(`wss://localhost:${port}/`, { http2: true, ca });
      assert.equal((await ws.read()).data.toString(), 'hi');
      const read = ws.read();
      leave(serverStream!);
      assert.deepEqual(await outcome(ws, read), expected(code));
    });
  }

  it('server role: RST_STREAM CANCEL instead of the answer to our close frame: close() fails with ERR_WS_NEXT_LAYER, as for a TCP reset', async (t) => {
    const closing: Promise<WebSocketError | undefined>[] = [];
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      closing.push(
        ws.accept({ headers }).then(() =>
          ws.close({ code: 1000 }).then(
            () => undefined,
            (e: WebSocketError) => e,
          ),
        ),
      );
    });
    const client = await rawConnect(port);
    const got: Buffer[] = [];
    client.req.on('data', (d: Buffer) => {
      got.push(d);
      if (parseFrames(Buffer.concat(got)).frames.some((f) => f.opcode === 8))
        client.req.close(http2.constants.NGHTTP2_CANCEL);
    });
    await once(client.req, 'close');
    const err = await closing[0];
    assert.equal(err?.code, 'ERR_WS_NEXT_LAYER');
    client.session.destroy();
  });
});

describe('RFC 8441 §5: an END_STREAM we destroy the stream behind (before it is told) is still an end', {
  timeout: 60_000,
}, () => {
  it("server role: the peer's END_STREAM inside a message, then our own destroy in the same turn: told as that end", async (t) => {
    const opened: Promise<{ ws: WebSocketStream; read: Promise<unknown> }>[] = [];
    const port = await h2Server(t, (stream, headers) => {
      const ws = new WebSocketStream(stream);
      opened.push(
        ws.accept({ headers }).then(async () => {
          assert.equal((await ws.read()).data.toString(), 'hi');
          // After the layer's own 'end' listener (which tells the end on the next turn, as a reset may
          // follow it): we give up on the stream before then. Our reset is not the peer's; its end stands.
          stream.once('end', () => ws.nextLayer.destroy());
          return { ws, read: ws.read() };
        }),
      );
    });
    const client = await rawConnect(port);
    client.req.write(text('hi'));
    const { ws, read } = await opened[0]!;
    client.req.end(text('hel', { fin: false })); // the end comes inside a message: the error says so
    assert.deepEqual(await outcome(ws, read), expected('ERR_WS_EOF'));
    const err = await read.catch((e: WebSocketError) => e);
    assert.match((err as WebSocketError).message, /inside a message/);
    client.session.destroy();
  });
});

/**
 * Messages enough to fill a WebSocket whose `readHighWaterMark` is 1 KiB, so that it pauses its stream with the
 * rest unread in it (within HTTP/2's initial window of 64 KiB).
 */
const backlog = Array.from({ length: 6 }, () => 'x'.repeat(8000));

/** What a WebSocket nobody read from reports once read after its peer left: how many messages, then the error. */
async function readAll(ws: WebSocketStream): Promise<{ read: number; outcome: Awaited<ReturnType<typeof outcome>> }> {
  let read = 0;
  for (;;) {
    const next = ws.read();
    const ok = await next.then(
      () => true,
      () => false,
    );
    if (!ok) return { read, outcome: await outcome(ws, next) };
    read++;
  }
}

describe("RFC 8441 §5: a peer's RST_STREAM on a paused stream, bytes unread in it, is a reset too", {
  timeout: 60_000,
}, () => {
  for (const { name, leave, code } of leavings.filter((l) => l.code === 'ERR_WS_NEXT_LAYER')) {
    it(`server role: ${name} while nobody reads: ${code} after what was read`, async (t) => {
      const opened: Promise<{ ws: WebSocketStream; stream: http2.ServerHttp2Stream }>[] = [];
      const port = await h2Server(t, (stream, headers) => {
        const ws = new WebSocketStream(stream, { readHighWaterMark: 1024 });
        opened.push(ws.accept({ headers }).then(() => ({ ws, stream })));
      });
      const client = await rawConnect(port);
      const { ws, stream } = await opened[0]!;
      for (const message of backlog) client.req.write(text(message));
      // A PING is answered once the frames before it are taken: the DATA is in the server's stream.
      await new Promise<void>((resolve) => client.session.ping(() => resolve()));
      assert.equal(stream.isPaused(), true, 'the WebSocket paused its stream');
      assert.ok(stream.readableLength > 0, 'bytes unread in the stream');
      const reset = new Promise((resolve) => stream.once('aborted', resolve));
      leave(client.req);
      await reset; // (only then is anything read)
      const { read, outcome: got } = await readAll(ws);
      // node keeps the unread bytes of a stream reset with NO_ERROR until they are read, drops them for other codes.
      if (name.endsWith('NO_ERROR')) assert.equal(read, backlog.length);
      else assert.ok(read < backlog.length, `${read} messages read`);
      assert.deepEqual(got, expected(code));
      client.session.destroy();
    });

    it(`client role: ${name} while nobody reads: ${code} after what was read`, async (t) => {
      let serverStream: http2.ServerHttp2Stream | undefined;
      const port = await h2Server(t, (stream) => {
        serverStream = stream;
        stream.on('error', () => {});
        stream.respond({ ':status': 200 });
        stream.resume();
      });
      const ws = await connect(`wss://localhost:${port}/`, { http2: true, ca, readHighWaterMark: 1024 });
      for (const message of backlog) serverStream!.write(text(message, { mask: false }));
      await new Promise<void>((resolve) => serverStream!.session!.ping(() => resolve()));
      const stream = (ws.nextLayer as DuplexLayer).duplex;
      assert.equal(stream.isPaused(), true, 'the WebSocket paused its stream');
      assert.ok(stream.readableLength > 0, 'bytes unread in the stream');
      const reset = new Promise((resolve) => stream.once('aborted', resolve));
      leave(serverStream!);
      await reset;
      const { read, outcome: got } = await readAll(ws);
      // node keeps the unread bytes of a stream reset with NO_ERROR until they are read, drops them for other codes.
      if (name.endsWith('NO_ERROR')) assert.equal(read, backlog.length);
      else assert.ok(read < backlog.length, `${read} messages read`);
      assert.deepEqual(got, expected(code));
    });
  }
});
