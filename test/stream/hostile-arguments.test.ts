/**
 * Arguments no type checker stops, from code nobody here wrote: bytes over an ArrayBuffer that was
 * transferred away, option values with no string form, an `http2` option that is not a session.
 * Each is ERR_WS_INVALID_ARGUMENT (V8's bare TypeError, or a throw while the error message itself
 * was being built, before), nothing reaches the wire, and the stream goes on.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import {
  StreamGroup,
  WebSocketStream,
  computeAccept,
  connect,
  createTestPair,
  describeError,
  isValidCloseCode,
  rejectUpgrade,
} from '../../src/index.js';
import { requestObject } from '../support/frames.js';
import { openServer } from '../support/open.js';
import { RawPeer } from '../support/peer.js';

const invalid = { code: 'ERR_WS_INVALID_ARGUMENT' };

/** A view whose ArrayBuffer was transferred away (as postMessage with `transfer` does). */
function detachedView(): Uint8Array {
  const view = new Uint8Array([1, 2, 3, 4]);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  assert.equal(view.byteLength, 0, 'detached');
  return view;
}

/** Values whose string form throws or does not exist. */
const unprintable: [string, unknown][] = [
  ['an object without a prototype', Object.create(null)],
  ['a Symbol', Symbol('s')],
  ['an object whose toString throws', { toString: () => assert.fail('called'), valueOf: () => ({}) }],
  [
    'a Proxy whose traps throw',
    new Proxy(
      {},
      {
        get: () => {
          throw new Error('trap');
        },
      },
    ),
  ],
];

