/**
 * What ws's own test suite pins down about the API's shape — property descriptors, the opening
 * request's headers, the server's `options` — run on the real `ws` and on ws-stream/ws with the
 * same expectations.
 */
import assert from 'node:assert/strict';
import http, { type ClientRequest } from 'node:http';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { compat, impls, listen, ws as realWs } from './support.js';

/** An agent that keeps the requests it is given and never sends them (no socket, nothing to clean up). */
class HoldingAgent extends http.Agent {
  readonly held: ClientRequest[] = [];
  addRequest(req: ClientRequest): void {
    this.held.push(req);
  }
}

for (const impl of impls) {
  describe(`${impl.name}: API shape as ws's suite checks it`, () => {
    it('readyState constants: enumerable, neither writable nor configurable, on the class and its prototype', () => {
      const states = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };
      for (const [name, value] of Object.entries(states)) {
        for (const target of [impl.WebSocket, impl.WebSocket.prototype]) {
          assert.deepEqual(Object.getOwnPropertyDescriptor(target, name), {
            value,
            writable: false,
            enumerable: true,
            configurable: false,
          });
        }
      }
      assert.throws(() => {
        impl.WebSocket.OPEN = 5; // a module is strict code: assigning a read-only property throws
      }, TypeError);
      assert.equal(impl.WebSocket.OPEN, 1);
    });

    it('the opening request: Sec-WebSocket-Version is the number 13 (8 with protocolVersion 8), Origin as ws sends it', () => {
      const agent = new HoldingAgent();
      new impl.WebSocket('ws://localhost', { agent, origin: 'https://example.com:8000' });
      new impl.WebSocket('ws://localhost', { agent, origin: 'https://example.com:8000', protocolVersion: 8 });
      const [v13, v8] = agent.held;
      assert.deepEqual(
        [v13!.getHeader('sec-websocket-version'), v13!.getHeader('origin'), v13!.getHeader('sec-websocket-origin')],
        [13, 'https://example.com:8000', undefined],
      );
      assert.deepEqual(
        [v8!.getHeader('sec-websocket-version'), v8!.getHeader('origin'), v8!.getHeader('sec-websocket-origin')],
        [8, undefined, 'https://example.com:8000'],
      );
    });

    it("WebSocketServer's options carry ws's defaults (maxPayload, closeTimeout, maxFragments; null where unset)", () => {
      const wss = new impl.WebSocketServer({ noServer: true });
      const o = wss.options;
      assert.deepEqual(
        {
          maxPayload: o.maxPayload,
          closeTimeout: o.closeTimeout,
          maxFragments: o.maxFragments,
          allowSynchronousEvents: o.allowSynchronousEvents,
          autoPong: o.autoPong,
          clientTracking: o.clientTracking,
          perMessageDeflate: o.perMessageDeflate,
          skipUTF8Validation: o.skipUTF8Validation,
          port: o.port,
          host: o.host,
          backlog: o.backlog,
          server: o.server,
          path: o.path,
          verifyClient: o.verifyClient,
          handleProtocols: o.handleProtocols,
          WebSocket: o.WebSocket === impl.WebSocket,
        },
        {
          maxPayload: 100 * 1024 * 1024,
          closeTimeout: 30000,
          maxFragments: 16384,
          allowSynchronousEvents: true,
          autoPong: true,
          clientTracking: true,
          perMessageDeflate: false,
          skipUTF8Validation: false,
          port: null,
          host: null,
          backlog: null,
          server: null,
          path: null,
          verifyClient: null,
          handleProtocols: null,
          WebSocket: true,
        },
      );
      // What the caller gives wins.
      const custom = new impl.WebSocketServer({ noServer: true, maxPayload: 10, path: '/x' });
      assert.deepEqual([custom.options.maxPayload, custom.options.path], [10, '/x']);
      wss.close();
      custom.close();
    });

    it("_sender is null before the connection is open, as ws's", () => {
      const agent = new HoldingAgent();
      const client = new impl.WebSocket('ws://localhost', { agent });
      assert.equal(client._sender, null);
    });

    it('resume() after the close leaves a paused socket paused (isPaused stays true)', async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      client.pause();
      client.terminate();
      await once(client, 'close');
      client.resume();
      assert.deepEqual([client.readyState, client.isPaused], [3, true]);
    });

    it('ping() and pong() take a payload of 125 bytes (the peer gets it); 126 bytes throw a RangeError', async (t) => {
      const { wss, port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      const got = Promise.all([once(server, 'ping'), once(server, 'pong')]);
      client.ping(Buffer.alloc(125, 1));
      client.pong('p'.repeat(125));
      const [[pinged], [ponged]] = await got;
      assert.deepEqual([pinged.length, ponged.length], [125, 125]);
      for (const call of [() => client.ping(Buffer.alloc(126)), () => client.pong('p'.repeat(126))]) {
        assert.throws(call, { name: 'RangeError', message: 'The data size must not be greater than 125 bytes' });
      }
    });

    it('an open client has turned Nagle off on its socket (setNoDelay), as on the server side', async (t) => {
      const { wss, port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      // node keeps what setNoDelay() set under this symbol (it has no public getter).
      const noDelay = (s: object): unknown =>
        (s as Record<symbol, unknown>)[Object.getOwnPropertySymbols(s).find((k) => k.description === 'kSetNoDelay')!];
      assert.deepEqual([noDelay(client._socket), noDelay(server._socket)], [true, true]);
    });
  });
}

