/**
 * connect() over HTTP/2 (RFC 8441) against hostile servers: raw h2c peers on 127.0.0.1 that write their
 * frames as they please, and node:http2 servers. Each failure is typed and comes at once (no deadline set,
 * unless the point is the deadline), the session connect() made is released, a shared one lives on, and
 * no timer is left behind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { type ClientHandshakeError, type WebSocketError, type WebSocketStream, connect } from '../../src/index.js';
import { h2Frame, parseFrames } from '../support/frames.js';
import { type After, ENABLE_CONNECT, type RawH2Frame, ca, fieldBlock, h2Server, rawH2c } from '../support/h2-server.js';

const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const CONTINUATION = 9;
const END_STREAM = 1;
const END_HEADERS = 4;
/** HEADERS :status 200 (the static table's index 8). */
const STATUS_200 = Buffer.from([0x88]);
/** No deadline of connect()'s own: a failure that comes, comes from the server's frames. */
const noDeadline = { http2: true, connectTimeout: 0, handshakeTimeout: 0 } as const;

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** connect()'s outcome: its error, or the WebSocket. */
function outcome(p: Promise<WebSocketStream>): Promise<WebSocketError | WebSocketStream> {
  return p.catch((e: WebSocketError) => e);
}

function errorOf(r: WebSocketError | WebSocketStream): WebSocketError {
  assert.ok(r instanceof Error, 'connect() opened a WebSocket');
  return r;
}

/** A shared h2c session to `port` whose SETTINGS arrived; destroyed after the test. */
async function sharedSession(t: After, port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  await once(session, 'remoteSettings');
  return session;
}

/** Resolves once a PING on `session` came back: every frame the server sent before its answer was read. */
function roundTrip(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
}

/** A raw h2c server, its connections' closes and the frames the client sent (SETTINGS and PING left out). */
async function hostile(
  t: After,
  onFrame: (f: RawH2Frame, socket: Socket) => void,
  settings?: Buffer,
): Promise<{ port: number; frames: RawH2Frame[]; closed: Promise<unknown>[] }> {
  const frames: RawH2Frame[] = [];
  const closed: Promise<unknown>[] = [];
  const port = await rawH2c(
    t,
    (f, socket) => {
      if (f.type !== SETTINGS && f.type !== PING) frames.push(f);
      onFrame(f, socket);
    },
    { settings, onConnection: (socket) => closed.push(once(socket, 'close')) },
  );
  return { port, frames, closed };
}

/** A text message "hi" from the server. */
const HI = Buffer.from([0x81, 2, 0x68, 0x69]);

/** Answers stream `id` with a 200. */
function ok(id: number, socket: Socket): void {
  socket.write(h2Frame(HEADERS, END_HEADERS, id, STATUS_200));
}

/** Reads until a read fails: the messages read (as text), and the failure's code. */
async function readAll(ws: WebSocketStream): Promise<{ got: string[]; code: string }> {
  const got: string[] = [];
  for (;;) {
    try {
      got.push((await ws.read()).data.toString());
    } catch (e) {
      return { got, code: (e as WebSocketError).code };
    }
  }
}

/** Answers each extended CONNECT with `answer`. */
const onConnect =
  (answer: (stream: number, socket: Socket) => void) =>
  (f: RawH2Frame, socket: Socket): void => {
    if (f.type === HEADERS) answer(f.stream, socket);
  };

