/**
 * An idle stream holds no queue and no receiver of its own: they are made with the first bytes and
 * let go when emptied. What a peer sees and what reads return must not show it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  type WebSocketError,
  WebSocketStream,
  createTestPair,
  type LayerSink,
  type TestLayer,
} from '../../src/index.js';
import { binary, closeFrame, cont, parseFrames, ping, text } from '../support/frames.js';
import { delivered } from '../support/peer.js';
import { CustomDuplexLayer } from '../support/duplex-layer.js';
import { openServer } from '../support/open.js';

/** A client-role stream and a server-role stream over a test pair, both open. */
async function openPair(): Promise<{ client: WebSocketStream; server: WebSocketStream; clientEnd: TestLayer }> {
  const [a, b] = createTestPair();
  const client = new WebSocketStream(a);
  const server = new WebSocketStream(b);
  await Promise.all([server.accept(), client.handshake({ host: 'example.com' })]);
  return { client, server, clientEnd: a };
}

describe('an idle stream', () => {
  it('that never received a byte: nothing buffered, a ping answered, a clean close', async () => {
    const { ws, peer } = await openServer();
    assert.equal(ws.bufferedAmount, 0);
    assert.equal(ws.closeInfo, undefined);
    peer.send(ping('are you there'));
    const [pong] = await peer.waitFrames(1);
    assert.deepEqual([pong!.opcode, pong!.payload.toString()], [0xa, 'are you there']);
    peer.send(closeFrame(1000, 'bye'));
    await assert.rejects(ws.read(), (e: WebSocketError) => e.code === 'ERR_WS_CLOSED');
    const info = await ws.whenClosed();
    assert.deepEqual([info.wasClean, info.initiatedBy, info.code, info.reason], [true, 'remote', 1000, 'bye']);
    assert.equal(ws.bufferedAmount, 0);
  });

  it('reads queued messages, then queues and reads again in order, pieces gathered', async () => {
    const { ws, peer, server } = await openServer();
    const first = Buffer.concat([text('one'), binary(Buffer.from([1, 2, 3])), text('three')]);
    const arrived = delivered(server, first.length);
    peer.send(first);
    await arrived; // queued with no reader waiting
    assert.equal((await ws.read()).text(), 'one');
    assert.deepEqual([...(await ws.read()).data], [1, 2, 3]);
    assert.equal((await ws.read()).text(), 'three'); // the queue is empty again
    const second = Buffer.concat([
      text('fo', { fin: false }),
      cont('u', { fin: false }),
      cont('r', { fin: false }),
      cont('!'),
      text('five'),
    ]);
    const again = delivered(server, second.length);
    peer.send(second);
    await again;
    const piece = await ws.readSome();
    assert.deepEqual([piece.text(), piece.fin], ['fo', false]);
    assert.equal((await ws.read()).text(), 'ur!');
    assert.equal((await ws.read()).text(), 'five');
  });
});

describe('a client stream writing in separate turns', () => {
  it('masks every frame, and an aborted write still queued is withdrawn', async () => {
    const { client, server, clientEnd } = await openPair();
    const sent = ['alpha', 'beta', 'gamma'];
    for (const m of sent) {
      await client.write(m); // each its own flush, each from a queue made anew
      assert.equal(client.bufferedAmount, 0);
      assert.equal((await server.read()).text(), m);
    }
    const ac = new AbortController();
    const withdrawn = client.write('never', { signal: ac.signal });
    ac.abort();
    await assert.rejects(withdrawn, (e: WebSocketError) => e.code === 'ERR_WS_ABORTED');
    await client.write('last');
    assert.equal((await server.read()).text(), 'last');
    // Four data frames on the wire, each masked (their payloads the server read above; the test
    // layer's record is unmasked in place by the server's receiver, so only the mask bit is kept).
    const wire = clientEnd.wire();
    const frames = parseFrames(wire.subarray(wire.indexOf('\r\n\r\n') + 4)).frames;
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.masked]),
      [1, 1, 1, 1].map((op) => [op, true]),
    );
  });
});

/**
 * A custom next layer that calls its sink's methods with extra arguments, as handing them to
 * `forEach` or to an event with arguments does.
 */
class LooseLayer extends CustomDuplexLayer {
  attach(sink: LayerSink): void {
    this.d.on('data', (chunk: Buffer) => [chunk].forEach(sink.onData, sink));
    this.d.on('end', () => sink.onEnd());
    this.d.on('error', (e: Error) => sink.onError(e));
    this.d.on('close', (hadError: boolean) => (sink.onClose as (hadError: boolean) => void).call(sink, hadError));
  }
}

describe('a custom next layer', () => {
  it('may call the sink with extra arguments: data is data, the close is the layer closing', async () => {
    const [a, b] = createTestPair();
    const client = new WebSocketStream(a);
    const server = new WebSocketStream(new LooseLayer(b));
    await Promise.all([server.accept(), client.handshake({ host: 'example.com' })]);
    await client.write('through a loose layer');
    assert.equal((await server.read()).text(), 'through a loose layer');
    await client.close({ code: 1000, reason: 'done' });
    const info = await server.whenClosed();
    assert.deepEqual([info.wasClean, info.initiatedBy, info.code, info.reason], [true, 'remote', 1000, 'done']);
  });
});
