/**
 * RFC 6455 §7.1.7: once a compressed message fails to inflate, the connection is failed (1007 for
 * text that is not UTF-8, 1007 for data that is not DEFLATE) and nothing after that message is
 * processed: a ping that came behind it (before the peer's close) gets no pong and is not emitted.
 * What a raw client sees on the wire, and the server's events, on the real `ws` and on ws-stream/ws;
 * then the client's side against a raw server.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { compressedText } from '../support/drop-client.js';
import { closeFrame, frame, KEY, parseFrames, ping } from '../support/frames.js';
import type { WireFrame } from '../support/frames.js';
import { fakeServer, response101 } from '../support/hostile.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

const NOT_UTF8 = Buffer.from([0x68, 0xc3, 0x28]);

/** A compressed frame whose payload is not DEFLATE data (block type 3 is reserved). */
const NOT_DEFLATE = frame({ opcode: 1, payload: Buffer.from([0xff, 0xff, 0xff, 0xff]), rsv: 4 });

function describeFrame(f: WireFrame): string {
  if (f.opcode === 8) return `close ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005}`;
  if (f.opcode === 0xa) return `pong ${f.payload}`;
  return `opcode ${f.opcode}`;
}

/** `chunk` sent at once after the handshake; the server's events and the frames the client got. */
async function run(t: TestContext, impl: Impl, chunk: Buffer): Promise<{ events: string[]; wire: string[] }> {
  const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
  const events: string[] = [];
  const closed = new Promise<void>((resolve) => {
    // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
    wss.on('connection', (sws: any) => {
      sws.on('message', (d: Buffer) => events.push(`message ${d}`));
      sws.on('ping', (d: Buffer) => events.push(`ping ${d}`));
      sws.on('error', (err: Error & { code?: string }) => events.push(`error ${err.code}`));
      sws.on('close', (code: number) => {
        events.push(`close ${code}`);
        // Anything emitted after 'close' would show up in `events` by the next turns.
        setImmediate(() => setImmediate(resolve));
      });
    });
  });
  const peer = await rawPeer(
    t,
    port,
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
  );
  assert.match((await peer.responseHead()).head, /permessage-deflate/);
  peer.send(chunk);
  await peer.waitClosed();
  await closed;
  return { events, wire: peer.frames().map(describeFrame) };
}

for (const impl of impls) {
  describe(`${impl.name}: a ping behind a compressed message that fails to inflate`, () => {
    it('text that is not UTF-8, a ping, the close: no pong, no ping event, close 1007', async (t) => {
      const got = await run(
        t,
        impl,
        Buffer.concat([compressedText('fine'), compressedText(NOT_UTF8), ping('late'), closeFrame(1000)]),
      );
      assert.deepEqual(got, {
        events: ['message fine', 'error WS_ERR_INVALID_UTF8', 'close 1006'],
        wire: ['close 1007'],
      });
    });

    it('data that is not DEFLATE, a ping, the close: no pong, no ping event, close 1007', async (t) => {
      const got = await run(t, impl, Buffer.concat([NOT_DEFLATE, ping('late'), closeFrame(1000)]));
      assert.deepEqual(got.wire, ['close 1007']);
      assert.deepEqual(got.events.slice(1), ['close 1006']);
      assert.match(got.events[0]!, /^error Z_DATA_ERROR$/);
    });

    it('a ping before the failing message is answered and emitted; the one behind it is not', async (t) => {
      const got = await run(
        t,
        impl,
        Buffer.concat([ping('early'), compressedText(NOT_UTF8), ping('late'), closeFrame(1000)]),
      );
      assert.deepEqual(got, {
        events: ['ping early', 'error WS_ERR_INVALID_UTF8', 'close 1006'],
        wire: ['pong early', 'close 1007'],
      });
    });
  });
}

/** The client's side: a server sends `chunk` right behind its 101; the client's events and frames. */
async function runClient(t: TestContext, impl: Impl, chunk: Buffer): Promise<{ events: string[]; wire: string[] }> {
  let sent = Buffer.alloc(0);
  const { url } = await fakeServer(t, (socket, accept) => {
    socket.on('data', (d: Buffer) => {
      sent = Buffer.concat([sent, d]);
    });
    socket.on('end', () => socket.end());
    socket.write(response101(accept, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    socket.write(chunk);
  });
  const client = new impl.WebSocket(url);
  const events: string[] = [];
  client.on('message', (d: Buffer) => events.push(`message ${d}`));
  client.on('ping', (d: Buffer) => events.push(`ping ${d}`));
  client.on('error', (err: Error & { code?: string }) => events.push(`error ${err.code}`));
  await new Promise<void>((resolve) =>
    client.on('close', (code: number) => {
      events.push(`close ${code}`);
      setImmediate(() => setImmediate(resolve));
    }),
  );
  return { events, wire: parseFrames(sent).frames.map(describeFrame) };
}

for (const impl of impls) {
  it(`${impl.name}: client: a ping behind compressed text that is not UTF-8 gets no pong`, async (t) => {
    const got = await runClient(
      t,
      impl,
      Buffer.concat([
        compressedText(NOT_UTF8, { mask: false }),
        ping('late', { mask: false }),
        closeFrame(1000, '', { mask: false }),
      ]),
    );
    assert.deepEqual(got, { events: ['error WS_ERR_INVALID_UTF8', 'close 1006'], wire: ['close 1007'] });
  });
}