describe('connect() over HTTP/2 against a hostile server: its SETTINGS and its answer', { timeout: 60_000 }, () => {
  it('SETTINGS_ENABLE_CONNECT_PROTOCOL sent as 0, or only in a SETTINGS after the first (the first decides: RFC 8441 §3 has the client wait for it, not for more): ERR_WS_UPGRADE_DECLINED, no stream opened, the session connect() made closed', async (t) => {
    const zero = await hostile(t, () => {}, Buffer.from([0, 8, 0, 0, 0, 0]));
    // The second SETTINGS goes once the client acknowledged the first: after it decided on it.
    const later = await hostile(
      t,
      (f, socket) => {
        if (f.type === SETTINGS && (f.flags & 1) === 1) socket.write(h2Frame(SETTINGS, 0, 0, ENABLE_CONNECT));
      },
      Buffer.alloc(0),
    );
    for (const server of [zero, later]) {
      const err = errorOf(await outcome(connect(`ws://127.0.0.1:${server.port}/`, noDeadline)));
      assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
      assert.match(err.message, /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
      await server.closed[0];
      assert.deepEqual(
        server.frames.filter((f) => f.type === HEADERS),
        [],
      );
    }
  });

  it('answers HTTP/2 has no room for: 101 (RFC 9113 §8.6), a :status that is no number, none at all: ERR_WS_NEXT_LAYER at once, the session released', async (t) => {
    const answers = [
      fieldBlock([[':status', '101']]),
      fieldBlock([[':status', 'abc']]),
      fieldBlock([['x-no-status', '1']]),
    ];
    for (const block of answers) {
      const server = await hostile(
        t,
        onConnect((id, socket) => socket.write(h2Frame(HEADERS, END_HEADERS, id, block))),
      );
      const err = errorOf(await outcome(connect(`ws://127.0.0.1:${server.port}/`, noDeadline)));
      assert.equal(err.code, 'ERR_WS_NEXT_LAYER', block.toString('latin1'));
      assert.match(err.message, /PROTOCOL_ERROR/);
      await server.closed[0];
    }
  });

  it('a header block without end (CONTINUATION after CONTINUATION), and one of 1,000 fields: typed at once, the session released', async (t) => {
    const flood = await hostile(
      t,
      onConnect((id, socket) => {
        socket.write(h2Frame(HEADERS, 0, id, STATUS_200));
        let n = 0;
        const more = (): void => {
          // Bounded, so that a client that took it all would see its end (and the test fail, not hang).
          while (!socket.destroyed && n < 20_000) {
            const last = ++n === 20_000;
            const block = fieldBlock([[`x-f${n % 1000}`, 'v'.repeat(100)]]);
            if (!socket.write(h2Frame(CONTINUATION, last ? END_HEADERS : 0, id, block))) {
              socket.once('drain', more);
              return;
            }
          }
        };
        more();
      }),
    );
    const floodErr = errorOf(await outcome(connect(`ws://127.0.0.1:${flood.port}/`, noDeadline)));
    assert.equal(floodErr.code, 'ERR_WS_EOF');
    await flood.closed[0];

    const fields: [string, string][] = Array.from({ length: 1000 }, (_, i) => [`x-h${i}`, 'v']);
    const many = await hostile(
      t,
      onConnect((id, socket) =>
        socket.write(h2Frame(HEADERS, END_HEADERS, id, Buffer.concat([STATUS_200, fieldBlock(fields)]))),
      ),
    );
    const manyErr = errorOf(await outcome(connect(`ws://127.0.0.1:${many.port}/`, noDeadline)));
    assert.equal(manyErr.code, 'ERR_WS_NEXT_LAYER');
    assert.match(manyErr.message, /ENHANCE_YOUR_CALM/);
    await many.closed[0];
  });

  it('GOAWAY (NO_ERROR, last stream 0) while the extended CONNECT waits: ERR_WS_EOF at once; after the 200 came: the WebSocket fails ERR_WS_NEXT_LAYER (node resets what GOAWAY left out)', async (t) => {
    const goaway = h2Frame(GOAWAY, 0, 0, Buffer.alloc(8));
    const before = await hostile(
      t,
      onConnect((_id, socket) => socket.write(goaway)),
    );
    const err = errorOf(await outcome(connect(`ws://127.0.0.1:${before.port}/`, noDeadline)));
    assert.equal(err.code, 'ERR_WS_EOF');
    assert.match(err.message, /GOAWAY/);
    await before.closed[0];

    let answered!: Socket;
    const after = await hostile(
      t,
      onConnect((id, socket) => {
        answered = socket;
        socket.write(h2Frame(HEADERS, END_HEADERS, id, STATUS_200));
      }),
    );
    const ws = await connect(`ws://127.0.0.1:${after.port}/`, noDeadline);
    answered.write(goaway);
    await assert.rejects(ws.read(), { code: 'ERR_WS_NEXT_LAYER' });
    assert.equal(ws.closeInfo?.code, 1006);
    await after.closed[0];
  });
});

describe('connect() over HTTP/2 against a hostile server: the WebSocket’s stream', { timeout: 60_000 }, () => {
  it('a 200 whose stream then ends (END_STREAM on the HEADERS, or after a message): what came is read, then ERR_WS_EOF; the shared session lives and carries the next WebSocket', async (t) => {
    const endings = [
      (id: number, s: Socket) => s.write(h2Frame(HEADERS, END_HEADERS | END_STREAM, id, STATUS_200)),
      (id: number, s: Socket) => {
        s.write(h2Frame(HEADERS, END_HEADERS, id, STATUS_200));
        s.write(h2Frame(0, END_STREAM, id, HI));
      },
    ];
    const server = await hostile(
      t,
      onConnect((id, socket) => {
        const ending = endings[(id - 1) / 2];
        if (ending) ending(id, socket);
        else ok(id, socket);
      }),
    );
    const session = await sharedSession(t, server.port);
    for (const [i, expected] of [[], ['hi']].entries()) {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, { ...noDeadline, http2: session });
      assert.deepEqual(await readAll(ws), { got: expected, code: 'ERR_WS_EOF' }, `ending ${i}`);
      await ws.whenClosed();
      assert.equal(ws.closeInfo?.code, 1006);
    }
    await roundTrip(session);
    assert.equal(session.destroyed || session.closed, false, 'the shared session lives');
    await connect(`ws://127.0.0.1:${server.port}/`, { ...noDeadline, http2: session });
  });

  it("DATA after END_STREAM: what came before is read, then ERR_WS_EOF; node's client ends the session with GOAWAY STREAM_CLOSED, and the session connect() made is closed", async (t) => {
    // RFC 9113 §5.1 makes it a stream error; nghttp2 a connection error, which node tells nobody of (as for
    // DATA before HEADERS, h2-faults.test.ts): a shared session is then dead to new streams until handshakeTimeout.
    const server = await hostile(
      t,
      onConnect((id, s) => {
        s.write(h2Frame(HEADERS, END_HEADERS, id, STATUS_200));
        s.write(h2Frame(0, END_STREAM, id, HI));
        s.write(h2Frame(0, 0, id, HI));
      }),
    );
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, noDeadline);
    assert.deepEqual(await readAll(ws), { got: ['hi'], code: 'ERR_WS_EOF' });
    await server.closed[0];
    const goaway = server.frames.find((f) => f.type === GOAWAY);
    assert.equal(goaway?.payload.readUInt32BE(4), http2.constants.NGHTTP2_STREAM_CLOSED);
  });

  it('a 200 followed by bytes that are no WebSocket frame: close 1002 goes out, ERR_WS_BAD_RESERVED_BITS, nothing thrown', async (t) => {
    const sent: Buffer[] = [];
    let gotClose!: () => void;
    const closeFrame = new Promise<void>((resolve) => {
      gotClose = resolve;
    });
    const server = await hostile(t, (f, socket) => {
      if (f.type === HEADERS) {
        socket.write(h2Frame(HEADERS, END_HEADERS, f.stream, STATUS_200));
        socket.write(h2Frame(0, 0, f.stream, Buffer.from('hello world'))); // 'h' = 0x68: RSV2 and RSV3 set
      }
      if (f.type === 0) {
        sent.push(f.payload);
        if (parseFrames(Buffer.concat(sent)).frames.some((w) => w.opcode === 8)) gotClose();
      }
    });
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, noDeadline);
    await assert.rejects(ws.read(), { code: 'ERR_WS_BAD_RESERVED_BITS' });
    await closeFrame;
    const close = parseFrames(Buffer.concat(sent)).frames.find((w) => w.opcode === 8)!;
    assert.equal(close.payload.readUInt16BE(0), 1002);
    assert.equal(close.masked, true);
  });

  it('RST_STREAM in the middle of a message: reads fail ERR_WS_NEXT_LAYER at once, the shared session lives', async (t) => {
    let reset!: () => void;
    const server = await hostile(t, (f, socket) => {
      if (f.type !== HEADERS) return;
      const id = f.stream;
      socket.write(h2Frame(HEADERS, END_HEADERS, id, STATUS_200));
      if (id !== 1) return;
      socket.write(h2Frame(0, 0, id, Buffer.from([0x81, 10, 0x68, 0x69]))); // 2 of a 10-byte text message
      reset = () => socket.write(h2Frame(RST_STREAM, 0, id, Buffer.from([0, 0, 0, 2]))); // INTERNAL_ERROR
    });
    const session = await sharedSession(t, server.port);
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { ...noDeadline, http2: session });
    const read = ws.read();
    await roundTrip(session); // the message's start was read
    reset();
    await assert.rejects(read, (e: WebSocketError) => {
      assert.equal(e.code, 'ERR_WS_NEXT_LAYER');
      assert.match(e.message, /INTERNAL_ERROR/);
      return true;
    });
    await ws.whenClosed();
    await connect(`ws://127.0.0.1:${server.port}/`, { ...noDeadline, http2: session }); // the session carries the next one
    assert.equal(session.destroyed, false);
  });

  it('a flow-control window the server never opens (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE): a write waits, its signal settles it (ERR_WS_ABORTED), close() ends after closeTimeout (ERR_WS_TIMEOUT) with RST_STREAM CANCEL and fails the write still waiting with it (not done); the shared session lives', async (t) => {
    const zeroWindow = Buffer.concat([ENABLE_CONNECT, Buffer.from([0, 4, 0, 0, 0, 0])]);
    let resetSeen!: (code: number) => void;
    const resetCode = new Promise<number>((resolve) => {
      resetSeen = resolve;
    });
    const server = await hostile(
      t,
      (f, socket) => {
        if (f.type === HEADERS) socket.write(h2Frame(HEADERS, END_HEADERS, f.stream, STATUS_200));
        if (f.type === RST_STREAM) resetSeen(f.payload.readUInt32BE(0));
      },
      zeroWindow,
    );
    const session = await sharedSession(t, server.port);
    const before = timers();
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { ...noDeadline, http2: session, closeTimeout: 100 });
    const abort = new AbortController();
    let settled = false;
    const write = ws.write('never sent', { signal: abort.signal }).finally(() => {
      settled = true;
    });
    await roundTrip(session);
    await roundTrip(session);
    assert.equal(settled, false, 'the write waits for the window');
    abort.abort();
    await assert.rejects(write, { code: 'ERR_WS_ABORTED' });
    // A write nobody withdraws fails when the stream is given up: node calls it back without an error then.
    const cut = ws.write('cut off');
    await assert.rejects(ws.close(), { code: 'ERR_WS_TIMEOUT' });
    await assert.rejects(cut, { code: 'ERR_WS_TIMEOUT' });
    assert.equal(await resetCode, http2.constants.NGHTTP2_CANCEL);
    assert.equal(
      server.frames.some((f) => f.type === 0 && f.payload.length > 0),
      false,
      'no DATA got through',
    );
    await roundTrip(session);
    assert.equal(session.destroyed, false, 'the shared session lives');
    assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
  });

  it('a window never opened and idleTimeout: the write waiting on it fails with ERR_WS_TIMEOUT when the stream is given up, not done (node calls it back without an error)', async (t) => {
    const zeroWindow = Buffer.concat([ENABLE_CONNECT, Buffer.from([0, 4, 0, 0, 0, 0])]);
    const server = await hostile(
      t,
      (f, socket) => {
        if (f.type === HEADERS) ok(f.stream, socket);
      },
      zeroWindow,
    );
    const ws = await connect(`ws://127.0.0.1:${server.port}/`, { ...noDeadline, idleTimeout: 100 });
    const write = ws.write('never sent');
    await assert.rejects(write, { code: 'ERR_WS_TIMEOUT' });
    await ws.whenClosed();
    assert.equal(ws.closeInfo?.error?.code, 'ERR_WS_TIMEOUT');
    await server.closed[0];
  });

  it('a server that never answers: handshakeTimeout (ERR_WS_TIMEOUT) and the signal (ERR_WS_ABORTED) each reset the stream with CANCEL; no timer left, the shared session lives', async (t) => {
    const resets: number[] = [];
    let resetSeen = (): void => {};
    const server = await hostile(t, (f) => {
      if (f.type === RST_STREAM) {
        resets.push(f.payload.readUInt32BE(0));
        resetSeen();
      }
    });
    const session = await sharedSession(t, server.port);
    const before = timers();
    const nextReset = (): Promise<void> =>
      new Promise((resolve) => {
        resetSeen = resolve;
      });
    let reset = nextReset();
    await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { http2: session, handshakeTimeout: 50 }), {
      code: 'ERR_WS_TIMEOUT',
    });
    await reset;
    reset = nextReset();
    const abort = new AbortController();
    const aborted = connect(`ws://127.0.0.1:${server.port}/`, { http2: session, signal: abort.signal });
    await roundTrip(session); // the CONNECT is out
    abort.abort();
    await assert.rejects(aborted, { code: 'ERR_WS_ABORTED' });
    await reset;
    assert.deepEqual(resets, [http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
    assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
    assert.equal(session.destroyed, false);
  });
});

