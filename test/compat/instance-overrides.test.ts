/**
 * What ws does through its public methods, where code that replaces or wraps them on an instance
 * (graphql-ws's tests play a dead client with `ws.pong = () => {}`; heartbeat libraries count
 * pongs; spies wrap `emit`) sees and controls it: the automatic pong goes through `pong()`, the
 * answer to the peer's close through `close()`, and the server always emits 'headers'. Run on the
 * real `ws` and on ws-stream/ws; the bytes checked are those a raw peer reads.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { closeFrame, KEY, KEY_ACCEPT, ping, text } from '../support/frames.js';
import type { RawPeer } from '../support/peer.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

const TEXT = 1;
const CLOSE = 8;
const PONG = 10;

/** A frame as `opcode payload`, for comparing what the raw peer read. */
function describeFrames(peer: RawPeer, n: number): Promise<string[]> {
  return peer.waitFrames(n).then((frames) => frames.map((f) => `${f.opcode} ${f.payload.toString()}`));
}

/**
 * A server of `impl` whose connection `prepare` sets up, and a raw client that has read its 'ready'
 * message. The server answers every 'ping' event with the text message 'after', which the raw peer
 * reads after the pong, if any.
 */
async function connected(
  t: TestContext,
  impl: Impl,
  prepare: (ws: Any) => void,
  options: Record<string, unknown> = {},
): Promise<{ peer: RawPeer; server: Any; pings: string[] }> {
  const { wss, port } = await listen(t, impl, options);
  const pings: string[] = [];
  wss.on('connection', (ws: Any) => {
    prepare(ws);
    ws.on('ping', (data: Buffer) => {
      pings.push(data.toString());
      ws.send('after');
    });
    ws.send('ready');
  });
  const peer = await rawPeer(t, port);
  assert.deepEqual(await describeFrames(peer, 1), [`${TEXT} ready`]);
  const server = [...wss.clients][0];
  return { peer, server, pings };
}