describe('hostile arguments', () => {
  it('bytes over a detached ArrayBuffer: write, writeSome, ping, pong and close refuse them at once; the stream goes on', async () => {
    const { ws, peer } = await openServer();
    const view = detachedView();
    // (bad arguments throw at once, as everywhere in the stream's API)
    assert.throws(() => ws.write(view), invalid);
    assert.throws(() => ws.write(view.buffer as ArrayBuffer), invalid);
    assert.throws(() => ws.writeSome(view, { fin: true }), invalid);
    assert.throws(() => ws.ping(view), invalid);
    assert.throws(() => ws.pong(view), invalid);
    assert.throws(() => ws.close({ code: 1000, reason: view }), invalid);
    await ws.write('still open');
    const [frame] = await peer.waitFrames(1);
    assert.equal(frame!.opcode, 1, 'nothing went out before it');
    assert.equal(frame!.payload.toString(), 'still open');
  });

  it('a flag of write, writeSome, ping or pong that is not a boolean is refused at once, not taken for its truth', async () => {
    // With permessage-deflate, so that `compress` decides something (RSV1 on the wire).
    const [server, client] = createTestPair();
    const ws = new WebSocketStream(server, { perMessageDeflate: { threshold: 0 } });
    const peer = new RawPeer(client);
    await ws.accept(requestObject({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    assert.match((await peer.responseHead()).head, /permessage-deflate/);
    const values: [string, unknown][] = [
      ['1', 1],
      ['0', 0],
      ["'false'", 'false'],
      ["''", ''],
      ['null', null],
      ['{}', {}],
      ...unprintable.slice(0, 2),
    ];
    const calls: [string, (v: unknown) => unknown][] = [
      ['binary', (v) => ws.write('x', { binary: v as never })],
      ['compress', (v) => ws.write('x', { compress: v as never })],
      ['binary', (v) => ws.write('x', { binary: v as never }, () => assert.fail('called back'))],
      ['fin', (v) => ws.writeSome('x', { fin: v as never })],
      ['binary', (v) => ws.writeSome('x', { binary: v as never })],
      ['compress', (v) => ws.writeSome('x', { compress: v as never }, () => assert.fail('called back'))],
      ['afterMessages', (v) => ws.ping('p', { afterMessages: v as never })],
      ['afterMessages', (v) => ws.pong('p', { afterMessages: v as never })],
    ];
    for (const [what, value] of values) {
      for (const [flag, call] of calls) {
        assert.throws(
          () => call(value),
          { ...invalid, message: new RegExp(`^invalid argument: ${flag} must be a boolean, got `) },
          `${flag}: ${what}`,
        );
      }
    }
    assert.equal(ws.bufferedAmount, 0);
    // Nothing was queued, and no writeSome() left a message open: booleans and absent flags still serve.
    await ws.write(Buffer.from('text'), { binary: false, compress: false });
    await ws.writeSome('a', { binary: true, compress: true, fin: false });
    await ws.writeSome('b', { fin: undefined, compress: undefined });
    await ws.ping('p', { afterMessages: false });
    const frames = await peer.waitFrames(4);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.rsv, f.fin]),
      [
        [1, 0, true], // text, uncompressed
        [2, 4, false], // binary, compressed: RSV1 on the first frame
        [0, 0, true],
        [9, 0, true],
      ],
    );
    assert.equal(frames[0]!.payload.toString(), 'text');
    assert.equal(frames[3]!.payload.toString(), 'p');
    assert.equal(ws.isOpen, true);
  });

  it('a close reason that is neither a string nor bytes is refused', async () => {
    const { ws } = await openServer();
    assert.throws(() => ws.close({ code: 1000, reason: 42 as never }), invalid);
    assert.equal(ws.isOpen, true);
  });

  it('connect(): a URL or an option value with no string form is refused naming it, and nothing is connected', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
    try {
      for (const [what, value] of unprintable) {
        await assert.rejects(connect(value as never), { ...invalid, message: /invalid URL/ }, what);
        await assert.rejects(
          connect(url, { handshakeTimeout: value as never }),
          { ...invalid, message: /handshakeTimeout/ },
          what,
        );
        await assert.rejects(connect(url, { http2: value as never }), { ...invalid, message: /http2/ }, what);
      }
      // Header values are turned into text the way Node does; one that has none is refused.
      const noText = unprintable[0]![1];
      await assert.rejects(connect(url, { headers: { 'x-a': noText as never } }), { ...invalid, message: /x-a/ });
      await assert.rejects(connect(url, { http2: true, headers: { 'x-a': noText as never } }), invalid);
      // An object that is not an HTTP/2 session: refused before anything is called on it.
      await assert.rejects(connect(url, { http2: { on() {} } as never }), { ...invalid, message: /http2/ });
      await assert.rejects(connect(url, { http2: 1 as never }), { ...invalid, message: /http2/ });
      // A flag is a boolean: `'false'` would have verified the certificate, `0` too, whatever was meant.
      for (const value of ['false', 0, null]) {
        await assert.rejects(connect(url.replace('ws:', 'wss:'), { rejectUnauthorized: value as never }), {
          ...invalid,
          message: /rejectUnauthorized must be a boolean/,
        });
      }
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  it('the helpers: isValidCloseCode says false, computeAccept and describeError refuse, for values of another type', () => {
    for (const [what, value] of [...unprintable.slice(0, 2), ['a string', '1000'] as [string, unknown]]) {
      assert.equal(isValidCloseCode(value as never), false, what);
    }
    for (const [what, value] of [...unprintable.slice(0, 2), ['a number', 13] as [string, unknown]]) {
      assert.throws(() => computeAccept(value as never), invalid, what);
      assert.throws(() => describeError(value as never), invalid, what);
    }
    // Only the table's own codes: not what every object inherits.
    assert.throws(() => describeError('toString' as never), invalid);
    assert.equal(describeError('ERR_WS_BAD_SEC_KEY').condition, 'handshake_failed');
  });

  it('handshake() and rejectUpgrade(): a target, a status or a header value with no string form throws at once', () => {
    for (const [what, value] of unprintable.slice(0, 3)) {
      const ws = new WebSocketStream(createTestPair()[0]);
      assert.throws(() => ws.handshake({ host: 'h', target: value as never }), invalid, what);
      assert.throws(() => rejectUpgrade(createTestPair()[0], value as never), invalid, what);
    }
    const noText = unprintable[0]![1];
    assert.throws(() => rejectUpgrade(createTestPair()[0], 400, { headers: { 'x-a': noText as never } }), {
      ...invalid,
      message: /x-a/,
    });
    assert.throws(() => new WebSocketStream(createTestPair()[0]).handshake({ host: 'h', target: 10n as never }), {
      ...invalid,
      message: /target 10/,
    });
  });

  it('StreamGroup: add() takes only a WebSocketStream, shutdown() an options object whose server has close()', async () => {
    const group = new StreamGroup();
    for (const value of [null, {}, 5, createTestPair()[0]]) {
      assert.throws(() => group.add(value as never), invalid, String(value));
    }
    assert.equal(group.size, 0);
    for (const options of [null, 5, { server: {} }, { server: 5 }]) {
      await assert.rejects(group.shutdown(options as never), invalid, JSON.stringify(options));
    }
    assert.deepEqual(await group.shutdown({ server: { close() {} } }), { closed: 0, destroyed: 0 });
  });
});