describe('connect() over HTTP/2: the body of a refusal that never ends', { timeout: 60_000 }, () => {
  /**
   * A server answering 403 and "partial", and no more; a shared session to it. `answered()` resolves once
   * the client read that much: a PING sent after the server wrote it came back.
   */
  async function refusing(
    t: After,
  ): Promise<{ port: number; session: http2.ClientHttp2Session; answered: () => Promise<void> }> {
    let wrote!: () => void;
    const written = new Promise<void>((resolve) => {
      wrote = resolve;
    });
    const port = await h2Server(t, (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 403 });
      stream.write('partial', wrote);
    });
    const session = http2.connect(`https://localhost:${port}`, { ca });
    session.on('error', () => {});
    t.after(() => session.destroy());
    await once(session, 'remoteSettings');
    return { port, session, answered: () => written.then(() => roundTrip(session)) };
  }

  it('the signal aborting while it is read: ERR_WS_ABORTED (as before the answer, and as over HTTP/1.1), no timer left', async (t) => {
    const { port, session, answered } = await refusing(t);
    const before = timers();
    const abort = new AbortController();
    const refused = outcome(connect(`wss://localhost:${port}/`, { http2: session, signal: abort.signal }));
    await answered();
    abort.abort();
    const err = errorOf(await refused);
    assert.equal(err.code, 'ERR_WS_ABORTED');
    assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
  });

  it('the handshake deadline passing while it is read (sooner than the 1 s a body may take): ERR_WS_UPGRADE_DECLINED with what came, then', async (t) => {
    const { port, session, answered } = await refusing(t);
    // The deadline on node's mocked clock: it passes only when ticked.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const refused = outcome(connect(`wss://localhost:${port}/`, { http2: session, handshakeTimeout: 500 }));
    await answered();
    t.mock.timers.tick(500);
    // The refusal is settled by the tick: it comes before a PING could come back.
    const first = await Promise.race([refused, roundTrip(session).then(() => 'still waiting')]);
    assert.notEqual(first, 'still waiting', 'the body was read past the handshake deadline');
    const err = errorOf(await refused) as ClientHandshakeError;
    assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err.response?.status, 403);
    assert.equal(err.response?.body.toString(), 'partial');
  });

  it('a body past 64 KiB: read no further (its flow-control window stays shut), the first 64 KiB kept', async (t) => {
    let written = 0;
    let serverDone!: () => void;
    const streamClosed = new Promise<void>((resolve) => {
      serverDone = resolve;
    });
    const port = await h2Server(t, (stream) => {
      stream.on('error', () => {});
      stream.on('close', serverDone);
      stream.respond({ ':status': 403 });
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      // Up to 16 MiB, as fast as the client reads it, then the end.
      const more = (): void => {
        while (!stream.closed && written < 16 * 1024 * 1024) {
          written += chunk.length;
          if (!stream.write(chunk)) {
            stream.once('drain', more);
            return;
          }
        }
        if (!stream.closed) stream.end();
      };
      more();
    });
    const err = errorOf(
      await outcome(connect(`wss://localhost:${port}/`, { http2: true, ca })),
    ) as ClientHandshakeError;
    assert.equal(err.code, 'ERR_WS_UPGRADE_DECLINED');
    assert.equal(err.response?.body.length, 64 * 1024);
    await streamClosed;
    // 64 KiB, the stream's window (64 KiB) and what the server's stream buffers: far below 16 MiB.
    assert.ok(written < 1024 * 1024, `the server wrote ${written} bytes`);
  });
});
