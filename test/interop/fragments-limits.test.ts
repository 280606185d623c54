/**
 * Fragmented messages, compressed and not, both ways with Python `websockets` and `aiohttp` (which refuse
 * RSV1 on a continuation frame), and the peers' message size limits seen from ws-stream's side: a message one
 * octet over the limit is answered 1009 by the peer, one at the limit passes, also when it travels
 * compressed in a frame far smaller than the limit.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { WebSocketServer } from 'ws';
import { connect, type WebSocketStream as Stream } from '../../src/index.js';
import {
  digest,
  payload,
  runPythonClient,
  startEchoServer,
  startPythonServer,
  startStreamingEcho,
  type PeerLib,
} from './edge.js';

const FRAGMENTS = [0, 1, 125, 126, 65535, 65536, 3];

describe('fragmented messages', () => {
  for (const deflate of [false, true]) {
    const mode = deflate ? ', compressed' : '';
    it(`websockets sends messages in fragments, the server streams them back in fragments${mode}`, async () => {
      const srv = await startStreamingEcho(deflate);
      const end = srv.next();
      const report = await runPythonClient('websockets', `ws://127.0.0.1:${srv.port}/`, {
        deflate: deflate ? [{}] : null,
        steps: [
          { fragments: FRAGMENTS, seed: 1 },
          { fragments: [0, 0, 0], seed: 2 },
          { send: 200_000, seed: 3 },
          { send: 0, text: true },
          { close: 1000 },
        ],
      });
      assert.equal(report.error, null);
      assert.equal(report.extensions ?? '', deflate ? 'permessage-deflate' : '');
      assert.deepEqual(report.echoes, [true, true, true, true]);
      const { pieces, code } = await end;
      assert.equal(code, 1000);
      // Uncompressed, every fragment is read as a piece of its own at least; inflated ones may be joined.
      assert.ok(pieces >= (deflate ? 4 : FRAGMENTS.length + 3 + 1 + 1), `${pieces} pieces read`);
    });
    it(`websockets answers pings sent between the fragments of the server's messages${mode}`, async () => {
      const srv = await startStreamingEcho(deflate, true);
      const end = srv.next();
      const report = await runPythonClient('websockets', `ws://127.0.0.1:${srv.port}/`, {
        deflate: deflate ? [{}] : null,
        steps: [{ fragments: FRAGMENTS, seed: 1 }, { send: 200_000, seed: 3 }, { close: 1000 }],
      });
      assert.equal(report.error, null);
      assert.deepEqual(report.echoes, [true, true]);
      const { pieces, pongs, code } = await end;
      assert.equal(code, 1000);
      assert.ok(pongs > 0, 'pings were sent between fragments and answered');
      assert.ok(pongs < pieces);
    });
    it(`aiohttp reads messages the server streams back in fragments${mode}`, async () => {
      const srv = await startStreamingEcho(deflate);
      const end = srv.next();
      const report = await runPythonClient('aiohttp', `ws://127.0.0.1:${srv.port}/`, {
        deflate: deflate ? { wbits: 15 } : null,
        steps: [{ send: 300_000, seed: 4 }, { send: 70_000, seed: 5, text: true }, { send: 0 }, { close: 1000 }],
      });
      assert.equal(report.error, null);
      assert.deepEqual(report.echoes, [true, true, true]);
      assert.equal((await end).code, 1000);
    });
    it(`the websockets server sends messages in fragments, the client reads them whole and in pieces${mode}`, async () => {
      const peer = await startPythonServer('websockets', { deflate: deflate ? [{}] : null });
      const ws = await connect(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: deflate });
      const expected = (n: number, size: number): Buffer =>
        Buffer.concat(Array.from({ length: n }, (_, i) => payload(size, i, false)));
      await ws.write('cmd:fragments 5 70000', { binary: false });
      const m = await ws.read();
      assert.deepEqual(digest(m.data, m.binary), digest(expected(5, 70000), true));
      await ws.write('cmd:fragments 4 0', { binary: false });
      const empty = await ws.read();
      assert.deepEqual([empty.binary, empty.data.length], [true, 0]);
      await ws.write('cmd:fragments 3 126', { binary: false });
      const parts: Buffer[] = [];
      for (;;) {
        const piece = await ws.readSome();
        parts.push(piece.data);
        if (piece.fin) break;
      }
      assert.ok(Buffer.concat(parts).equals(expected(3, 126)));
      await ws.close();
      const rec = await peer.next();
      assert.equal(rec.error, null);
      assert.equal(rec.close_code, 1000);
    });
  }
});

/**
 * aiohttp 3.8 refuses an uncompressed message of max_msg_size octets itself (`>=`), and accepts a compressed
 * one: the largest message its limit of 1000 lets through.
 */
const largest = (lib: string, deflate: boolean): number => (lib === 'aiohttp' && !deflate ? 999 : 1000);

/** Our client against a peer server whose limit lets `max` octets through: `max` passes, one more is 1009. */
async function overLimit(ws: Stream, deflate: boolean, max = 1000): Promise<void> {
  // Text that compresses well: with deflate its frame is far below the limit, the message is not.
  const atLimit = Buffer.alloc(max, 'a');
  await ws.write(atLimit, { binary: false });
  assert.equal((await ws.read()).text(), atLimit.toString());
  await ws.write(Buffer.alloc(max + 1, 'a'), { binary: false });
  await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
  const info = await ws.whenClosed();
  assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['remote', 1009, true], `deflate ${deflate}`);
  assert.equal(ws.closeReason?.code, 1009);
}

