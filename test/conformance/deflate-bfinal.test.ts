/**
 * The server role with permessage-deflate messages ended by a BFINAL block (RFC 7692 §7.2.1,
 * §7.2.3.4): `ws-stream serve --deflate` (an echo server, a child process) over real TCP, the raw
 * client sending masked frames built with node:zlib. The client asks for server_no_context_takeover,
 * so each echo inflates on its own and is checked on the wire. The seed is printed;
 * BFINAL_SEED=<seed> replays a run.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { RawClient, startServer } from './raw-client.js';
import { closeFrame, cont, text } from '../support/frames.js';
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
console.log(`deflate-bfinal seed ${seed} (replay with BFINAL_SEED=${seed})`);

let server: Awaited<ReturnType<typeof startServer>>;
before(async () => {
  server = await startServer(['--deflate']);
});
after(() => server.stop());

/** A message as the client sends it: the payload of each of its frames (RSV1 on the first only). */
interface Outgoing {
  text: Buffer;
  fragments: Buffer[];
}
const whole = (t: Buffer, payload: Buffer): Outgoing => ({ text: t, fragments: [payload] });

/** The frames of `m`, masked, RSV1 on the first only. */
const framesOf = (m: Outgoing): Buffer[] =>
  m.fragments.map((payload, i) => {
    const fin = i === m.fragments.length - 1;
    return i === 0 ? text(payload, { rsv: 4, fin }) : cont(payload, { fin });
  });

/**
 * The next echo, checked on the wire: a text message whose first frame has RSV1 (the server
 * compresses every message: `serve --deflate` has threshold 0) and no other frame has it; its
 * payload inflated on its own (server_no_context_takeover).
 */
async function nextEcho(c: RawClient, what: string): Promise<Buffer> {
  const first = await c.next(what);
  assert.deepEqual([first.opcode, first.rsv], [1, 4], `${what}: a compressed text message, not a close`);
  const parts = [first.payload];
  for (let f = first; !f.fin; ) {
    f = await c.next(`${what}: a continuation`);
    assert.deepEqual([f.opcode, f.rsv], [0, 0], `${what}: a continuation frame without RSV1`);
    parts.push(f.payload);
  }
  return zlib.inflateRawSync(Buffer.concat([...parts, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/**
 * Opens a connection asking for server_no_context_takeover (and `extra`), sends `messages` in one
 * write, checks every echo in order, then a clean close.
 */
async function echoes(extra: string, messages: Outgoing[]): Promise<void> {
  const c = await RawClient.connect(server.port, {
    'Sec-WebSocket-Extensions': `permessage-deflate; server_no_context_takeover${extra}`,
  });
  try {
    c.send(Buffer.concat(messages.flatMap(framesOf)));
    for (let i = 0; i < messages.length; i++) {
      const got = await nextEcho(c, `echo ${i}`);
      assert.ok(got.equals(messages[i]!.text), `echo ${i}: ${got.toString().slice(0, 60)}`);
    }
    c.send(closeFrame(1000));
    const { code, before: early } = await c.expectClose();
    assert.deepEqual([code, early.length], [1000, 0]);
  } finally {
    c.destroy();
  }
}

describe(`server role: messages ended by a BFINAL block (seed ${seed})`, () => {
  for (const extra of ['', '; client_no_context_takeover']) {
    const takeover = extra === '';
    const label = takeover ? '' : ' (client_no_context_takeover)';

    it(`the RFC 7692 §7.2.3.4 example (8 octets: the final block, then an empty stored block's header), then 3 sync-flushed messages${label}`, async () => {
      const rand = random(seed);
      const sender = new DeflateSender(takeover);
      const first = randomText(rand, 20, 60);
      const messages = [whole(Buffer.from('Hello'), RFC_BFINAL_HELLO)];
      for (const t of [first, first, Buffer.concat([randomText(rand, 5, 20), first])])
        messages.push(whole(t, await sender.message('sync', t)));
      sender.drop();
      const alone = messages.slice(2).map((m) => inflatesAlone(m.fragments[0]!, m.text));
      assert.deepEqual(alone, [!takeover, !takeover], 'takeover: messages 2 and 3 need the window of message 1');
      await echoes(extra, messages);
    });

    it(`a message in 3 frames whose last ends with the BFINAL block, then a sync-flushed one, 12 times${label}`, async () => {
      const rand = random(seed + 1);
      const sender = new DeflateSender(takeover);
      const messages: Outgoing[] = [];
      for (let round = 0; round < 12; round++) {
        const t = randomText(rand, 30, 300);
        // Every 3rd round the BFINAL message ends the running stream (Z_FINISH) rather than being a
        // stream of its own: with takeover it refers to the sync-flushed message before it.
        const z = await sender.message(round % 3 === 2 ? 'finish' : 'standalone', t);
        // Cut points 1 ≤ a ≤ b < length: the last fragment holds at least the final octet; in every
        // 4th round the middle fragment is empty.
        const a = 1 + Math.floor(rand() * (z.length - 2));
        const b = round % 4 === 3 ? a : a + Math.floor(rand() * (z.length - a));
        assert.ok(1 <= a && a <= b && b < z.length);
        messages.push({ text: t, fragments: [z.subarray(0, a), z.subarray(a, b), z.subarray(b)] });
        const next = round % 3 === 1 ? t : randomText(rand, 5, 40);
        messages.push(whole(next, await sender.message('sync', next)));
      }
      sender.drop();
      await echoes(extra, messages);
    });

    // 20 BFINAL-ended messages back to back (each a stream of its own), then 20 more, each after a
    // run of 0–3 sync-flushed messages of the running stream; see test/support/deflate-sender.ts.
    it(`20 BFINAL messages in a row, then 20 between sync-flushed runs${label}`, async () => {
      const rand = random(seed + 3);
      const sender = new DeflateSender(takeover);
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
        const t = messages.length % 3 === 2 ? previous : randomText(rand, 10, 120);
        const payload = await sender.message(ending, t);
        if (!inflatesAlone(payload, t)) referBack++;
        messages.push(whole(t, payload));
        previous = t;
      }
      sender.drop();
      assert.equal(plan.filter((e) => e !== 'sync').length, 40);
      if (takeover) assert.ok(referBack > 0, 'some messages refer to the window of earlier ones');
      else assert.equal(referBack, 0, 'no message refers to an earlier one');
      await echoes(extra, messages);
    });
  }
});