for (const impl of impls) {
  describe(`${impl.name}: maxPayload read as ws reads it (a 32-bit integer)`, () => {
    for (const [value, passes] of [
      [Number.POSITIVE_INFINITY, true],
      [2 ** 60, true],
      [Number.NaN, true],
      ['1000', false],
      [1000.5, false],
    ] as const) {
      it(`${String(value)} (${typeof value}): a 2000-byte message ${passes ? 'passes' : 'fails (WS_ERR_UNSUPPORTED_MESSAGE_LENGTH)'}`, async (t) => {
        const { wss, port } = await listen(t, impl, { maxPayload: value });
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: value });
        t.after(() => client.terminate());
        const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
        const errors: string[] = [];
        server.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
        const got = new Promise<string>((resolve) => {
          server.on('message', (m: Buffer) => resolve(`message ${m.length}`));
          server.on('close', (code: number) => resolve(`close ${code}`));
        });
        client.send(Buffer.alloc(2000));
        assert.equal(await got, passes ? 'message 2000' : 'close 1006');
        assert.deepEqual(errors, passes ? [] : ['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH']);
      });
    }
  });
}

for (const impl of impls) {
  describe(`${impl.name}: permessage-deflate threshold read as ws reads it`, () => {
    // ws skips compression when `length < threshold` (and only without context takeover): with 0 or less even an
    // empty message is compressed.
    for (const [value, compressed] of [
      [Number.POSITIVE_INFINITY, [false, false, false, false]],
      [-1, [true, true, true, true]],
      [0, [true, true, true, true]],
      [9.5, [false, false, true, true]],
    ] as const) {
      it(`${value}: messages of 0, 9, 10 and 2000 bytes compressed ${compressed.join(', ')}`, async (t) => {
        const perMessageDeflate = { serverNoContextTakeover: true, threshold: value };
        const { wss, port } = await listen(t, impl, { perMessageDeflate });
        const client = new realWs.WebSocket(`ws://127.0.0.1:${port}`);
        t.after(() => client.terminate());
        const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
        const rsv1: boolean[] = [];
        client._socket.prependListener('data', (d: Buffer) => rsv1.push((d[0]! & 0x40) !== 0));
        for (const n of [0, 9, 10, 2000]) {
          server.send(Buffer.alloc(n));
          await once(client, 'message');
        }
        assert.deepEqual(rsv1, compressed);
      });
    }
  });
}

for (const impl of impls) {
  describe(`${impl.name}: zlibDeflateOptions' level and memLevel shape the compressed bytes`, () => {
    // Level 0 stores the bytes (zlib's -1 alone means its default level).
    for (const zlibDeflateOptions of [{ level: 9, memLevel: 1 }, { level: 0 }]) {
      it(`${JSON.stringify(zlibDeflateOptions)}: the payload on the wire is zlib deflate-raw with those options, sync-flushed`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: { zlibDeflateOptions } });
        const client = new realWs.WebSocket(`ws://127.0.0.1:${port}`);
        t.after(() => client.terminate());
        const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
        const chunks: Buffer[] = [];
        client._socket.prependListener('data', (d: Buffer) => chunks.push(d));
        // Words that repeat at a distance: a memLevel of 1 (a small hash table) finds fewer of the matches.
        const text = Array.from({ length: 400 }, (_, i) => `word${(i * 7919) % 1000}`).join(' ');
        server.send(text);
        const [received] = await once(client, 'message');
        assert.equal(received.toString(), text);
        const deflate = zlib.createDeflateRaw({ ...zlibDeflateOptions, windowBits: 15 });
        const out: Buffer[] = [];
        deflate.on('data', (d: Buffer) => out.push(d));
        deflate.write(text);
        await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
        deflate.close();
        const expected = Buffer.concat(out).subarray(0, -4); // RFC 7692 §7.2.1: the empty block's 00 00 ff ff dropped
        const frame = Buffer.concat(chunks);
        assert.equal(frame[0], 0xc1, 'FIN, RSV1, text');
        assert.equal(frame[1], 126);
        assert.equal(frame.readUInt16BE(2), expected.length);
        assert.deepEqual(frame.subarray(4), expected);
      });
    }
  });
}

describe('ws-stream/ws: invalid permessage-deflate options (a documented difference: ws fails later, at the handshake)', () => {
  it('throw ERR_WS_INVALID_ARGUMENT from the constructors', () => {
    const deflate = { serverMaxWindowBits: 7 };
    for (const make of [
      () => new compat.WebSocketServer({ noServer: true, perMessageDeflate: deflate }),
      () => new compat.WebSocket('ws://127.0.0.1:1', { perMessageDeflate: deflate }),
    ]) {
      assert.throws(make, { code: 'ERR_WS_INVALID_ARGUMENT' });
    }
  });

  it("made invalid after construction: the upgrade is answered 500 and 'error' comes on the server; no crash", async (t) => {
    const { wss, port } = await listen(t, compat, { perMessageDeflate: true });
    wss.options.perMessageDeflate = { serverMaxWindowBits: 7 };
    const serverError = once(wss, 'error');
    const client = new compat.WebSocket(`ws://127.0.0.1:${port}`);
    const clientError = once(client, 'error');
    const [[err], [clientErr]] = await Promise.all([serverError, clientError]);
    assert.equal((err as { code?: string }).code, 'ERR_WS_INVALID_ARGUMENT');
    assert.equal((clientErr as Error).message, 'Unexpected server response: 500');
  });

  it('made invalid after construction, no error listener: the upgrade is answered 500, nothing thrown', async (t) => {
    const { wss, port } = await listen(t, compat, { perMessageDeflate: true });
    wss.options.perMessageDeflate = { serverMaxWindowBits: 7 };
    const client = new compat.WebSocket(`ws://127.0.0.1:${port}`);
    const [clientErr] = await once(client, 'error');
    assert.equal((clientErr as Error).message, 'Unexpected server response: 500');
  });
});
