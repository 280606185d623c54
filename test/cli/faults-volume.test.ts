/**
 * `ws-stream serve` (a child process) under hostile volume and under load, measured in the server's
 * own process: descriptors from /proc/PID/fd, the JS heap after a full GC (SIGUSR2, as load-*) and
 * peak RSS (VmHWM). Bounds are wide and relative to what the load itself held; never a time.
 * - 2,000 connections echoing, all reset at once while their second message is in flight: the
 *   server stays up, and its descriptors and heap return to where a first such round left them.
 * - one message in 100,000 one-byte fragments: echoed whole, memory bounded.
 * - serve --deflate and a client that floods compressed messages and never reads the echoes: the
 *   server stops reading (its compressing and queued echoes count as buffered); RSS bounded.
 * - a decompression bomb of 1 GiB of zeros (1 MiB on the wire; DEFLATE cannot do better than
 *   ~1030:1, so "1 KiB inflating to 1 GiB" is not a thing a peer can send): close 1009 at
 *   readMessageMax, peak RSS far from 1 GiB.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import zlib from 'node:zlib';
import { binary, cont, frame, parseFrames, requestHead } from '../support/frames.js';
import { attack, closeCodeOf, floodUntilServerStopsReading, memoryOf, serverTurns } from '../support/hostile.js';
import { bulkyTexts } from '../support/drop-client.js';
import { closeClients, eventually, openClients, startProbed } from './load-support.js';

const MiB = 1 << 20;

/** A raw client upgraded on `port`: its socket and the frames it received so far. */
async function upgraded(
  port: number,
  extra: Record<string, string> = {},
): Promise<{ socket: net.Socket; got: () => Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let all: Buffer = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    all = all.length === 0 ? d : Buffer.concat([all, d]);
  });
  await once(socket, 'connect');
  socket.write(requestHead({ Host: `127.0.0.1:${port}`, ...extra }));
  while (!all.includes('\r\n\r\n')) await once(socket, 'data');
  assert.match(all.toString('latin1'), /^HTTP\/1\.1 101 /);
  return { socket, got: () => all.subarray(all.indexOf('\r\n\r\n') + 4) };
}

/** Resolves once `c` has received frames whose payloads add up to `bytes`. */
async function untilEchoed(c: { socket: net.Socket; got: () => Buffer }, bytes: number): Promise<void> {
  const have = (): number => parseFrames(c.got()).frames.reduce((n, f) => n + f.payload.length, 0);
  while (have() < bytes) await once(c.socket, 'data');
}

it('2,000 connections echoing, then all reset at once mid-echo: the server stays up; descriptors and heap return', {
  timeout: 240_000,
}, async () => {
  const N = 2000;
  const server = await startProbed([]);
  try {
    const fds0 = server.fds();
    const round = async (): Promise<number> => {
      const clients: { socket: net.Socket; got: () => Buffer }[] = [];
      for (let i = 0; i < N; i += 100) {
        clients.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => upgraded(server.port)))));
      }
      // A first message each, echoed (so every connection is open and has echoed once).
      await Promise.all(
        clients.map((c, i) => {
          c.socket.write(binary(Buffer.alloc(1000, i & 0xff)));
          return untilEchoed(c, 1000);
        }),
      );
      const heapOpen = await server.heap();
      // A second, larger message each, then every connection reset in the same turn.
      for (const c of clients) c.socket.write(binary(Buffer.alloc(20_000, 7)));
      const closed = clients.map((c) => once(c.socket, 'close').catch(() => {}));
      for (const c of clients) c.socket.resetAndDestroy();
      await Promise.all(closed);
      return heapOpen;
    };
    await round(); // warms up what Node keeps once made (parsers, code): not measured
    assert.ok(await eventually(() => server.fds() <= fds0), `descriptors ${server.fds()}, before ${fds0}`);
    const heapBase = await server.heap();
    const heapOpen = await round();
    assert.ok(await eventually(() => server.fds() <= fds0), `descriptors ${server.fds()}, before ${fds0}`);
    const heapAfter = await server.heap();
    const held = heapOpen - heapBase;
    console.log(`heap: ${heapBase} after the first round, ${heapOpen} with ${N} open, ${heapAfter} after the second`);
    assert.ok(held > 0, `the open connections held ${held} bytes`);
    // A connection kept (or a quarter of one, for each) would show as a quarter of what they held.
    assert.ok(heapAfter - heapBase < held / 4, `heap ${heapAfter} after, ${heapBase} before, ${held} held while open`);
    // Still serving.
    const [ws] = await openClients(server.url, 1);
    ws!.send('still here');
    assert.equal(String((await once(ws!, 'message'))[0]), 'still here');
    await closeClients([ws!]);
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});

