/**
 * `readMessageMax` under permessage-deflate bounds the message a reader gets, its inflated size, not
 * the octets its compressed frames take on the wire: incompressible data deflates to a few octets
 * more than it holds (a stored block's header, RFC 1951 §3.2.4), so a message at the limit comes in
 * frames over it. Before the fix the receiver counted those octets against the limit and failed
 * the message with 1009 — the fault test/interop/faye-deflate pins in websocket-driver (RFC 6455
 * §7.4.1 gives 1009 to a message "too big for it to process": it was not). The octets on the wire
 * stay bounded: past what any DEFLATE encoder needs for a message at the limit, a frame header that
 * announces more still fails at once, before its payload is read.
 *
 * Both roles over TCP, against a raw peer whose frames are made by node:zlib directly.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import zlib from 'node:zlib';
import { connect, type WebSocketStream } from '../../src/index.js';
import { frame, requestHead } from '../support/frames.js';
import { fakeServer, response101 } from '../support/hostile.js';
import { openServerOverTcp } from '../support/open.js';
import { RawPeer } from '../support/peer.js';
import { random } from '../support/random.js';

const LIMIT = 1000;
const SEED = Number(process.env.INFLATED_LIMIT_SEED ?? 6455_7692);
console.log(`deflate-inflated-limit: seed ${SEED} (INFLATED_LIMIT_SEED replays)`);
const next = random(SEED);

/** `n` octets from the seeded generator: deflate cannot shrink them. */
function octets(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
}

/** `data` deflated and sync-flushed, the trailer removed (RFC 7692 §7.2.1). */
function deflated(data: Buffer): Buffer {
  return zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
}

/** The compressed message `body` in `parts` frames (RSV1 on the first), masked when the peer is a client. */
function frames(body: Buffer, parts: number, mask: boolean): Buffer {
  const size = Math.ceil(body.length / parts);
  const out: Buffer[] = [];
  for (let i = 0; i < parts; i++) {
    const piece = body.subarray(i * size, (i + 1) * size);
    out.push(frame({ opcode: i === 0 ? 2 : 0, payload: piece, fin: i === parts - 1, rsv: i === 0 ? 4 : 0, mask }));
  }
  return Buffer.concat(out);
}

/** A ws-stream endpoint in `role` with permessage-deflate and readMessageMax LIMIT, and the raw peer it talks to. */
async function open(t: TestContext, role: 'server' | 'client'): Promise<{ ws: WebSocketStream; peer: RawPeer }> {
  const options = { perMessageDeflate: true, readMessageMax: LIMIT, failureReason: false };
  if (role === 'server') {
    const { ws, peer } = await openServerOverTcp(
      options,
      requestHead({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
      t,
    );
    assert.match((await peer.responseHead()).head, /^HTTP\/1\.1 101[\s\S]*permessage-deflate/i);
    return { ws, peer };
  }
  let answered!: (p: RawPeer) => void;
  const gotPeer = new Promise<RawPeer>((resolve) => {
    answered = resolve;
  });
  const { url } = await fakeServer(t, (socket, accept) => {
    const p = new RawPeer(socket);
    socket.write(response101(accept, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    answered(p);
  });
  const ws = await connect(url, options);
  assert.match(ws.extensions, /^permessage-deflate/);
  return { ws, peer: await gotPeer };
}

/** The close code of the first frame the peer got, once it came (a close frame, or a failure). */
async function closeCodeSeen(peer: RawPeer): Promise<number> {
  const [f] = await peer.waitFrames(1);
  assert.equal(f!.opcode, 8);
  return f!.payload.readUInt16BE(0);
}

for (const role of ['server', 'client'] as const) {
  const mask = role === 'server'; // the raw peer is a client
  describe(`${role} role: readMessageMax ${LIMIT} with permessage-deflate`, () => {
    it(`${LIMIT} incompressible octets, over ${LIMIT} compressed, are read whole, in one frame and in 8; ${LIMIT + 1} fail with 1009, as does a frame announcing far more than that`, async (t) => {
      const { ws, peer } = await open(t, role);
      const atLimit = octets(LIMIT);
      const body = deflated(atLimit);
      assert.ok(body.length > LIMIT, `${body.length} octets on the wire`);
      peer.send(frames(body, 1, mask));
      assert.ok((await ws.read()).data.equals(atLimit), 'in one frame');
      const again = octets(LIMIT);
      peer.send(frames(deflated(again), 8, mask));
      assert.ok((await ws.read()).data.equals(again), 'in 8 frames');
      // One octet more is too big: found as it inflates.
      peer.send(frames(deflated(octets(LIMIT + 1)), 1, mask));
      await assert.rejects(ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
      assert.equal(await closeCodeSeen(peer), 1009);

      // A compressed frame announcing far more octets than a message at the limit can take: refused on its
      // header, its payload never awaited (twice the limit announced, 10 octets of it sent).
      const second = await open(t, role);
      const head = frame({ opcode: 2, payload: Buffer.alloc(2 * LIMIT), rsv: 4, mask });
      second.peer.send(head.subarray(0, head.length - 2 * LIMIT + 10));
      await assert.rejects(second.ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
      assert.equal(await closeCodeSeen(second.peer), 1009);
    });
  });
}
