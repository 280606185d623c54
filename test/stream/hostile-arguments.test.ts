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
import { openServer } from '../support/open.js';

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
