/**
 * The client role with permessage-deflate messages ended by a BFINAL block (RFC 7692 §7.2.1,
 * §7.2.3.4), over real TCP: `connect()` to a raw server written here, which negotiates
 * permessage-deflate, sends unmasked frames built with node:zlib, and reads back the client's echo
 * of each message (masked, compressed) to check it on the wire. The seed is printed;
 * BFINAL_SEED=<seed> replays a run.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { computeAccept, connect, type DeflateOptions } from '../../src/index.js';
import { closeFrame, frame, parseFrames, type WireFrame } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';
import {
  DeflateSender,
  RFC_BFINAL_HELLO,
  TRAILER,
  inflatesAlone,
  randomText,
  type Ending,
} from '../support/deflate-sender.js';
import { random } from '../support/random.js';

const seed = process.env.BFINAL_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.BFINAL_SEED);
console.log(`deflate-bfinal-client seed ${seed} (replay with BFINAL_SEED=${seed})`);

/** A message as the server sends it: the payload of each of its frames (RSV1 on the first only). */
interface Outgoing {
  text: Buffer;
  fragments: Buffer[];
}

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/**
 * A raw server that answers the first connection's upgrade with `extensions`; resolves with the
 * client stream once open, and the server's view of the connection.
 */
async function openPair(extensions: string, clientDeflate: true | DeflateOptions) {
  const srv = net.createServer();
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  // The request is checked in the test, not in the server's handler (where a throw would be lost).
  const accepted = new Promise<{ peer: RawPeer; request: string }>((resolve) => {
    srv.once('connection', (sock) => {
      sock.setNoDelay(true);
      const peer = new RawPeer(sock);
      void peer
        .until(() => {
          const s = peer.received.toString('latin1');
          return s.includes('\r\n\r\n') ? s : undefined;
        })
        .then((request) => {
          const key = /\r\nSec-WebSocket-Key: (\S+)/i.exec(request)?.[1] ?? '';
          sock.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              `Sec-WebSocket-Accept: ${computeAccept(key)}\r\nSec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
          );
          resolve({ peer, request });
        });
    });
  });
  const port = (srv.address() as net.AddressInfo).port;
  const ws = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: clientDeflate });
  const { peer, request } = await accepted;
  assert.match(request, /\r\nSec-WebSocket-Extensions: permessage-deflate/i, 'the client offered deflate');
  return { ws, peer };
}

/** The frames the client sent (after its request head). */
function clientFrames(peer: RawPeer): WireFrame[] {
  const i = peer.received.indexOf('\r\n\r\n');
  return parseFrames(peer.received.subarray(i + 4)).frames;
}

/**
 * Sends `messages` to a client opened with `extensions` (unmasked frames, all in one write), reads
 * each at the client and writes it back; checks what the client delivered and what it sent on the
 * wire (each echo masked, one compressed text message, all of them inflating in order on one
 * stream: the client keeps context takeover), then a clean close initiated by the client.
 */
async function deliver(extensions: string, clientDeflate: true | DeflateOptions, messages: Outgoing[]) {
  const { ws, peer } = await openPair(extensions, clientDeflate);
  assert.match(ws.extensions, /^permessage-deflate/);
  const wire: Buffer[] = [];
  for (const m of messages) {
    m.fragments.forEach((payload, i) => {
      const last = i === m.fragments.length - 1;
      wire.push(frame({ opcode: i === 0 ? 1 : 0, payload, rsv: i === 0 ? 4 : 0, fin: last, mask: false }));
    });
  }
  peer.send(Buffer.concat(wire));
  for (let i = 0; i < messages.length; i++) {
    const m = await ws.read();
    assert.equal(m.binary, false);
    assert.ok(m.data.equals(messages[i]!.text), `message ${i}: ${m.text().slice(0, 60)}`);
    await ws.write(m.data, { binary: false });
  }
  const echoes = await peer.until(() => {
    const f = clientFrames(peer);
    return f.length >= messages.length ? f : undefined;
  });
  assert.equal(echoes.length, messages.length, 'one frame per echo, nothing else');
  for (const f of echoes) assert.deepEqual([f.fin, f.rsv, f.opcode, f.masked], [true, 4, 1, true]);
  const inflated = zlib.inflateRawSync(Buffer.concat(echoes.flatMap((f) => [f.payload, TRAILER])), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  assert.ok(inflated.equals(Buffer.concat(messages.map((m) => m.text))), 'the echoes inflate to the messages');

  const closed = ws.close();
  const close = await peer.until(() => clientFrames(peer)[messages.length]);
  assert.deepEqual([close.opcode, close.payload.readUInt16BE(0)], [8, 1000]);
  peer.send(closeFrame(1000, '', { mask: false }));
  peer.io.end();
  await closed;
  const info = await ws.whenClosed();
  assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['local', 1000, true]);
}

const whole = (text: Buffer, payload: Buffer): Outgoing => ({ text, fragments: [payload] });

describe(`client role: messages ended by a BFINAL block (seed ${seed})`, () => {
  // RFC 7692 §7.2.3.4's own example, then three sync-flushed messages of the server's new stream.
  // With context takeover the 2nd and 3rd refer back to the 1st (the client must keep that window,
  // started after the BFINAL block); with server_no_context_takeover each stands alone.
  for (const noTakeover of [false, true]) {
    it(`the RFC's BFINAL "Hello", then 3 sync-flushed messages${noTakeover ? ' (server_no_context_takeover)' : ''}`, async () => {
      const rand = random(seed);
      const sender = new DeflateSender(!noTakeover);
      const first = randomText(rand, 20, 60);
      // The 2nd repeats the 1st whole, so with takeover it is (mostly) a reference back to it.
      const texts = [first, first, Buffer.concat([randomText(rand, 5, 20), first])];
      const messages = [whole(Buffer.from('Hello'), RFC_BFINAL_HELLO)];
      for (const t of texts) messages.push(whole(t, await sender.message('sync', t)));
      sender.drop();
      const alone = messages.slice(2).map((m) => inflatesAlone(m.fragments[0]!, m.text));
      assert.deepEqual(alone, [noTakeover, noTakeover], 'takeover: messages 2 and 3 need the window of message 1');
      await deliver(
        noTakeover ? 'permessage-deflate; server_no_context_takeover' : 'permessage-deflate',
        noTakeover ? { serverNoContextTakeover: true } : true,
        messages,
      );
    });
  }

  it('a message in 3 frames whose last ends with the BFINAL block, then a sync-flushed one, 12 times', async () => {
    const rand = random(seed + 1);
    const messages: Outgoing[] = [];
    const sender = new DeflateSender(true);
    for (let round = 0; round < 12; round++) {
      const text = randomText(rand, 30, 300);
      const z = await sender.message('standalone', text);
      // Cut points 1 ≤ a ≤ b < length: the last fragment holds at least the final octet, and in
      // every 4th round the middle fragment is empty.
      const a = 1 + Math.floor(rand() * (z.length - 2));
      const b = round % 4 === 3 ? a : a + Math.floor(rand() * (z.length - a));
      assert.ok(1 <= a && a <= b && b < z.length);
      messages.push({ text, fragments: [z.subarray(0, a), z.subarray(a, b), z.subarray(b)] });
      const next = randomText(rand, 5, 40);
      messages.push(whole(next, await sender.message('sync', next)));
    }
    sender.drop();
    await deliver('permessage-deflate', true, messages);
  });

  it('the final block ends in the 2nd of 3 frames, the 3rd is empty; then a sync-flushed message', async () => {
    const rand = random(seed + 2);
    const sender = new DeflateSender(true);
    const text = randomText(rand, 30, 100);
    const z = await sender.message('standalone', text);
    const next = randomText(rand, 5, 40);
    const messages = [
      { text, fragments: [z.subarray(0, 3), z.subarray(3), Buffer.alloc(0)] },
      whole(next, await sender.message('sync', next)),
    ];
    sender.drop();
    await deliver('permessage-deflate', true, messages);
  });

  // 20 BFINAL-ended messages back to back (each a stream of its own), then 20 more, each after a
  // run of 0–3 sync-flushed messages of the running stream; a BFINAL message is either a stream of
  // its own or the end of the running stream (Z_FINISH, referring back to its window). See
  // test/support/deflate-sender.ts for the model.
  for (const noTakeover of [false, true]) {
    it(`20 BFINAL messages in a row, then 20 between sync-flushed runs${noTakeover ? ' (server_no_context_takeover)' : ''}`, async () => {
      const rand = random(seed + 3);
      const sender = new DeflateSender(!noTakeover);
      const plan: Ending[] = [];
      for (let i = 0; i < 20; i++) plan.push('standalone');
      for (let i = 0; i < 20; i++) {
        const run = Math.floor(rand() * 4);
        for (let j = 0; j < run; j++) plan.push('sync');
        plan.push(rand() < 0.5 ? 'finish' : 'standalone');
      }
      const messages: Outgoing[] = [];
      let previous: Buffer = Buffer.alloc(0);
      let referBack = 0;
      for (const ending of plan) {
        // Every 3rd message repeats the one before it, so that takeover has something to take.
        const text = messages.length % 3 === 2 ? previous : randomText(rand, 10, 120);
        const payload = await sender.message(ending, text);
        if (!inflatesAlone(payload, text)) referBack++;
        messages.push(whole(text, payload));
        previous = text;
      }
      sender.drop();
      assert.equal(plan.filter((e) => e !== 'sync').length, 40);
      if (noTakeover) assert.equal(referBack, 0, 'no message refers to an earlier one');
      else assert.ok(referBack > 0, 'some messages refer to the window of earlier ones');
      await deliver(
        noTakeover ? 'permessage-deflate; server_no_context_takeover' : 'permessage-deflate',
        noTakeover ? { serverNoContextTakeover: true } : true,
        messages,
      );
    });
  }
});
