/**
 * A connection that drops while received messages are still being inflated: every message that
 * arrived before the drop is delivered before the end is reported (whenClosed(), close()), in
 * order, then reads fail with ERR_WS_EOF. A raw client sends compressed messages and destroys its
 * socket at once (before the change, whenClosed() resolved with the drop, while they inflated).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { type CloseInfo, WebSocketError, WebSocketStream, createTestPair } from '../../src/index.js';
import { bulkyTexts, compressedText, sendAndDrop } from '../support/drop-client.js';
import { requestObject } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

interface Seen {
  /** Messages read, in order. */
  got: string[];
  /** How many had been read when whenClosed() resolved. */
  atWhenClosed: number;
  /** How many had been read when the drop (the peer's FIN) reached the server's socket. */
  atDrop: number;
  info: CloseInfo;
  readError: string;
}

/** A ws-stream server that reads with callbacks (no Promise between a delivery and the reader). */
async function serveOne(t: { after(f: () => void): void }): Promise<{ port: number; seen: Promise<Seen> }> {
  let resolveSeen!: (s: Seen) => void;
  const seen = new Promise<Seen>((r) => {
    resolveSeen = r;
  });
  const server = net.createServer(async (socket) => {
    const ws = new WebSocketStream(socket, { perMessageDeflate: true });
    const s = { got: [] as string[], atWhenClosed: -1, atDrop: -1, readError: '' } as Seen;
    socket.once('end', () => {
      s.atDrop = s.got.length;
    });
    await ws.accept();
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) resolveSeen(s);
    };
    ws.whenClosed().then((info) => {
      s.atWhenClosed = s.got.length;
      s.info = info;
      done();
    });
    const readNext = (): void =>
      ws.read((err, m) => {
        if (err) {
          s.readError = err.code;
          done();
          return;
        }
        s.got.push(m!.text());
        readNext();
      });
    readNext();
  });
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, seen };
}

describe('a drop while received messages are still inflating', () => {
  for (const [count, size] of [
    [1, 1 << 20],
    [4, 256 << 10],
  ] as const) {
    it(`${count} message(s) of ${size} bytes: all read before whenClosed() resolves, then ERR_WS_EOF`, async (t) => {
      const { port, seen } = await serveOne(t);
      const sent = bulkyTexts(count, size);
      await sendAndDrop(port, sent);
      const s = await seen;
      // What this is about did happen: the drop came before the last message was read (had they
      // all been read first, the order below would hold whatever the stream does with a drop).
      assert.ok(s.atDrop >= 0 && s.atDrop < count, `the drop came after ${s.atDrop} of ${count} were read`);
      assert.equal(s.got.length, count);
      assert.ok(
        s.got.every((m, i) => m === sent[i]),
        'every message whole and in order',
      );
      assert.equal(s.atWhenClosed, count);
      assert.deepEqual([s.info.code, s.info.initiatedBy, s.info.wasClean], [1006, 'abnormal', false]);
      assert.equal(s.readError, 'ERR_WS_EOF');
    });
  }
});

describe('the layer destroyed while received messages are still inflating', () => {
  it('the messages whole in hand before it still inflate and are read, in order; then reads fail', async () => {
    const [server, client] = createTestPair();
    const ws = new WebSocketStream(server, { perMessageDeflate: true });
    const peer = new RawPeer(client);
    await ws.accept(requestObject({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    await peer.responseHead();
    const sent = bulkyTexts(4, 256 << 10);
    // One chunk: all four are parsed and in the inflate line before the first is inflated.
    peer.send(Buffer.concat(sent.map((m) => compressedText(m))));
    const got = [(await ws.read()).text()];
    ws.nextLayer.destroy();
    let readError = '';
    for (;;) {
      const m = await ws.read().catch((e: WebSocketError) => e);
      if (m instanceof WebSocketError) {
        readError = m.code;
        break;
      }
      got.push(m.text());
    }
    assert.equal(got.length, sent.length);
    assert.ok(
      got.every((m, i) => m === sent[i]),
      'every message whole and in order',
    );
    assert.notEqual(readError, '');
  });
});
