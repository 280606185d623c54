/**
 * The peer resetting (RST) or half-closing (FIN) at every stage, over real sockets, where
 * hostile-flow's walk does not go: after every byte of an exchange of compressed messages (a
 * fragmented one with a ping between its parts), the client role reset after every byte of the
 * server's answer, each side of the close handshake cut (after our close frame, before our answer
 * to theirs), and TLS: bytes that are no ClientHello, a close_notify in the middle of a frame.
 * Every case must end in a typed error or a clean close, never a hang (the close timeout is set
 * out of reach: the cut alone must end the connection) and never an error thrown out of an event.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { WebSocketError, WebSocketStream, computeAccept, connect } from '../../src/index.js';
import { compressedText } from '../support/drop-client.js';
import { closeFrame, cont, frame, helloWorld, parseFrames, ping, requestHead, text } from '../support/frames.js';
import { attack, fakeServer, netServer, response101 } from '../support/hostile.js';

const fixture = (n: string): Buffer => readFileSync(new URL(`../../../test/fixtures/${n}`, import.meta.url));
const FAR = 600_000; // a close timeout no run reaches: a cut must end it by itself
const typed = new Set(['ERR_WS_EOF', 'ERR_WS_NEXT_LAYER', 'ERR_WS_CLOSED']);
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Fails the test if anything is thrown out of an event or left as an unhandled rejection while `fn` runs. */
async function nothingThrown(fn: () => Promise<void>): Promise<void> {
  const thrown: unknown[] = [];
  const on = (e: unknown): void => {
    thrown.push(e);
  };
  process.on('uncaughtException', on);
  process.on('unhandledRejection', on);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(thrown, []);
  } finally {
    process.off('uncaughtException', on);
    process.off('unhandledRejection', on);
  }
}

/** A compressed message in two frames (RSV1 on the first only, RFC 7692 §6.1). */
function compressedFragments(s: string): [Buffer, Buffer] {
  const d = zlib.deflateRawSync(s, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const body = d.subarray(0, d.length - 4);
  const half = body.length >> 1;
  return [frame({ opcode: 1, payload: body.subarray(0, half), rsv: 4, fin: false }), cont(body.subarray(half))];
}

describe('server role, permessage-deflate: a FIN or a reset after every byte', { timeout: 300_000 }, () => {
  const hs = requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }, 'GET / HTTP/1.1');
  const [f1, f2] = compressedFragments('world, compressed in two frames');
  const exchange = [hs, compressedText('hello'), f1, ping('p'), f2, text('plain'), closeFrame(1000, 'bye')];
  const bytes = Buffer.concat(exchange.map((c) => Buffer.from(c)));
  // Where each piece ends: a cut at or past it has the piece whole.
  const ends: number[] = [];
  exchange.reduce((at, c) => {
    ends.push(at + Buffer.byteLength(c));
    return at + Buffer.byteLength(c);
  }, 0);
  const wholeAt = (cut: number): string[] | null => {
    if (cut < ends[0]!) return null;
    const got: string[] = [];
    if (cut >= ends[1]!) got.push('hello');
    if (cut >= ends[4]!) got.push('world, compressed in two frames');
    if (cut >= ends[5]!) got.push('plain');
    return got;
  };

  for (const how of ['FIN', 'reset'] as const) {
    it(`${how}: what arrived whole is read in order (compressed or not), then a typed end; never a hang`, async (t) => {
      await nothingThrown(async () => {
        const server = await netServer(t, { perMessageDeflate: true, closeTimeout: FAR });
        const before = timers();
        for (let cut = 0; cut <= bytes.length; cut++) {
          const n = server.connections + 1;
          await attack(server.port, [bytes.subarray(0, cut)], {
            end: how === 'FIN',
            reset: how === 'reset',
            // Our reset may cut off an echo or pong the server was sending: not the server's doing.
            cutAllowed: how === 'reset',
            before: () => server.connected(n),
          });
          const o = await server.next();
          const whole = wholeAt(cut);
          if (whole === null || o.accept !== 'ok') {
            assert.ok(typed.has(o.accept), `cut ${cut}: accept ${o.accept}`);
            assert.ok(whole === null || how === 'reset', `cut ${cut}: a whole request refused: ${o.accept}`);
            continue;
          }
          if (how === 'FIN') assert.deepEqual(o.messages, whole, `cut ${cut}`);
          else assert.deepEqual(o.messages, whole.slice(0, o.messages.length), `cut ${cut}: a prefix, in order`);
          assert.ok(typed.has(o.readError!), `cut ${cut}: ${o.readError}`);
          if (cut < bytes.length) {
            assert.equal(o.info?.code, 1006, `cut ${cut}`);
            if (how === 'FIN') assert.equal(o.readError, 'ERR_WS_EOF', `cut ${cut}`);
          } else if (how === 'FIN') {
            // The peer's close came whole before its FIN: it closed, with its code, whether or not our
            // answer still got out (netServer's sockets are not half-open: node ends ours at the FIN,
            // which may come while the messages before the close still inflate).
            assert.deepEqual(
              [o.info?.initiatedBy, o.info?.code, o.info?.reason],
              ['remote', 1000, 'bye'],
              `cut ${cut}`,
            );
          }
        }
        // Every connection is closed: none may leave a timer behind (one of closeTimeout, here 10 min,
        // bounded the answer to a close frame that waited behind a message still inflating at the FIN).
        await new Promise((r) => setImmediate(r));
        assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
      });
    });
  }
});

