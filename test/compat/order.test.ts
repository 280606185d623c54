/**
 * Event order through the ws API: 'message', 'ping' and 'pong' come in the order of their frames on
 * the wire, also when a message before a ping is still being inflated (ws stops parsing while a
 * message decompresses). A raw peer sends the frames; each case runs on the real `ws` and on
 * ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { binary, closeFrame, cont, KEY, ping, pong, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

/** A message body compressed as permessage-deflate sends it (no context takeover needed to read it). */
function deflated(s: string | Buffer): Buffer {
  const out = zlib.deflateRawSync(s, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4); // without the 00 00 ff ff tail
}

function request(port: number): string {
  return (
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n\r\n'
  );
}

// A large compressed message (inflating takes zlib's thread pool), then control frames between
// messages of every kind: compressed, plain, fragmented with a ping between its fragments.
const BIG = 'a'.repeat(200_000);
const FRAGMENTED = deflated('frag-ment'); // sent in two fragments

const parts = [
  text(deflated(BIG), { rsv: 4 }),
  ping('p1'),
  pong('q1'),
  text(deflated('small'), { rsv: 4 }),
  ping('p2'),
  binary(Buffer.from('plain')),
  pong('q2'),
  text(FRAGMENTED.subarray(0, 4), { rsv: 4, fin: false }),
  ping('p3'),
  cont(FRAGMENTED.subarray(4)),
  pong('q3'),
  closeFrame(1000),
];
const expected = [
  `message ${BIG.length}`,
  'ping p1',
  'pong q1',
  'message small',
  'ping p2',
  'message plain',
  'pong q2',
  'ping p3',
  'message frag-ment',
  'pong q3',
  'close 1000',
];

for (const impl of impls) {
  describe(`${impl.name}: events in wire order with permessage-deflate`, () => {
    for (const mode of ['one write', 'frame by frame', 'paused', 'allowSynchronousEvents false'] as const) {
      it(`a compressed message, then pings and pongs between messages (${mode})`, async (t) => {
        const { wss, port } = await listen(t, impl, {
          perMessageDeflate: true,
          allowSynchronousEvents: mode !== 'allowSynchronousEvents false',
        });
        const events: string[] = [];
        const closed = new Promise<void>((resolve) => {
          // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
          wss.on('connection', (sws: any) => {
            if (mode === 'paused') {
              sws.pause();
              setImmediate(() => sws.resume());
            }
            sws.on('message', (d: Buffer) => events.push(`message ${d.length > 100 ? d.length : d}`));
            sws.on('ping', (d: Buffer) => events.push(`ping ${d}`));
            sws.on('pong', (d: Buffer) => events.push(`pong ${d}`));
            sws.on('close', (code: number) => {
              events.push(`close ${code}`);
              resolve();
            });
          });
        });
        const peer = await rawPeer(t, port, request(port));
        const head = await peer.responseHead();
        assert.match(head.head, /Sec-WebSocket-Extensions: permessage-deflate/i);
        // One write, or one write per frame (each may come as its own chunk).
        if (mode === 'frame by frame') for (const f of parts) peer.send(f);
        else peer.send(Buffer.concat(parts));
        await closed;
        assert.deepEqual(events, expected);
      });
    }
  });
}

// Random sequences of the same kinds of frames, cut at random places: the events are the frames'
// order. The seed is printed; ORDER_SEED=<seed> replays a failure.
const seed = process.env.ORDER_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.ORDER_SEED);

function random(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Frames and the events they make, in wire order. */
function sequence(rand: () => number): { bytes: Buffer; events: string[] } {
  const parts: Buffer[] = [];
  const events: string[] = [];
  const n = 4 + Math.floor(rand() * 12);
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(rand() * 5);
    const body = `m${i}-${'x'.repeat(Math.floor(rand() * 3) === 0 ? Math.floor(rand() * 100_000) : 3)}`;
    if (kind === 0) {
      parts.push(text(deflated(body), { rsv: 4 }));
      events.push(`message ${body.length}`);
    } else if (kind === 1) {
      parts.push(binary(Buffer.from(body)));
      events.push(`message ${body.length}`);
    } else if (kind === 2) {
      // A compressed message in two fragments, maybe a ping between them.
      const z = deflated(body);
      const cut = Math.floor(rand() * z.length);
      parts.push(text(z.subarray(0, cut), { rsv: 4, fin: false }));
      if (rand() < 0.5) {
        parts.push(ping(`p${i}`));
        events.push(`ping p${i}`);
      }
      parts.push(cont(z.subarray(cut)));
      events.push(`message ${body.length}`);
    } else if (kind === 3) {
      parts.push(ping(`p${i}`));
      events.push(`ping p${i}`);
    } else {
      parts.push(pong(`q${i}`));
      events.push(`pong q${i}`);
    }
  }
  parts.push(closeFrame(1000));
  events.push('close 1000');
  return { bytes: Buffer.concat(parts), events };
}

for (const impl of impls) {
  describe(`${impl.name}: random frame sequences keep wire order (seed ${seed})`, () => {
    const rand = random(seed);
    for (let round = 0; round < 4; round++) {
      const { bytes, events: expected } = sequence(rand);
      const cuts = [0, ...Array.from({ length: 3 }, () => Math.floor(rand() * bytes.length)).sort((a, b) => a - b)];
      it(`sequence ${round}: ${expected.length} events in ${cuts.length} writes`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
        const events: string[] = [];
        const closed = new Promise<void>((resolve) => {
          // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
          wss.on('connection', (sws: any) => {
            sws.on('message', (d: Buffer) => events.push(`message ${d.length}`));
            sws.on('ping', (d: Buffer) => events.push(`ping ${d}`));
            sws.on('pong', (d: Buffer) => events.push(`pong ${d}`));
            sws.on('close', (code: number) => {
              events.push(`close ${code}`);
              resolve();
            });
          });
        });
        const peer = await rawPeer(t, port, request(port));
        await peer.responseHead();
        for (let i = 0; i < cuts.length; i++) peer.send(bytes.subarray(cuts[i], cuts[i + 1] ?? bytes.length));
        await closed;
        assert.deepEqual(events, expected, `ORDER_SEED=${seed}`);
      });
    }
  });
}