describe("the peers' message size limits", () => {
  for (const deflate of [false, true]) {
    const mode = deflate ? ', compressed' : '';
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
      it(`the ${lib} server with a limit of 1000 octets answers 1001 with 1009${mode}`, async () => {
        const peer = await startPythonServer(lib, {
          deflate: deflate ? (lib === 'websockets' ? [{}] : {}) : null,
          max_size: 1000,
        });
        const ws = await connect(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: deflate });
        assert.equal(ws.extensions, deflate ? 'permessage-deflate' : '');
        await overLimit(ws, deflate, largest(lib, deflate));
        const rec = await peer.next();
        assert.equal(rec.messages.length, 1, 'only the message at the limit was received');
      });
    }
    it(`the ws server with maxPayload 1000 answers 1001 with 1009${mode}`, async () => {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 1000, perMessageDeflate: deflate });
      wss.on('connection', (c) => {
        c.on('error', () => {}); // ws reports the 1009 it sends as an error too
        c.on('message', (d, isBinary) => c.send(d, { binary: isBinary }));
      });
      await new Promise((r) => wss.once('listening', r));
      after(() => wss.close());
      const ws = await connect(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`, {
        perMessageDeflate: deflate,
      });
      await overLimit(ws, deflate);
    });
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
      it(`the ${lib} client with a limit of 1000 octets answers the server's 1001 with 1009${mode}`, async () => {
        const srv = await startEchoServer({ perMessageDeflate: deflate });
        const record = srv.next();
        const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
          deflate: deflate ? (lib === 'websockets' ? [{}] : { wbits: 15 }) : null,
          max_size: 1000,
          steps: [
            { send: largest(lib, deflate), text: true },
            { send: largest(lib, deflate) + 1, text: true },
          ],
        });
        const rec = await record;
        assert.equal(report.echoes[0], true);
        assert.equal(rec.extensions, deflate ? 'permessage-deflate' : '');
        assert.equal(rec.messages.length, 2);
        assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code], ['remote', 1009], JSON.stringify(report));
        assert.equal(rec.peerClose?.code, 1009);
      });
    }
  }
});

describe('messages written at once, then the close', () => {
  for (const deflate of [false, true]) {
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
      it(`${lib} receives all 200 in order before the server's close${deflate ? ', compressed' : ''}`, async () => {
        const srv = await startEchoServer({ perMessageDeflate: deflate });
        const record = srv.next();
        const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
          deflate: deflate ? (lib === 'websockets' ? [{}] : { wbits: 15 }) : null,
          steps: [{ collect: 'cmd:burst 200 1000' }],
        });
        assert.equal(report.error, null);
        assert.deepEqual(
          report.collected,
          Array.from({ length: 200 }, (_, i) => digest(payload(1000 + i, i, false), true)),
        );
        assert.equal(report.close_code, 1000);
        const rec = await record;
        assert.deepEqual(
          [rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.wasClean],
          ['local', 1000, true],
        );
      });
    }
  }
});

describe("ws-stream's own limit seen by the peers", () => {
  for (const deflate of [false, true]) {
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
      it(`${lib} sends one octet over readMessageMax 1000: closed with 1009${deflate ? ', compressed' : ''}`, async () => {
        const srv = await startEchoServer({ perMessageDeflate: deflate, readMessageMax: 1000 });
        const record = srv.next();
        const report = await runPythonClient(lib, `ws://127.0.0.1:${srv.port}/`, {
          deflate: deflate ? (lib === 'websockets' ? [{}] : { wbits: 15 }) : null,
          steps: [
            { send: 1000, text: true },
            { send: 1001, text: true },
          ],
        });
        assert.equal(report.echoes[0], true);
        assert.equal(report.close_code, 1009, JSON.stringify(report));
        const rec = await record;
        assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_MESSAGE_TOO_BIG', 1009]);
        assert.equal(rec.messages.length, 1);
      });
    }
  }
});

describe('the ws-stream client sends messages in fragments', () => {
  for (const deflate of [false, true]) {
    for (const lib of ['websockets', 'aiohttp'] as PeerLib[]) {
      it(`the ${lib} server reassembles them (empty first and last fragments too)${deflate ? ', compressed' : ''}`, async () => {
        const peer = await startPythonServer(lib, { deflate: deflate ? (lib === 'websockets' ? [{}] : {}) : null });
        const ws = await connect(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: deflate });
        assert.equal(ws.extensions, deflate ? 'permessage-deflate' : '');
        for (const [binary, sizes] of [
          [true, [0, 1, 125, 126, 65535, 65536, 0]],
          [false, [0, 3000, 0]],
          [true, [0]],
          [true, [70_000]],
        ] as [boolean, number[]][]) {
          const parts = sizes.map((n, i) => payload(n, i, !binary));
          for (const [i, part] of parts.entries()) await ws.writeSome(part, { binary, fin: i === parts.length - 1 });
          const m = await ws.read();
          assert.deepEqual(digest(m.data, m.binary), digest(Buffer.concat(parts), binary));
        }
        await ws.close();
        const rec = await peer.next();
        assert.equal(rec.error, null);
        assert.equal(rec.messages.length, 4);
        assert.equal(rec.close_code, 1000);
      });
    }
  }
});
