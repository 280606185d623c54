/**
 * A received message that fails to inflate (data zlib cannot inflate, inflated text that is not
 * UTF-8, a bomb inflating past `readMessageMax`) with the peer's close frame 1000 right behind it, or
 * a frame that breaks the framing rules (a reserved opcode, 1002 on its own):
 * the failure, found on the earlier frame, wins (RFC 6455 §5.4, frames take effect in wire order).
 * It is reported exactly as the same failure on an uncompressed message is: our close frame with the
 * failure's code, the read fails with the failure's error, `closeInfo` is ours and not clean, and
 * nothing is read after. Zlib is asynchronous, so the close frame arrives while the message still
 * inflates; before the fix it was taken for a clean close by the peer. The frame violation behind it
 * is found at once, while the message still inflates: before the fix its 1002 went out instead of
 * the earlier message's 1007 or 1009, and the read failed with ERR_WS_BAD_OPCODE.
 *
 * Both roles over TCP, against a raw peer; the close frame in the same chunk as the message, or in
 * the next one (sent once the stream has read the first of the messages ahead, which still inflate).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { connect, WebSocketStream } from '../../src/index.js';
import { compressedText } from '../support/drop-client.js';
import { closeFrame, frame, requestHead, text } from '../support/frames.js';
import { fakeServer, response101 } from '../support/hostile.js';
import { RawPeer } from '../support/peer.js';

/** The streams' readMessageMax. */
const LIMIT = 64 * 1024;
/** Good messages ahead of the failing one: still inflating when a close in the next chunk arrives. */
const AHEAD = 40;
const goods = Array.from({ length: AHEAD }, (_, i) => `message ${i} before the failing one`);
const NOT_UTF8 = Buffer.from([0x68, 0xc3, 0x28]);

interface Failure {
  name: string;
  /** The failing message, compressed (`compressed`) or its uncompressed twin; masked as `mask` says. */
  frame(compressed: boolean, mask: boolean): Buffer;
  error: string;
  wire: number;
}

const failures: Failure[] = [
  {
    name: 'data zlib cannot inflate',
    // The twin: the same bytes, uncompressed, are no UTF-8 either.
    frame: (compressed, mask) => text(Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: compressed ? 4 : 0, mask }),
    error: 'ERR_WS_BAD_FRAME_PAYLOAD',
    wire: 1007,
  },
  {
    name: 'inflated text that is not UTF-8',
    frame: (compressed, mask) => (compressed ? compressedText(NOT_UTF8, { mask }) : text(NOT_UTF8, { mask })),
    error: 'ERR_WS_BAD_FRAME_PAYLOAD',
    wire: 1007,
  },
  {
    name: 'a bomb inflating past readMessageMax',
    frame: (compressed, mask) =>
      compressed ? compressedText('x'.repeat(LIMIT * 16), { mask }) : text('x'.repeat(LIMIT + 1), { mask }),
    error: 'ERR_WS_MESSAGE_TOO_BIG',
    wire: 1009,
  },
];

/** What the stream reported and what the peer received, for comparing one run with another. */
interface Seen {
  messages: string[];
  /** The code of the read that failed, then of one more read after it. */
  readErrors: string[];
  info: { initiatedBy: string; code: number; reason: string; wasClean: boolean; error: string | undefined };
  closeReason: { code: number; reason: string } | undefined;
  /** The frames the peer received from the stream (unmasked), as opcode and payload hex. */
  sent: string[];
}

/** Reads until a read fails (calling `onFirst` after the first message), then once more; then waits for the end. */
async function observe(ws: WebSocketStream, onFirst: () => void): Promise<Omit<Seen, 'sent'>> {
  const messages: string[] = [];
  const readErrors: string[] = [];
  while (readErrors.length === 0) {
    try {
      messages.push((await ws.read()).text());
      if (messages.length === 1) onFirst();
    } catch (e) {
      readErrors.push((e as { code: string }).code);
    }
  }
  readErrors.push(
    await ws.read().then(
      () => 'a message',
      (e: { code: string }) => e.code,
    ),
  );
  const i = await ws.whenClosed();
  return {
    messages,
    readErrors,
    info: { initiatedBy: i.initiatedBy, code: i.code, reason: i.reason, wasClean: i.wasClean, error: i.error?.code },
    closeReason: ws.closeReason,
  };
}

interface Run {
  role: 'server' | 'client';
  compressed: boolean;
  failure: Failure;
  /** The close frame in the same chunk as the failing message, or in the next one. */
  when: 'same' | 'next';
  /** What follows the failing message: the peer's close 1000, or a frame with a reserved opcode (itself a 1002). */
  behind: 'close' | 'violation';
}

