/** Messages on an open stream, over the test layer: what the peer sees on the wire, and what reads return. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketError, WebSocketStream, createTestPair } from '../../src/index.js';
import { binary, closeFrame, cont, ping, pong, text, frame, parseFrames, requestHead } from '../support/frames.js';
import { RawPeer, delivered } from '../support/peer.js';
import { spawn } from 'node:child_process';
import { openServer, openServerOverTcp } from '../support/open.js';

describe('reading', () => {
  it('reads text and binary messages in order, whole', async () => {
    const { ws, peer } = await openServer();
    peer.send(
      Buffer.concat([text('one'), binary(Buffer.from([1, 2])), text('three', { fin: false }), cont(' and more')]),
    );
    const a = await ws.read();
    const b = await ws.read();
    const c = await ws.read();
    assert.deepEqual([a.text(), a.binary, a.fin], ['one', false, true]);
    assert.deepEqual([[...b.data], b.binary], [[1, 2], true]);
    assert.equal(c.text(), 'three and more');
  });

  it('reads a message delivered one byte at a time', async () => {
    const { ws, peer } = await openServer({}, { readSize: 1 });
    const payload = Buffer.alloc(5000);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    peer.send(binary(payload));
    assert.deepEqual((await ws.read()).data, payload);
  });

  // (Paused under it, the stream would wait forever: the timeout makes that a failure.)
  it('a message larger than readHighWaterMark reaches a read() waiting for it: reading is not paused under it', {
    timeout: 60_000,
  }, async () => {
    const { ws, socket, peer } = await openServerOverTcp({ readHighWaterMark: 1024 });
    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const read = ws.read();
    peer.send(binary(payload)); // over loopback, in reads of at most 64 KiB
    assert.ok((await read).data.equals(payload));
    socket.destroy();
  });

  it('readSome hands out parts of a large message and marks its end', async () => {
    const { ws, peer } = await openServer({}, { readSize: 4096 });
    const payload = Buffer.alloc(20000, 3);
    peer.send(binary(payload));
    const parts: Buffer[] = [];
    for (;;) {
      const p = await ws.readSome();
      parts.push(p.data);
      if (p.fin) break;
    }
    assert.ok(parts.length > 1);
    assert.deepEqual(Buffer.concat(parts), payload);
  });

  it('gathers a message trickled in 1-byte pieces: readSome gets few large parts, not thousands of tiny ones', async () => {
    const { ws, peer, server } = await openServer({}, { readSize: 1 });
    const payload = Buffer.alloc(40000, 5);
    const wire = binary(payload);
    const arrived = delivered(server, wire.length);
    peer.send(wire);
    await arrived; // all of it has reached the stream, a byte at a time, before the first read
    const parts: Buffer[] = [];
    for (;;) {
      const p = await ws.readSome();
      parts.push(p.data);
      if (p.fin) break;
    }
    assert.deepEqual(Buffer.concat(parts), payload);
    assert.ok(parts.length <= 10, `${parts.length} parts`);
  });

  it('a second read while one is pending fails with ERR_WS_OPERATION_IN_PROGRESS, the first goes on', async () => {
    const { ws, peer } = await openServer();
    const first = ws.read();
    await assert.rejects(ws.read(), { code: 'ERR_WS_OPERATION_IN_PROGRESS' });
    peer.send(text('x'));
    assert.equal((await first).text(), 'x');
  });

  it('the read callback is never called from within read()', async () => {
    const { ws, peer, server } = await openServer();
    const queued = text('queued');
    const arrived = delivered(server, queued.length);
    peer.send(queued);
    await arrived;
    let returned = false;
    await new Promise<void>((resolve) => {
      ws.read((err, msg) => {
        assert.equal(returned, true);
        assert.equal(err, null);
        assert.equal(msg!.text(), 'queued');
        resolve();
      });
      returned = true;
    });
  });

  it('for await iterates until a clean close', async () => {
    const { ws, peer } = await openServer();
    peer.send(Buffer.concat([text('a'), text('b'), closeFrame(1000, 'done')]));
    const got: string[] = [];
    for await (const m of ws) got.push(m.text());
    assert.deepEqual(got, ['a', 'b']);
    assert.deepEqual(ws.closeReason, { code: 1000, reason: 'done' });
  });
});

describe('writing', () => {
  it('writes unmasked frames with the right opcodes; writes issued without waiting go out in order', async () => {
    const { ws, peer } = await openServer();
    const ps = [
      ws.write('t1', { binary: false }),
      ws.write(Buffer.from([9])),
      ws.write(new Uint16Array([1]), { binary: true }),
    ];
    for (let i = 0; i < 50; i++) ps.push(ws.write(`n${i}`, { binary: false }));
    await Promise.all(ps);
    const f = await peer.waitFrames(53);
    assert.deepEqual(
      f.slice(0, 3).map((x) => [x.opcode, x.fin, x.masked, x.payload.toString('hex')]),
      [
        [1, true, false, Buffer.from('t1').toString('hex')],
        [2, true, false, '09'],
        [2, true, false, '0100'],
      ],
    );
    assert.deepEqual(
      f.slice(3).map((x) => x.payload.toString()),
      Array.from({ length: 50 }, (_, i) => `n${i}`),
    );
  });

  it('sends the exact bytes of a view into a larger buffer', async () => {
    const { ws, peer } = await openServer();
    const backing = new Uint8Array([0xde, 1, 2, 3, 0xad]);
    await ws.write(backing.subarray(1, 4));
    assert.deepEqual([...(await peer.waitFrames(1))[0]!.payload], [1, 2, 3]);
  });

  it('autoFragment splits a message into frames of fragmentSize', async () => {
    const { ws, peer } = await openServer({ autoFragment: true, fragmentSize: 100 });
    await ws.write(Buffer.alloc(250, 1));
    const f = await peer.waitFrames(3);
    assert.deepEqual(
      f.map((x) => [x.opcode, x.fin, x.payload.length]),
      [
        [2, false, 100],
        [0, false, 100],
        [0, true, 50],
      ],
    );
  });

  it('writeSome sends a message in parts: opcode first, continuations, fin last; write() meanwhile fails', async () => {
    const { ws, peer } = await openServer();
    await ws.writeSome('ab', { fin: false, binary: false });
    await assert.rejects(ws.write('x'), { code: 'ERR_WS_OPERATION_IN_PROGRESS' });
    await ws.writeSome('cd', { fin: false });
    await ws.writeSome('ef', { fin: true });
    const f = await peer.waitFrames(3);
    assert.deepEqual(
      f.map((x) => [x.opcode, x.fin, x.payload.toString()]),
      [
        [1, false, 'ab'],
        [0, false, 'cd'],
        [0, true, 'ef'],
      ],
    );
  });

  it('bufferedAmount counts bytes not yet handed on, and drops to 0', async () => {
    const { ws } = await openServer();
    const p = ws.write(Buffer.alloc(1000));
    assert.ok(ws.bufferedAmount >= 1000);
    await p;
    assert.equal(ws.bufferedAmount, 0);
  });

  it('a write without a callback or await that fails does not crash the process', async () => {
    // In a process of its own, with node's default (an unhandled rejection ends the process with an
    // error): the write is fired and forgotten; only once the process has run out of work (any
    // unhandled rejection would have ended it by then) is the outcome looked at.
    const support = (f: string) => JSON.stringify(new URL(`../support/${f}`, import.meta.url).href);
    const script = `
      import { openServer } from ${support('open.js')};
      import { closeFrame } from ${support('frames.js')};
      const { ws, peer } = await openServer();
      peer.send(closeFrame(1000));
      await peer.waitFrames(1);
      const forgotten = ws.write('too late');
      let reported = false;
      process.on('beforeExit', () => {
        if (reported) return;
        reported = true;
        forgotten.then(() => console.log('resolved'), (e) => console.log(e.code));
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    assert.equal(err, '', 'nothing on stderr');
    assert.equal(code, 0, 'the process ended normally');
    assert.equal(out.trim(), 'ERR_WS_CLOSED', 'the forgotten write did fail');
  });
});

describe('control frames', () => {
  it('answers a ping with a pong of the same payload, also between fragments of a message', async () => {
    const { ws, peer } = await openServer();
    peer.send(Buffer.concat([text('a', { fin: false }), ping('p1'), cont('b')]));
    assert.equal((await ws.read()).text(), 'ab');
    const f = await peer.waitFrames(1);
    assert.deepEqual([f[0]!.opcode, f[0]!.payload.toString()], [0xa, 'p1']);
  });

  it('with autoPong off, does not answer; the control callback sees ping, pong and close', async () => {
    const seen: string[] = [];
    const { ws, peer } = await openServer({
      autoPong: false,
      controlCallback: (kind, p) => seen.push(`${kind}:${p.toString('hex')}`),
    });
    peer.send(Buffer.concat([ping('a'), pong('b'), closeFrame(1000)]));
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.deepEqual(seen, ['ping:61', 'pong:62', 'close:03e8']);
    const f = await peer.waitFrames(1);
    assert.equal(f[0]!.opcode, 8, 'only the close reply went out');
  });

  it('ping and pong send control frames; over 125 bytes throws', async () => {
    const { ws, peer } = await openServer();
    await ws.ping('hello');
    await ws.pong();
    const f = await peer.waitFrames(2);
    assert.deepEqual(
      f.map((x) => [x.opcode, x.payload.toString()]),
      [
        [9, 'hello'],
        [0xa, ''],
      ],
    );
    assert.throws(() => ws.ping(Buffer.alloc(126)), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });
});

describe('the close handshake', () => {
  it('close() sends the close frame, reads until the peer answers, and the server ends the connection', async () => {
    const { ws, peer } = await openServer();
    const closing = ws.close({ code: 4000, reason: 'bye' });
    const f = await peer.waitFrames(1);
    assert.deepEqual(
      [f[0]!.opcode, f[0]!.payload.readUInt16BE(0), f[0]!.payload.subarray(2).toString()],
      [8, 4000, 'bye'],
    );
    await assert.rejects(
      ws.write('x'),
      (e: Error & { code?: string }) => e.code === 'ERR_WS_CLOSED' && /messages\.test/.test(e.stack ?? ''),
      'a write after close() is told where it was made',
    );
    peer.send(Buffer.concat([text('still read'), closeFrame(4000)]));
    assert.equal((await ws.read()).text(), 'still read');
    await closing;
    await peer.waitClosed();
    assert.deepEqual(ws.closeInfo, { initiatedBy: 'local', code: 4000, reason: 'bye', wasClean: true });
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
  });

  it('a close from the peer is echoed with its code, reads end, and closeInfo says remote', async () => {
    const { ws, peer } = await openServer();
    peer.send(closeFrame(1001, 'going'));
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    const f = await peer.waitFrames(1);
    assert.deepEqual([f[0]!.opcode, f[0]!.payload.readUInt16BE(0)], [8, 1001]);
    await peer.waitClosed();
    assert.deepEqual(await ws.whenClosed(), { initiatedBy: 'remote', code: 1001, reason: 'going', wasClean: true });
    assert.deepEqual(ws.closeInfo, { initiatedBy: 'remote', code: 1001, reason: 'going', wasClean: true });
  });

  it('a close without a code is answered with an empty close frame', async () => {
    const { ws, peer } = await openServer();
    peer.send(closeFrame());
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    const f = await peer.waitFrames(1);
    assert.deepEqual([f[0]!.opcode, f[0]!.payload.length], [8, 0]);
  });

  it('an end without a close frame is abnormal: ERR_WS_EOF and code 1006', async () => {
    const { ws, client } = await openServer();
    client.end();
    await assert.rejects(ws.read(), { code: 'ERR_WS_EOF' });
    const info = await ws.whenClosed();
    assert.equal(info.initiatedBy, 'abnormal');
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);
  });

  it('a peer that never answers our close is torn down after closeTimeout with ERR_WS_TIMEOUT', async () => {
    const { ws, peer } = await openServer({ closeTimeout: 50 });
    await assert.rejects(ws.close(), { code: 'ERR_WS_TIMEOUT' });
    await peer.waitClosed();
  });

  it('close() refuses a bad code or reason at once', async () => {
    const { ws } = await openServer();
    assert.throws(() => ws.close({ code: 1006 }), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => ws.close({ code: 1000, reason: 'x'.repeat(200) }), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });

  it('a close reason given as a view of a larger buffer goes out as its own bytes', async (t) => {
    const { ws, peer, client } = await openServer();
    t.after(() => client.destroy()); // (or the close timer, waiting for the peer's answer, holds the process 5 s)
    const backing = Buffer.from('XXbyeXX');
    void ws.close({ code: 1000, reason: new Uint8Array(backing.buffer, backing.byteOffset + 2, 3) });
    const f = await peer.waitFrames(1);
    assert.equal(f[0]!.payload.subarray(2).toString(), 'bye');
  });
});

describe('strictness over the stream: the close code goes out before the error is reported', () => {
  const cases: [string, Buffer, string, number][] = [
    ['reserved bits', text('x', { rsv: 4 }), 'ERR_WS_BAD_RESERVED_BITS', 1002],
    ['reserved opcode', frame({ opcode: 5 }), 'ERR_WS_BAD_OPCODE', 1002],
    ['unmasked frame', text('x', { mask: false }), 'ERR_WS_BAD_UNMASKED_FRAME', 1002],
    ['fragmented control', ping('x', { fin: false }), 'ERR_WS_BAD_CONTROL_FRAGMENT', 1002],
    ['big control', ping(Buffer.alloc(126)), 'ERR_WS_BAD_CONTROL_SIZE', 1002],
    ['continuation first', cont('x'), 'ERR_WS_BAD_CONTINUATION', 1002],
    [
      'data in a fragmented message',
      Buffer.concat([text('a', { fin: false }), text('b')]),
      'ERR_WS_BAD_DATA_FRAME',
      1002,
    ],
    ['invalid UTF-8', text(Buffer.from([0xff])), 'ERR_WS_BAD_FRAME_PAYLOAD', 1007],
    ['invalid close reason', closeFrame(1000, Buffer.from([0xff])), 'ERR_WS_BAD_CLOSE_PAYLOAD', 1007],
    ['close of 1 byte', frame({ opcode: 8, payload: Buffer.from([1]) }), 'ERR_WS_BAD_CLOSE_SIZE', 1002],
    ['close code 1004', closeFrame(1004), 'ERR_WS_BAD_CLOSE_CODE', 1002],
    ['message too big', binary(Buffer.alloc(2000)), 'ERR_WS_MESSAGE_TOO_BIG', 1009],
  ];
  for (const [name, bytes, code, closeCode] of cases) {
    it(`${name} → close ${closeCode}, ${code}`, async () => {
      const { ws, peer, server } = await openServer({ readMessageMax: 1000 });
      peer.send(Buffer.concat([text('before'), bytes, text('after')]));
      assert.equal((await ws.read()).text(), 'before', 'what came before is not lost');
      const err = await ws.read().then(
        () => null,
        (e: WebSocketError) => e,
      );
      assert.equal(err?.code, code);
      assert.equal(err?.closeCode, closeCode);
      const wire = server.wire();
      const f = parseFrames(wire.subarray(wire.indexOf('\r\n\r\n') + 4)).frames;
      assert.equal(f.length, 1, 'the close frame was on the wire when the error was reported');
      assert.deepEqual([f[0]!.opcode, f[0]!.payload.readUInt16BE(0)], [8, closeCode]);
      await peer.waitClosed();
      const info = await ws.whenClosed();
      assert.equal(info.initiatedBy, 'local');
      assert.equal(info.code, closeCode);
      assert.equal(info.error?.code, code);
    });
  }

  it('too many fragments → close 1008', async () => {
    const { ws, peer } = await openServer({ maxFragments: 100 });
    const frames = [binary(Buffer.alloc(1), { fin: false })];
    for (let i = 0; i < 200; i++) frames.push(cont(Buffer.alloc(1), { fin: false }));
    peer.send(Buffer.concat(frames));
    await assert.rejects(ws.read(), { code: 'ERR_WS_TOO_MANY_FRAGMENTS' });
    const f = await peer.waitFrames(1);
    assert.equal(f[0]!.payload.readUInt16BE(0), 1008);
  });
});

describe('the test layer walks every error path', () => {
  /** Messages the writer sends; each a frame of its own on the wire. */
  const outgoing = Array.from({ length: 8 }, (_, i) => `w${i}`);

  it('a write failing at step N fails that operation with ERR_WS_NEXT_LAYER; the writes before it reached the peer', async () => {
    // The scenario: the 101 (layer write 1), eight messages, a ping, a close, each awaited, so that
    // each operation makes exactly one write of the layer. Step N fails the Nth layer write.
    const run = async (failWriteAt?: number) => {
      const { ws, peer, server } = await openServer({ closeTimeout: 10_000 }, { failWriteAt });
      const done: string[] = [];
      // The peer answers our close when it sees it (and only then).
      void peer.waitFrames(outgoing.length + 2).then(
        () => peer.send(closeFrame(1000)),
        () => {},
      );
      const steps: [string, () => Promise<unknown>][] = [
        ...outgoing.map((m): [string, () => Promise<unknown>] => [m, () => ws.write(m, { binary: false })]),
        ['ping', () => ws.ping('p')],
        ['close', () => ws.close({ code: 1000 })],
      ];
      for (const [name, op] of steps) {
        const err = await op().then(
          () => null,
          (e: unknown) => e,
        );
        if (err) {
          assert.ok(err instanceof WebSocketError, String(err));
          return { done, failed: name, code: err.code, writes: server.writes, peer, ws };
        }
        done.push(name);
      }
      return { done, failed: null, code: null, writes: server.writes, peer, ws };
    };

    const clean = await run();
    assert.equal(clean.failed, null, 'the scenario passes without a failing write');
    const layerWrites = clean.writes;
    assert.equal(layerWrites, 1 + outgoing.length + 2, 'one layer write per operation, after the 101');
    let failedSteps = 0;
    for (let n = 2; n <= layerWrites; n++) {
      const r = await run(n);
      const expected = [...outgoing, 'ping', 'close'][n - 2]!;
      assert.equal(r.failed, expected, `step ${n}: the operation whose write failed reports it`);
      assert.equal(r.code, 'ERR_WS_NEXT_LAYER', `step ${n}`);
      assert.deepEqual(r.done, [...outgoing, 'ping', 'close'].slice(0, n - 2), `step ${n}: the steps before succeeded`);
      // What reached the peer: exactly the frames of the operations that succeeded.
      await r.peer.waitClosed();
      const seen = r.peer
        .frames()
        .map((f) => (f.opcode === 1 ? f.payload.toString() : f.opcode === 9 ? 'ping' : 'close'));
      assert.deepEqual(seen, r.done, `step ${n}: the peer saw the writes before the failure, and nothing after`);
      await assert.rejects(r.ws.write('after'), `step ${n}: the stream is failed`);
      failedSteps++;
    }
    assert.equal(failedSteps, outgoing.length + 2, 'every write after the 101 failed once');
  });

  it('a read failing at step N: during the handshake accept() fails; after it, reads deliver every message that came whole before the failure, then fail', async () => {
    const head = Buffer.from(requestHead());
    const messages = Array.from({ length: 5 }, (_, i) => `message ${i}`);
    const frames = messages.map((m) => text(m));
    const readSize = 10;
    const headReads = Math.ceil(head.length / readSize);
    const frameBytes = Buffer.concat(frames);
    const frameReads = Math.ceil(frameBytes.length / readSize);
    let acceptFailures = 0;
    let readSteps = 0;
    for (let n = 1; n <= headReads + frameReads + 1; n++) {
      const [server, client] = createTestPair({ failReadAt: n, readSize });
      const ws = new WebSocketStream(server);
      const peer = new RawPeer(client);
      const accepting = ws.accept();
      peer.send(head);
      if (n <= headReads) {
        // The failing read is part of the request head: accept() fails, and answers nothing.
        await assert.rejects(accepting, { code: 'ERR_WS_NEXT_LAYER' }, `step ${n}`);
        await peer.waitClosed();
        assert.equal(peer.received.length, 0, `step ${n}: no response to a request never read whole`);
        acceptFailures++;
        continue;
      }
      await accepting;
      assert.equal((await peer.responseHead()).status, 101);
      peer.send(frameBytes); // delivered in pieces of readSize; piece n - headReads fails
      const delivered = (n - headReads - 1) * readSize;
      let whole = 0;
      for (let end = 0, i = 0; i < frames.length; i++) {
        end += frames[i]!.length;
        if (end <= delivered) whole++;
      }
      for (let i = 0; i < whole; i++) assert.equal((await ws.read()).text(), messages[i], `step ${n}: message ${i}`);
      if (n <= headReads + frameReads) {
        await assert.rejects(
          ws.read(),
          { code: 'ERR_WS_NEXT_LAYER' },
          `step ${n}: the read after the last whole message`,
        );
        assert.ok(whole < messages.length);
        readSteps++;
      } else {
        assert.equal(whole, messages.length, 'without a failure, every message');
        assert.equal(server.reads, headReads + frameReads, 'the failure step was past the last read');
      }
    }
    assert.equal(acceptFailures, headReads, 'every read of the request head failed once');
    assert.equal(readSteps, frameReads, 'every read of the messages failed once, and its assertions ran');
  });
});