describe('client role: a reset after every byte of the answer', { timeout: 120_000 }, () => {
  it('the messages whole before it, in order, then ERR_WS_NEXT_LAYER or ERR_WS_EOF; the handshake fails typed', async (t) => {
    await nothingThrown(async () => {
      let cut = Number.MAX_SAFE_INTEGER;
      let answer = Buffer.alloc(0);
      const { url } = await fakeServer(t, (s, accept) => {
        answer = Buffer.concat([Buffer.from(response101(accept)), ...helloWorld('', { mask: false })]);
        if (cut >= answer.length) s.end(answer);
        else s.write(answer.subarray(0, cut), () => s.resetAndDestroy());
      });
      const run = async (): Promise<{ got: string[]; error: string }> => {
        let ws: WebSocketStream;
        try {
          ws = await connect(url, { closeTimeout: FAR });
        } catch (e) {
          assert.ok(e instanceof WebSocketError, String(e));
          return { got: [], error: `handshake ${e.code}` };
        }
        const got: string[] = [];
        try {
          for await (const m of ws) got.push(m.data.toString());
          return { got, error: 'ERR_WS_CLOSED' };
        } catch (e) {
          assert.ok(e instanceof WebSocketError, String(e));
          return { got, error: e.code };
        }
      };
      assert.deepEqual(await run(), { got: ['hello', 'world'], error: 'ERR_WS_CLOSED' });
      const headLength = answer.indexOf('\r\n\r\n') + 4;
      for (cut = 0; cut < answer.length; cut++) {
        const r = await run();
        const codes = ['ERR_WS_NEXT_LAYER', 'ERR_WS_EOF'];
        if (cut < headLength) assert.ok(codes.map((c) => `handshake ${c}`).includes(r.error), `cut ${cut}: ${r.error}`);
        else assert.ok(codes.includes(r.error) || r.error === 'handshake ERR_WS_NEXT_LAYER', `cut ${cut}: ${r.error}`);
        assert.deepEqual(r.got, ['hello', 'world'].slice(0, r.got.length), `cut ${cut}`);
      }
    });
  });
});