/** The peer's frames: the good messages and the failing one, then (now, or once `first` resolves) its close 1000 or a violation. */
function sendAll(peer: RawPeer, r: Run, first: Promise<void>): void {
  const mask = r.role === 'server'; // the peer is a client
  const ahead = goods.map((g) => (r.compressed ? compressedText(g, { mask }) : text(g, { mask })));
  const message = Buffer.concat([...ahead, r.failure.frame(r.compressed, mask)]);
  const close = r.behind === 'close' ? closeFrame(1000, '', { mask }) : frame({ opcode: 3, payload: 'x', mask });
  if (r.when === 'same') peer.send(Buffer.concat([message, close]));
  else {
    peer.send(message);
    first.then(() => peer.send(close));
  }
}

/** The stream's side: a ws-stream server (`net` + accept()) or a client (connect()), against a raw peer. */
async function run(t: TestContext, r: Run): Promise<Seen> {
  // No reason in our close frame: the failure's message (its text) differs from the twin's.
  const options = { perMessageDeflate: true, readMessageMax: LIMIT, failureReason: false };
  let firstRead!: () => void;
  const first = new Promise<void>((resolve) => {
    firstRead = resolve;
  });
  let peer: RawPeer;
  let streamSide: Promise<Omit<Seen, 'sent'>>;
  if (r.role === 'server') {
    let accepted!: (ws: WebSocketStream) => void;
    const gotStream = new Promise<WebSocketStream>((resolve) => {
      accepted = resolve;
    });
    const srv = net.createServer((socket) => {
      const ws = new WebSocketStream(socket, options);
      ws.accept().then(() => accepted(ws));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.after(() => srv.close());
    const port = (srv.address() as net.AddressInfo).port;
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true); // else Nagle holds the close in the next chunk until our answer ACKs the first
    t.after(() => socket.destroy());
    peer = new RawPeer(socket);
    peer.send(requestHead({ Host: `127.0.0.1:${port}`, 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    const head = await peer.responseHead();
    assert.match(head.head, /^HTTP\/1\.1 101[\s\S]*permessage-deflate/i);
    streamSide = observe(await gotStream, firstRead);
  } else {
    let answered!: (p: RawPeer) => void;
    const gotPeer = new Promise<RawPeer>((resolve) => {
      answered = resolve;
    });
    const { url } = await fakeServer(t, (socket, accept) => {
      // The peer listens before the response goes: nothing the client sends is missed.
      const p = new RawPeer(socket);
      socket.setNoDelay(true);
      socket.write(response101(accept, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
      answered(p);
    });
    const ws = await connect(url, options);
    assert.match(ws.extensions, /^permessage-deflate/);
    peer = await gotPeer;
    streamSide = observe(ws, firstRead);
  }
  sendAll(peer, r, first);
  const seen = await streamSide;
  await peer.until(() => peer.closed);
  const sent = peer.frames().map((f) => `${f.opcode} ${f.payload.toString('hex')}`);
  return { ...seen, sent };
}

for (const role of ['server', 'client'] as const) {
  for (const behind of ['close', 'violation'] as const) {
    const follower = behind === 'close' ? "the peer's close 1000" : 'a frame with a reserved opcode (1002)';
    describe(`${role} role: a compressed message that fails to inflate, then ${follower}`, () => {
      for (const failure of failures) {
        for (const when of ['same', 'next'] as const) {
          it(`${failure.name}, the ${behind} in the ${when} chunk: ${failure.wire} and ${failure.error}, as uncompressed`, async (t) => {
            const got = await run(t, { role, compressed: true, failure, when, behind });
            assert.deepEqual(got.messages, goods, 'the messages ahead, and nothing after the failing one');
            assert.deepEqual(got.readErrors, [failure.error, failure.error]);
            // Our close frame alone: the failure's code, no reason (failureReason is off).
            assert.deepEqual(got.sent, [
              `8 ${closeFrame(failure.wire, '', { mask: false }).subarray(2).toString('hex')}`,
            ]);
            assert.deepEqual(got.info, {
              initiatedBy: 'local',
              code: failure.wire,
              reason: '',
              wasClean: false,
              error: failure.error,
            });
            assert.equal(got.closeReason, undefined, 'the close frame behind the failing message takes no effect');
            // Byte for byte and event for event what the uncompressed twin gives.
            const twin = await run(t, { role, compressed: false, failure, when, behind });
            assert.deepEqual(got, twin);
          });
        }
      }
    });
  }
}
