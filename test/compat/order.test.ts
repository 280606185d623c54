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