describe('the close handshake cut on either side', { timeout: 120_000 }, () => {
  /** A raw client opened on an accept()ing server; resolves with it once the 101 arrived. */
  async function openRaw(port: number): Promise<{
    socket: net.Socket;
    closed: Promise<unknown>;
    frames: () => ReturnType<typeof parseFrames>['frames'];
  }> {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    let got = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
    });
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    socket.write(requestHead({}, 'GET / HTTP/1.1'));
    while (!got.includes('\r\n\r\n')) await once(socket, 'data');
    return { socket, closed, frames: () => parseFrames(got.subarray(got.indexOf('\r\n\r\n') + 4)).frames };
  }

  async function serverOn(): Promise<{ port: number; next: () => Promise<WebSocketStream>; close: () => void }> {
    const queue: WebSocketStream[] = [];
    const waiting: ((ws: WebSocketStream) => void)[] = [];
    const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
      const ws = new WebSocketStream(socket, { closeTimeout: FAR });
      ws.accept().then(
        () => {
          const w = waiting.shift();
          if (w) w(ws);
          else queue.push(ws);
        },
        () => {},
      );
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    return {
      port: (srv.address() as net.AddressInfo).port,
      next: () => {
        const ws = queue.shift();
        return ws ? Promise.resolve(ws) : new Promise((r) => waiting.push(r));
      },
      close: () => srv.close(),
    };
  }

  it('server role: after our close frame the peer resets or ends without answering: close() fails typed at once, 1006', async () => {
    await nothingThrown(async () => {
      const srv = await serverOn();
      for (const how of ['reset', 'FIN'] as const) {
        const raw = await openRaw(srv.port);
        const ws = await srv.next();
        const closing = ws.close({ code: 1000, reason: 'bye' });
        while (raw.frames().length === 0) await once(raw.socket, 'data');
        assert.equal(raw.frames()[0]!.opcode, 8, how);
        if (how === 'reset') raw.socket.resetAndDestroy();
        else raw.socket.end();
        const err = await closing.then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(err instanceof WebSocketError, `${how}: ${String(err)}`);
        assert.ok(['ERR_WS_EOF', 'ERR_WS_NEXT_LAYER'].includes(err.code), `${how}: ${err.code}`);
        const info = await ws.whenClosed();
        // Our frame went, theirs never came: an end without a close handshake (RFC 6455 §7.1.5: 1006).
        assert.deepEqual([info.initiatedBy, info.wasClean, info.code], ['abnormal', false, 1006], how);
        await assert.rejects(ws.read(), (e: WebSocketError) => e.code === err.code);
        raw.socket.destroy();
      }
      srv.close();
    });
  });

  it('server role: the peer sends its close frame and resets (or ends) before our answer: a typed end, or clean after a FIN', async () => {
    await nothingThrown(async () => {
      const srv = await serverOn();
      for (const how of ['reset', 'FIN'] as const) {
        const raw = await openRaw(srv.port);
        const ws = await srv.next();
        const reading = ws.read().then(
          () => 'message',
          (e: WebSocketError) => e.code,
        );
        raw.socket.write(closeFrame(1001, 'away'), () =>
          how === 'reset' ? raw.socket.resetAndDestroy() : raw.socket.end(),
        );
        const code = await reading;
        const info = await ws.whenClosed();
        assert.equal(info.initiatedBy, 'remote', how);
        if (how === 'FIN') {
          // Half-open: the answer still goes out, and the close counts as clean.
          assert.equal(code, 'ERR_WS_CLOSED');
          assert.deepEqual([info.wasClean, info.code], [true, 1001]);
          await raw.closed;
          assert.deepEqual(
            raw.frames().map((f) => [f.opcode, f.payload.readUInt16BE(0)]),
            [[8, 1001]],
            'the answer reached the half-closed peer',
          );
        } else {
          assert.ok(['ERR_WS_CLOSED', 'ERR_WS_NEXT_LAYER', 'ERR_WS_EOF'].includes(code), code);
          if (!info.wasClean) assert.ok(info.error instanceof WebSocketError && typed.has(info.error.code));
        }
        await assert.rejects(ws.write('late'), (e: WebSocketError) => e instanceof WebSocketError);
      }
      srv.close();
    });
  });

  it('client role: the server resets or ends after our close frame, or sends its close and resets: typed, never a hang', async (t) => {
    await nothingThrown(async () => {
      let plan: 'reset after ours' | 'FIN after ours' | 'close then reset' | 'close then FIN' = 'reset after ours';
      const { url } = await fakeServer(
        t,
        (s, accept) => {
          s.write(response101(accept));
          if (plan.startsWith('close then')) {
            s.write(closeFrame(1001, 'going', { mask: false }), () =>
              plan === 'close then reset' ? s.resetAndDestroy() : s.end(),
            );
            return;
          }
          let got = Buffer.alloc(0);
          s.on('data', (d: Buffer) => {
            got = Buffer.concat([got, d]);
            if (parseFrames(got).frames.some((f) => f.opcode === 8)) {
              if (plan === 'reset after ours') s.resetAndDestroy();
              else s.end();
            }
          });
        },
        { allowHalfOpen: true },
      );
      for (plan of ['reset after ours', 'FIN after ours'] as const) {
        const ws = await connect(url, { closeTimeout: FAR });
        const err = await ws.close({ code: 1000 }).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(err instanceof WebSocketError, `${plan}: ${String(err)}`);
        assert.ok(['ERR_WS_EOF', 'ERR_WS_NEXT_LAYER'].includes(err.code), `${plan}: ${err.code}`);
        assert.deepEqual([(await ws.whenClosed()).code, ws.closeInfo?.initiatedBy], [1006, 'abnormal'], plan);
      }
      for (plan of ['close then reset', 'close then FIN'] as const) {
        const ws = await connect(url, { closeTimeout: FAR });
        const code = await ws.read().then(
          () => 'message',
          (e: WebSocketError) => e.code,
        );
        const info = await ws.whenClosed();
        assert.equal(info.initiatedBy, 'remote', plan);
        assert.ok(['ERR_WS_CLOSED', 'ERR_WS_NEXT_LAYER', 'ERR_WS_EOF'].includes(code), `${plan}: ${code}`);
        if (!info.wasClean) assert.ok(info.error instanceof WebSocketError && typed.has(info.error.code), plan);
        // A close() after all of it reports, never hangs.
        await ws.close().catch((e: unknown) => assert.ok(e instanceof WebSocketError));
      }
    });
  });
});

