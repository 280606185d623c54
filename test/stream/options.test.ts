/** Stream options: each bad value is a typed error at construction; one options object serves many streams. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketStream, createTestPair, type StreamOptions } from '../../src/index.js';
import { streamOptionsOf } from '../../src/stream/websocket-stream.js';
import { ping, requestHead, text, parseFrames } from '../support/frames.js';
import { RawPeer } from '../support/peer.js';

const stream = (o?: StreamOptions): WebSocketStream => new WebSocketStream(createTestPair()[0], o);

describe('stream options', () => {
  it('a bad value throws ERR_WS_INVALID_ARGUMENT naming the option', () => {
    const bad: [StreamOptions, RegExp][] = [
      [{ readMessageMax: -1 }, /readMessageMax/],
      [{ maxFragments: 0 }, /maxFragments/],
      [{ fragmentSize: 1.5 }, /fragmentSize/],
      [{ autoPong: 'yes' as unknown as boolean }, /autoPong/],
      [{ closeTimeout: Number.NaN }, /closeTimeout/],
      [{ bufferPolicy: 'drop' as 'wait' }, /bufferPolicy/],
      [{ controlCallback: 1 as unknown as () => void }, /controlCallback/],
      [{ perMessageDeflate: { serverMaxWindowBits: 16 } }, /serverMaxWindowBits/],
      [{ perMessageDeflate: 'on' as unknown as boolean }, /perMessageDeflate/],
    ];
    for (const [o, name] of bad) {
      assert.throws(
        () => stream(o),
        (e: Error & { code?: string }) => e.code === 'ERR_WS_INVALID_ARGUMENT' && name.test(e.message),
        JSON.stringify(o),
      );
    }
  });

  it('streams made from one options object share one normalised copy (memory per connection)', () => {
    const o: StreamOptions = { idleTimeout: 1000, perMessageDeflate: { threshold: 10 } };
    const a = stream(o),
      b = stream(o);
    assert.equal(streamOptionsOf(a), streamOptionsOf(b));
    assert.ok(Object.isFrozen(streamOptionsOf(a)));
    assert.equal(streamOptionsOf(a).idleTimeout, 1000);
    assert.equal(streamOptionsOf(a).perMessageDeflate?.threshold, 10);
    assert.equal(streamOptionsOf(stream()), streamOptionsOf(stream()), 'no options: the shared defaults');
  });

  it('an options object changed between two streams takes effect for the later one only', () => {
    const o: StreamOptions = { readMessageMax: 100 };
    const a = stream(o);
    o.readMessageMax = 200;
    const b = stream(o);
    assert.equal(streamOptionsOf(a).readMessageMax, 100);
    assert.equal(streamOptionsOf(b).readMessageMax, 200);
    o.perMessageDeflate = { level: 3 };
    assert.equal(streamOptionsOf(stream(o)).perMessageDeflate?.level, 3);
    (o.perMessageDeflate as { level: number }).level = 5; // the same nested object, changed
    assert.equal(streamOptionsOf(stream(o)).perMessageDeflate?.level, 5);
    o.readMessageMax = -5;
    assert.throws(() => stream(o), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });

  it('a changed option is honoured on the wire: readMessageMax fails a too-large message with 1009', async (t) => {
    const o: StreamOptions = { readMessageMax: 1024 };
    stream(o); // the first stream caches the normalised copy
    o.readMessageMax = 4;
    const [layer, peer] = createTestPair();
    t.after(() => peer.destroy()); // (or the stream's close timer, waiting for the peer's close, holds the process 5 s)
    const ws = new WebSocketStream(layer, o);
    const accepting = ws.accept();
    peer.write(Buffer.concat([Buffer.from(requestHead()), text('hello')]));
    await accepting;
    await assert.rejects(ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
    const all = layer.wire();
    const frames = parseFrames(all.subarray(all.indexOf('\r\n\r\n') + 4)).frames;
    assert.equal(frames.at(-1)!.payload.readUInt16BE(0), 1009);
  });

  it('controlCallback is given the stream itself, with its whole API (one function serves every stream)', async () => {
    const seen: WebSocketStream[] = [];
    const o: StreamOptions = {
      // (typed by StreamOptions alone: options.ts declares the stream's type without importing the stream)
      controlCallback: (kind, payload, stream) => {
        seen.push(stream);
        if (kind === 'ping') void stream.write(`saw ${payload.toString()}`);
      },
    };
    const [layer, client] = createTestPair();
    const ws = new WebSocketStream(layer, o);
    const peer = new RawPeer(client);
    const accepting = ws.accept();
    peer.send(requestHead());
    await accepting;
    peer.send(ping('p')); // (after the handshake: a write from the callback during it would be refused)
    const frames = await peer.waitFrames(2);
    assert.deepEqual(seen, [ws]);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString()]),
      [
        [10, 'p'],
        [1, 'saw p'],
      ],
    );
  });
});

describe('createTestPair options', () => {
  it('refuses what is not an options object, and counts that are not positive integers (readSize 0 never ends)', () => {
    const bad: unknown[] = [
      null,
      'x',
      { readSize: 0 },
      { readSize: 1.5 },
      { readSize: '4' },
      { failReadAt: 0 },
      { failWriteAt: -1 },
      { failWriteAt: Number.NaN },
    ];
    for (const o of bad) {
      assert.throws(() => createTestPair(o as object), { code: 'ERR_WS_INVALID_ARGUMENT' }, JSON.stringify(o));
      assert.throws(() => createTestPair({}, o as object), { code: 'ERR_WS_INVALID_ARGUMENT' }, JSON.stringify(o));
    }
  });

  it('takes the documented counts: one byte at a time reaches the peer whole', async () => {
    const [a, b] = createTestPair({ readSize: 1, failWriteAt: 99 }, { readSize: 1 });
    const got: Buffer[] = [];
    b.on('data', (c: Buffer) => got.push(c));
    a.end(Buffer.from('abc'));
    await new Promise((resolve) => b.on('end', resolve));
    assert.deepEqual(
      got.map((c) => c.toString()),
      ['a', 'b', 'c'],
    );
  });
});
