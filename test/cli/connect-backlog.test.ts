/**
 * `ws-stream connect` against a server that stops reading while lines keep coming on stdin
 * (`cat big-file | ws-stream connect URL`): the process reads stdin no further than its writes
 * complete, so its memory is not the size of the input; once the server reads again every line
 * arrives, whole and in order.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { it } from 'node:test';
import { poll } from '../support/brokers.js';
import { frame, parseFrames } from '../support/frames.js';
import { fakeServer, memoryOf, response101, serverEndOf, serverStoppedReading } from '../support/hostile.js';
import { MAIN } from './cli-support.js';

const MiB = 1024 * 1024;

it('a server that stops reading: stdin is read no further (not all 48 MiB of it); then every line arrives in order', {
  timeout: 120_000,
}, async (t) => {
  let server!: net.Socket;
  let upgraded!: () => void;
  const upgrade = new Promise<void>((resolve) => {
    upgraded = resolve;
  });
  const { url } = await fakeServer(t, (socket, accept) => {
    server = socket;
    socket.write(response101(accept));
    socket.pause(); // reads nothing more until the flood stopped
    upgraded();
  });
  // The client's stdin is a TCP connection rather than a pipe: the kernel then tells how much of it the
  // client process took (serverEndOf), which no pipe does.
  const feeder = net.createServer({ pauseOnConnect: true });
  feeder.listen(0, '127.0.0.1');
  await once(feeder, 'listening');
  const stdin = net.connect((feeder.address() as net.AddressInfo).port, '127.0.0.1');
  const [theirs] = (await once(feeder, 'connection')) as [net.Socket];
  feeder.close();
  const proc = spawn(process.execPath, [MAIN, 'connect', url], { stdio: [theirs, 'pipe', 'inherit'] });
  theirs.destroy(); // the child's copy stays: this process never reads it
  t.after(() => {
    proc.kill('SIGKILL');
    stdin.destroy();
  });
  stdin.on('error', () => {});
  let out = '';
  const printed = (what: string): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!out.includes(what)) return;
        proc.stdout.off('data', check);
        resolve();
      };
      proc.stdout.on('data', check);
      check();
    });
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = once(proc, 'exit');
  await upgrade;
  await printed('connected to');
  const before = await memoryOf(proc.pid!);

  // A turn of the client process's event loop: a message from the server, printed. A client that reads
  // all its input stops reading the server once 16 MiB wait to be sent (maxBufferedBytes), and prints no
  // more: its turn then ends when it took all that was written (one that holds back its input never
  // does), and the flood goes on to its end.
  let turns = 0;
  const turn = async (): Promise<void> => {
    const n = ++turns;
    server.write(frame({ opcode: 1, payload: `turn ${n}`, mask: false }));
    let waiting = true;
    await Promise.race([
      printed(`< turn ${n}\n`),
      // The kernel tells no event when the client reads its stdin: its counters are polled (the shared poll).
      poll(async () => !waiting || serverEndOf(stdin).taken >= written),
    ]);
    waiting = false;
  };
  const line = (i: number): string => `${i} ${'x'.repeat(16 * 1024)}\n`;
  let lines = 0;
  let written = 0;
  let stopped = false;
  while (!stopped && written < 48 * MiB) {
    while (stdin.writableLength < MiB && written < 48 * MiB) {
      const l = line(lines++);
      stdin.write(l);
      written += l.length;
    }
    stopped = await serverStoppedReading(stdin, { turn });
  }
  const after = await memoryOf(proc.pid!);
  console.log(
    `stdin: the client took ${written - stdin.writableLength} bytes of ${written}; peak RSS +${after.peak - before.rss}`,
  );
  assert.ok(stopped, `the client read all ${written} bytes of its input while the server read nothing`);
  assert.ok(after.peak - before.rss < 48 * MiB, `peak ${after.peak} bytes, ${before.rss} before`);

  // The server reads again: each line typed is a message, in order, none lost.
  let got: Buffer = Buffer.alloc(0);
  let next = 0;
  let closeCode: number | undefined;
  const read = new Promise<void>((resolve, reject) => {
    server.on('data', (d: Buffer) => {
      got = got.length === 0 ? d : Buffer.concat([got, d]);
      const { frames, rest } = parseFrames(got);
      got = rest;
      for (const f of frames) {
        if (f.opcode === 8) {
          closeCode = f.payload.readUInt16BE(0);
          server.end(frame({ opcode: 8, payload: f.payload.subarray(0, 2), mask: false }));
          resolve();
          return;
        }
        const want = line(next++).slice(0, -1);
        if (f.opcode !== 1 || f.payload.toString() !== want) {
          reject(new Error(`message ${next - 1}: opcode ${f.opcode}, ${f.payload.subarray(0, 20).toString()}…`));
        }
        // Every line in: the end of the input closes (Ctrl-D).
        if (next === lines) stdin.end();
      }
    });
  });
  server.resume();
  await read;
  assert.equal(next, lines);
  assert.equal(closeCode, 1000);
  const [code] = await exited;
  assert.equal(code, 0);
  assert.match(out, /closed by local: 1000\n$/);
});