describe('no timer outlives a connection', { timeout: 120_000 }, () => {
  it("a message left unread, the peer's close frame behind it, then a reset: once closed, no close-timeout timer is left", async () => {
    await nothingThrown(async () => {
      let ws!: WebSocketStream;
      let client!: net.Socket;
      const accepted = new Promise<void>((resolve) => {
        const srv = net.createServer({ allowHalfOpen: true }, (socket) => {
          // closeTimeout bounds how long the answer to the close waits for the unread message;
          // the reset comes once the server has acted on the close frame.
          ws = new WebSocketStream(socket, {
            closeTimeout: 60_000,
            controlCallback: (kind) => kind === 'close' && client.resetAndDestroy(),
          });
          void ws.accept().then(resolve);
          srv.close();
        });
        srv.listen(0, '127.0.0.1', () => {
          client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
          client.on('error', () => {});
          // The 101 came: the message and the close.
          client.once('data', () => client.write(Buffer.concat([text('never read'), closeFrame(1000)])));
          client.once('connect', () => client.write(requestHead({}, 'GET / HTTP/1.1')));
        });
      });
      const before = timers();
      await accepted;
      const info = await ws.whenClosed();
      await new Promise((r) => setImmediate(r));
      assert.equal(info.wasClean, false);
      assert.equal(timers(), before, `timers left: ${process.getActiveResourcesInfo().join(', ')}`);
    });
  });
});