describe('a peer that sends its close frame and ends at once', () => {
  it('still gets our close reply before our end, and the close is clean', async () => {
    const { ws, peer, client } = await openServer();
    peer.send(Buffer.concat([text('last'), closeFrame(1000, 'bye')]));
    client.end(); // FIN right after the close frame
    assert.equal((await ws.read()).text(), 'last');
    await ws.write('echo of last', { binary: false }).catch(() => {});
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    const info = await ws.whenClosed();
    assert.deepEqual(info, { initiatedBy: 'remote', code: 1000, reason: 'bye', wasClean: true });
    const f = await peer.waitFrames(2);
    assert.deepEqual(
      f.map((x) => x.opcode),
      [1, 8],
      'the echo, then the close reply',
    );
  });
});

describe('callback forms (Beast style): completion by the callback, never from within the call', () => {
  /** A stream accepted over the test layer, its raw peer, and `call`, which runs an operation with a callback. */
  async function setUp() {
    const { createTestPair, WebSocketStream } = await import('../../src/index.js');
    const { requestObject } = await import('../support/frames.js');
    const [a, b] = createTestPair();
    const ws = new WebSocketStream(a);
    const peer = new (await import('../support/peer.js')).RawPeer(b);
    /** Starts an operation with a callback; its outcome, or a rejection if the callback came from within the call. */
    const call = <T>(start: (cb: (err: unknown, v?: T) => void) => void): Promise<{ err: unknown; v?: T }> =>
      new Promise((resolve, reject) => {
        let returned = false;
        start((err, v) => (returned ? resolve({ err, v }) : reject(new Error('called from within the call'))));
        returned = true;
      });
    return { ws, peer, call, requestObject, layer: a };
  }

  it('accept(req, cb), write(data, cb), writeSome(data, cb), ping(payload, cb), read(cb), close(cb)', async () => {
    const { ws, peer, call: outcome, requestObject } = await setUp();
    const call = async (start: (cb: (err: unknown, v?: unknown) => void) => void): Promise<unknown> => {
      const { err, v } = await outcome(start);
      if (err) throw err;
      return v;
    };
    await call((cb) => ws.accept(requestObject(), cb));
    await call((cb) => ws.write('one', cb));
    await call((cb) => ws.writeSome('two', cb));
    await call((cb) => ws.ping('p', cb));
    peer.send(text('in'));
    const m = (await call((cb) => ws.read(cb))) as { text(): string };
    assert.equal(m.text(), 'in');
    const closing = call((cb) => ws.close(cb));
    peer.send(closeFrame(1000));
    await closing;
    const f = parseFrames(peer.received.subarray(peer.received.indexOf('\r\n\r\n') + 4)).frames;
    assert.deepEqual(
      f.map((x) => x.opcode),
      [1, 1, 9, 8],
      'strings go as text',
    );
  });

  it('read(cb) and readSome(cb): served from the queue, waiting, refused while another waits, after the end — never within the call', async () => {
    const { ws, peer, call, requestObject, layer } = await setUp();
    type Msg = { text(): string; fin: boolean };
    await call((cb) => ws.accept(requestObject(), cb));
    const queued = Buffer.concat([text('queued 1'), text('queued 2')]);
    const arrived = delivered(layer, queued.length);
    peer.send(queued);
    await arrived; // both are queued before the first read
    const [q1, q2] = await Promise.all([call<Msg>((cb) => ws.read(cb)), call<Msg>((cb) => ws.read(cb))]);
    assert.deepEqual([q1.v!.text(), q2.v!.text()], ['queued 1', 'queued 2'], 'taken in order from the queue');
    const waiting = call<Msg>((cb) => ws.read(cb));
    const refused = await call((cb) => ws.read(cb));
    assert.equal((refused.err as { code: string }).code, 'ERR_WS_OPERATION_IN_PROGRESS');
    peer.send(text('later'));
    assert.equal((await waiting).v!.text(), 'later');
    peer.send(text('pie', { fin: false }));
    const piece = await call<Msg>((cb) => ws.readSome(cb));
    assert.deepEqual([piece.v!.text(), piece.v!.fin], ['pie', false]);
    peer.send(Buffer.concat([cont('ce'), closeFrame(1000)]));
    const rest = await call<Msg>((cb) => ws.readSome(cb));
    assert.deepEqual([rest.v!.text(), rest.v!.fin], ['ce', true]);
    const end = await call((cb) => ws.read(cb));
    assert.equal((end.err as { code: string }).code, 'ERR_WS_CLOSED');
    const after = await call((cb) => ws.read(cb));
    assert.equal((after.err as { code: string }).code, 'ERR_WS_CLOSED');
  });
});