it('one message in 100,000 one-byte fragments: echoed whole and in order; peak RSS under +100 MB', {
  timeout: 120_000,
}, async () => {
  const server = await startProbed([]);
  try {
    const before = await memoryOf(server.proc.pid!);
    const c = await upgraded(server.port);
    const n = 100_000;
    const payload = Buffer.from(Array.from({ length: n }, (_, i) => i % 251));
    const parts: Buffer[] = [frame({ opcode: 2, payload: payload.subarray(0, 1), fin: false })];
    for (let i = 1; i < n; i++) parts.push(cont(payload.subarray(i, i + 1), { fin: i === n - 1 }));
    c.socket.write(Buffer.concat(parts));
    await untilEchoed(c, n);
    const frames = parseFrames(c.got()).frames;
    assert.equal(frames.length, 1, 'echoed as one message');
    assert.ok(frames[0]!.payload.equals(payload), 'byte for byte, in order');
    const after = await memoryOf(server.proc.pid!);
    console.log(`100,000 fragments: peak RSS ${after.peak - before.rss} bytes over the ${before.rss} before`);
    assert.ok(after.peak - before.rss < 100 * MiB, `peak ${after.peak} bytes, ${before.rss} before`);
    c.socket.destroy();
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});

it('a decompression bomb, 1 MiB inflating to 1 GiB: close 1009 at readMessageMax (16 MiB); peak RSS under +150 MB', {
  timeout: 120_000,
}, async () => {
  // 1 GiB of zeros deflated as a stream (never held whole here): about 1 MiB.
  const deflater = zlib.createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflater.on('data', (d: Buffer) => out.push(d));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < 1024; i++) if (!deflater.write(zeros)) await once(deflater, 'drain');
  deflater.end();
  await once(deflater, 'end');
  const compressed = Buffer.concat(out);
  assert.ok(compressed.length < 2 * MiB, `${compressed.length} bytes on the wire`);
  const server = await startProbed(['--deflate']);
  try {
    const before = await memoryOf(server.proc.pid!);
    const ex = await attack(server.port, [
      requestHead({ Host: `127.0.0.1:${server.port}`, 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
      frame({ opcode: 2, payload: compressed, rsv: 4 }),
    ]);
    assert.equal(ex.status, 101);
    assert.deepEqual(
      ex.frames.map((f) => closeCodeOf(f)),
      [1009],
    );
    const after = await memoryOf(server.proc.pid!);
    console.log(
      `bomb of ${compressed.length} bytes: peak RSS ${after.peak - before.rss} bytes over the ${before.rss} before`,
    );
    assert.ok(after.peak - before.rss < 150 * MiB, `peak ${after.peak} bytes, ${before.rss} before`);
    // Still serving.
    const [ws] = await openClients(server.url, 1, 1, { perMessageDeflate: true });
    ws!.send('still here');
    assert.equal(String((await once(ws!, 'message'))[0]), 'still here');
    await closeClients([ws!]);
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});

it('serve --deflate: a flood of compressed 64 KiB messages whose echoes are never read: the server stops reading; peak RSS under +150 MB', {
  timeout: 180_000,
}, async () => {
  const server = await startProbed(['--deflate']);
  try {
    const before = await memoryOf(server.proc.pid!);
    const c = await upgraded(server.port, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    c.socket.pause(); // the 101 was read; the echoes never are
    // Poorly compressible text, so that the echoes are as large as what was sent.
    const d = zlib.deflateRawSync(bulkyTexts(1, 64 * 1024)[0]!, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const message = frame({ opcode: 1, payload: d.subarray(0, d.length - 4), rsv: 4 });
    // Written as the kernel takes them until the server has stopped reading (its echoes back up);
    // one that never stops takes all 256 MiB.
    const turns = await serverTurns(server.port);
    const { written, stopped } = await floodUntilServerStopsReading(c.socket, message, turns, 256 * MiB).finally(() => {
      c.socket.destroy();
      turns.close();
    });
    assert.ok(stopped, `${written} bytes taken: the server never stopped reading`);
    const after = await memoryOf(server.proc.pid!);
    console.log(
      `deflate flood: ${written} bytes taken, then the server stopped reading; peak RSS ${after.peak - before.rss} bytes over the ${before.rss} before`,
    );
    assert.ok(
      after.peak - before.rss < 150 * MiB,
      `peak ${after.peak} bytes, ${before.rss} before; ${written} written`,
    );
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