describe('TLS', { timeout: 60_000 }, () => {
  it('bytes that are no ClientHello, to accept() over a TLSSocket made by hand: ERR_WS_NEXT_LAYER, nothing thrown', async () => {
    await nothingThrown(async () => {
      const results: Promise<unknown>[] = [];
      const srv = net.createServer((raw) => {
        const secure = new tls.TLSSocket(raw, { isServer: true, key: fixture('key.pem'), cert: fixture('cert.pem') });
        const ws = new WebSocketStream(secure, { handshakeTimeout: 0 });
        results.push(
          ws.accept().then(
            () => 'ok',
            (e: unknown) => e,
          ),
        );
      });
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      const port = (srv.address() as net.AddressInfo).port;
      for (const garbage of [requestHead(), Buffer.alloc(600, 0x16), Buffer.from('16030100ff0100', 'hex')]) {
        const c = net.connect(port, '127.0.0.1');
        c.on('error', () => {});
        await once(c, 'connect');
        c.end(garbage);
        c.resume();
        await once(c, 'close');
      }
      while (results.length < 3) await new Promise((r) => setImmediate(r));
      for (const r of await Promise.all(results)) {
        assert.ok(r instanceof WebSocketError, String(r));
        assert.ok(['ERR_WS_NEXT_LAYER', 'ERR_WS_EOF'].includes(r.code), r.code);
      }
      srv.close();
    });
  });

  it('a close_notify in the middle of a frame, both roles: the messages before it, then ERR_WS_EOF and 1006', async (t) => {
    await nothingThrown(async () => {
      const options = { key: fixture('key.pem'), cert: fixture('cert.pem') };
      // Server role: a TLS client sends a message and half of the next frame, then close_notify.
      const server = await new Promise<{ port: number; outcome: Promise<[string[], string, number]> }>((resolve) => {
        let settle!: (v: [string[], string, number]) => void;
        const outcome = new Promise<[string[], string, number]>((r) => {
          settle = r;
        });
        const srv = tls.createServer(options, async (s) => {
          const ws = new WebSocketStream(s, { closeTimeout: FAR });
          const got: string[] = [];
          let code = 'none';
          try {
            await ws.accept();
            for await (const m of ws) got.push(m.data.toString());
          } catch (e) {
            code = (e as WebSocketError).code;
          }
          settle([got, code, (await ws.whenClosed()).code]);
        });
        srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as net.AddressInfo).port, outcome }));
        t.after(() => srv.close());
      });
      const c = tls.connect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => {});
      c.resume();
      await once(c, 'secureConnect');
      const next = text('cut short');
      c.write(Buffer.concat([Buffer.from(requestHead({}, 'GET / HTTP/1.1')), text('before'), next.subarray(0, 5)]));
      c.end(); // close_notify, then FIN
      assert.deepEqual(await server.outcome, [['before'], 'ERR_WS_EOF', 1006]);

      // Client role: a TLS server answers 101, a message and half a frame, then close_notify.
      const fake = tls.createServer(options, (s) => {
        s.on('error', () => {});
        let request = '';
        s.on('data', (d: Buffer) => {
          request += d.toString('latin1');
          const key = /^Sec-WebSocket-Key: (.*)$/im.exec(request)?.[1];
          if (!request.includes('\r\n\r\n') || key === undefined) return;
          const half = text('cut short', { mask: false });
          s.end(
            Buffer.concat([
              Buffer.from(response101(computeAccept(key.trim()))),
              text('before', { mask: false }),
              half.subarray(0, 5),
            ]),
          );
        });
      });
      fake.listen(0, '127.0.0.1');
      await once(fake, 'listening');
      t.after(() => fake.close());
      const ws = await connect(`wss://127.0.0.1:${(fake.address() as net.AddressInfo).port}/`, {
        rejectUnauthorized: false,
        closeTimeout: FAR,
      });
      assert.equal((await ws.read()).text(), 'before');
      await assert.rejects(ws.read(), (e: WebSocketError) => e.code === 'ERR_WS_EOF');
      assert.equal((await ws.whenClosed()).code, 1006);
    });
  });
});