for (const impl of impls) {
  describe(`${impl.name}: the automatic pong goes through WebSocket#pong`, () => {
    it('by default a ping is answered with its payload, before what the ping listener sends', async (t) => {
      const { peer, pings } = await connected(t, impl, () => {});
      peer.send(ping('hb-1'));
      assert.deepEqual(await describeFrames(peer, 3), [`${TEXT} ready`, `${PONG} hb-1`, `${TEXT} after`]);
      assert.deepEqual(pings, ['hb-1']);
    });

    it('an instance whose pong is a no-op sends no pong (a dead peer)', async (t) => {
      const { peer, pings } = await connected(t, impl, (ws) => {
        ws.pong = () => {};
      });
      peer.send(ping('hb-2'));
      const frames = await describeFrames(peer, 2);
      assert.deepEqual(frames, [`${TEXT} ready`, `${TEXT} after`]);
      assert.deepEqual(pings, ['hb-2']);
    });

    it("a wrapped pong sees the call with the ping's payload, and its frame goes out", async (t) => {
      const calls: unknown[][] = [];
      const { peer } = await connected(t, impl, (ws) => {
        const pong = ws.pong;
        ws.pong = function (this: Any, ...args: unknown[]) {
          calls.push(args);
          return pong.apply(this, args);
        };
      });
      peer.send(ping('hb-3'));
      assert.deepEqual(await describeFrames(peer, 3), [`${TEXT} ready`, `${PONG} hb-3`, `${TEXT} after`]);
      assert.equal(calls.length, 1);
      const [data, mask, cb] = calls[0]!;
      assert.ok(Buffer.isBuffer(data));
      assert.equal(data.toString(), 'hb-3');
      assert.equal(mask, false, 'a server does not mask');
      assert.equal(typeof cb, 'function');
    });

    it('the pong is looked up at each ping: a pong replaced later holds back the later pings only', async (t) => {
      const { peer, server } = await connected(t, impl, () => {});
      peer.send(ping('one'));
      assert.deepEqual(await describeFrames(peer, 3), [`${TEXT} ready`, `${PONG} one`, `${TEXT} after`]);
      server.pong = () => {};
      peer.send(ping('two'));
      assert.deepEqual((await describeFrames(peer, 4)).slice(3), [`${TEXT} after`]);
    });

    it('autoPong: false sends no pong; the ping is still emitted', async (t) => {
      const calls: unknown[] = [];
      const { peer, pings } = await connected(
        t,
        impl,
        (ws) => {
          const pong = ws.pong;
          ws.pong = function (this: Any, ...args: unknown[]) {
            calls.push(args);
            return pong.apply(this, args);
          };
        },
        { autoPong: false },
      );
      peer.send(ping('hb-4'));
      assert.deepEqual(await describeFrames(peer, 2), [`${TEXT} ready`, `${TEXT} after`]);
      assert.deepEqual(pings, ['hb-4']);
      assert.equal(calls.length, 0);
    });

    it("a ping sent right behind the request is answered after 'connection', through the pong set there", async (t) => {
      for (const quiet of [false, true]) {
        const { wss, port } = await listen(t, impl);
        const pings: string[] = [];
        wss.on('connection', (ws: Any) => {
          if (quiet) ws.pong = () => {};
          ws.on('ping', (data: Buffer) => {
            pings.push(data.toString());
            ws.send('after');
          });
          ws.send('hello');
        });
        const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
        const peer = await rawPeer(t, port, Buffer.concat([Buffer.from(head), ping('early')]));
        const expected = quiet
          ? [`${TEXT} hello`, `${TEXT} after`]
          : [`${TEXT} hello`, `${PONG} early`, `${TEXT} after`];
        assert.deepEqual(await describeFrames(peer, expected.length), expected, `quiet: ${quiet}`);
        assert.deepEqual(pings, ['early']);
      }
    });

    it('with permessage-deflate the automatic pong goes behind a message still being compressed', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      const big = 'compressible '.repeat(20000);
      wss.on('connection', (ws: Any) => ws.on('message', () => ws.send(big)));
      const head = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`;
      const peer = await rawPeer(t, port, head);
      assert.match((await peer.responseHead()).head, /permessage-deflate/);
      // One write: the ping is read right after the message whose answer is being compressed.
      peer.send(Buffer.concat([text('go'), ping('hb')]));
      const frames = await peer.waitFrames(2);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.rsv]),
        [
          [TEXT, 4],
          [PONG, 0],
        ],
      );
      assert.equal(frames[1]!.payload.toString(), 'hb');
    });

    it("a client's no-op pong leaves the server without a pong; by default it gets the ping's payload back", async (t) => {
      for (const quiet of [false, true]) {
        const { wss, port } = await listen(t, impl);
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
        t.after(() => client.terminate());
        if (quiet) client.pong = () => {};
        client.on('ping', () => client.send('after'));
        const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
        const seen: string[] = [];
        const done = new Promise<void>((resolve) => {
          server.on('pong', (data: Buffer) => seen.push(`pong ${data}`));
          server.on('message', (data: Buffer) => {
            seen.push(`message ${data}`);
            resolve();
          });
        });
        server.ping('beat');
        await done;
        assert.deepEqual(seen, quiet ? ['message after'] : ['pong beat', 'message after'], `quiet: ${quiet}`);
      }
    });
  });
}

for (const impl of impls) {
  describe(`${impl.name}: the answer to the peer's close goes through WebSocket#close`, () => {
    /** A raw client connected to a server whose close() is wrapped; what the wrapper and listeners saw. */
    async function wrappedClose(
      t: TestContext,
    ): Promise<{ peer: RawPeer; server: Any; seen: string[]; closed: Promise<unknown> }> {
      const { wss, port } = await listen(t, impl);
      const seen: string[] = [];
      let closed: Promise<unknown> = Promise.resolve();
      wss.on('connection', (ws: Any) => {
        closed = once(ws, 'close');
        const close = ws.close;
        ws.close = function (this: Any, ...args: unknown[]) {
          const [code, reason] = args;
          const shown = Buffer.isBuffer(reason) ? `Buffer '${reason}'` : String(reason);
          seen.push(`close(${args.length > 0 ? `${String(code)}, ${shown}` : ''})`);
          return close.apply(this, args);
        };
        ws.on('message', (data: Buffer) => {
          seen.push(`message ${data}`);
          ws.send(String(data));
        });
        ws.on('close', (code: number, reason: Buffer) => seen.push(`'close' ${code} '${reason}'`));
        ws.send('ready');
      });
      const peer = await rawPeer(t, port);
      assert.deepEqual(await describeFrames(peer, 1), [`${TEXT} ready`]);
      return { peer, server: [...wss.clients][0], seen, closed };
    }

    it('a close frame with a code and reason: close(code, reason) after the messages before it; the echo goes', async (t) => {
      const { peer, seen, closed } = await wrappedClose(t);
      peer.send(Buffer.concat([text('a'), closeFrame(4000, 'bye')]));
      const frames = await peer.waitFrames(3);
      assert.deepEqual(
        frames.slice(1).map((f) => [f.opcode, f.payload.toString('hex')]),
        [
          [TEXT, Buffer.from('a').toString('hex')],
          [CLOSE, `0fa0${Buffer.from('bye').toString('hex')}`],
        ],
      );
      await closed;
      assert.deepEqual(seen, ['message a', "close(4000, Buffer 'bye')", "'close' 4000 'bye'"]);
    });

    it('a close frame without a code (1005): close() with no arguments, an empty close frame back', async (t) => {
      const { peer, seen, closed } = await wrappedClose(t);
      peer.send(closeFrame());
      const frames = await peer.waitFrames(2);
      assert.equal(frames[1]!.opcode, CLOSE);
      assert.equal(frames[1]!.payload.length, 0);
      await closed;
      assert.deepEqual(seen, ['close()', "'close' 1005 ''"]);
    });

    it("after our own close, the peer's answer is passed to close() too (which sends nothing more)", async (t) => {
      const { peer, server, seen, closed } = await wrappedClose(t);
      server.close(1000, 'done');
      const frames = await peer.waitFrames(2);
      assert.equal(frames[1]!.opcode, CLOSE);
      peer.send(closeFrame(1001, 'ok'));
      await closed;
      assert.deepEqual(seen, ['close(1000, done)', "close(1001, Buffer 'ok')", "'close' 1001 'ok'"]);
      assert.equal(peer.frames().length, 2, 'one close frame');
    });

    it("a client's wrapped close sees the server's code and reason; the server gets them back", async (t) => {
      const { wss, port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const calls: unknown[][] = [];
      const close = client.close;
      client.close = function (this: Any, ...args: unknown[]) {
        calls.push(args);
        return close.apply(this, args);
      };
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      server.close(4001, 'srv');
      const [[code, reason]] = await Promise.all([once(server, 'close'), once(client, 'close')]);
      assert.deepEqual([code, String(reason)], [4001, 'srv']);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]![0], 4001);
      assert.ok(Buffer.isBuffer(calls[0]![1]));
      assert.equal(String(calls[0]![1]), 'srv');
    });
  });
}

for (const impl of impls) {
  describe(`${impl.name}: the server emits 'headers' whether or not anyone listens`, () => {
    it("a spy on emit() sees 'headers' with the 101's lines and the request; lines it adds are sent", async (t) => {
      const { wss, port } = await listen(t, impl);
      const seen: [string[], http.IncomingMessage][] = [];
      const emit = wss.emit;
      wss.emit = function (this: Any, event: string, ...args: unknown[]) {
        if (event === 'headers') {
          const [lines, req] = args as [string[], http.IncomingMessage];
          seen.push([[...lines], req]);
          lines.push('X-Seen-By: spy');
        }
        return emit.call(this, event, ...args);
      };
      assert.equal(wss.listenerCount('headers'), 0);
      const peer = await rawPeer(t, port);
      const { status, head } = await peer.responseHead();
      assert.equal(status, 101);
      assert.equal(seen.length, 1);
      const [lines, req] = seen[0]!;
      assert.equal(lines[0], 'HTTP/1.1 101 Switching Protocols');
      assert.ok(lines.includes('Upgrade: websocket'), lines.join(' | '));
      assert.ok(lines.includes('Connection: Upgrade'), lines.join(' | '));
      assert.ok(lines.includes(`Sec-WebSocket-Accept: ${KEY_ACCEPT}`), lines.join(' | '));
      assert.equal(req.headers['sec-websocket-key'], KEY);
      assert.match(head, /\r\nX-Seen-By: spy(\r\n|$)/);
    });

    it("a spy on EventEmitter.prototype.emit, set after the server was made, sees 'headers'", async (t) => {
      const { port } = await listen(t, impl);
      const events: string[] = [];
      const emit = EventEmitter.prototype.emit;
      EventEmitter.prototype.emit = function (this: EventEmitter, event: string | symbol, ...args: unknown[]) {
        if (event === 'headers') events.push(`headers ${(args[0] as string[])[0]}`);
        return emit.call(this, event, ...args);
      };
      try {
        const peer = await rawPeer(t, port);
        assert.equal((await peer.responseHead()).status, 101);
      } finally {
        EventEmitter.prototype.emit = emit;
      }
      assert.deepEqual(events, ['headers HTTP/1.1 101 Switching Protocols']);
    });

    it('a spy that only reads leaves the 101 as it is without one', async (t) => {
      const heads: string[] = [];
      for (const spy of [false, true]) {
        const { wss, port } = await listen(t, impl);
        let calls = 0;
        if (spy) {
          const emit = wss.emit;
          wss.emit = function (this: Any, event: string, ...args: unknown[]) {
            if (event === 'headers') calls++;
            return emit.call(this, event, ...args);
          };
        }
        const peer = await rawPeer(t, port);
        heads.push((await peer.responseHead()).head);
        assert.equal(calls, spy ? 1 : 0);
      }
      assert.equal(heads[1], heads[0]);
    });
  });
}
