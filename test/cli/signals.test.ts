/**
 * How `ws-stream serve` stops and survives, with real processes and sockets: SIGTERM/SIGINT with
 * open connections (1001 to every client, exit 0), also with a client that never reads, also for a
 * terminal's Ctrl-C that reaches every process of `--workers 2`, also one that comes while the
 * primary forks, and a worker that does not stop (killed: none outlives its primary); and a worker
 * that dies (its clients lose their connection, the others are untouched, the primary starts another).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type net from 'node:net';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { RawClient, startServer } from '../conformance/raw-client.js';
import { message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { poll } from '../support/brokers.js';
import { requestHead, text } from '../support/frames.js';
import { floodUntilServerStopsReading, serverTurns } from '../support/hostile.js';
import { MAIN, childrenOf, exitOf, isRunning, runToExit } from './cli-support.js';

/** A ws client's close code, once closed. */
function closeCodeOf(ws: WebSocket): Promise<number> {
  return once(ws, 'close').then(([code]) => code as number);
}

it('echo: SIGTERM with 50 open connections sends every one close 1001 and exits 0', async () => {
  const server = await startServer();
  try {
    const clients = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
        await once(ws, 'open');
        return ws;
      }),
    );
    const codes = clients.map(closeCodeOf);
    const exited = exitOf(server.proc);
    server.proc.kill('SIGTERM');
    assert.deepEqual(new Set(await Promise.all(codes)), new Set([1001]));
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    await server.stop();
  }
});

it('echo: a connection that asks for its upgrade while the shutdown runs gets close 1001 too, and the exit is 0', async () => {
  const server = await startServer();
  try {
    const early = await RawClient.connect(server.port); // never answers the close: the shutdown waits for it
    const late = await RawClient.open(server.port); // connected before the signal, asks after it
    const exited = exitOf(server.proc);
    server.proc.kill('SIGTERM');
    const f = await early.next('the close frame');
    assert.deepEqual([f.opcode, f.payload.readUInt16BE(0)], [8, 1001]);
    late.send(Buffer.from(requestHead({}, 'GET / HTTP/1.1')));
    assert.equal((await late.expectClose({ answer: true })).code, 1001);
    assert.deepEqual(await exited, { code: 0, signal: null });
    early.destroy();
  } finally {
    await server.stop();
  }
});

it('echo: SIGINT with a client that never reads (its buffers full) still closes the others with 1001 and exits 0', async () => {
  const server = await startServer();
  try {
    const stuck = await RawClient.connect(server.port);
    stuck.sock.pause();
    // Fill both directions: the server's echoes back up until it stops reading this client (seen
    // on its end of the connection, not inferred from what queued on ours).
    const batch = Buffer.concat(Array.from({ length: 64 }, () => text('x'.repeat(16 * 1024))));
    const turns = await serverTurns(server.port);
    const flood = await floodUntilServerStopsReading(stuck.sock as net.Socket, batch, turns, 64 * 1024 * 1024);
    turns.close();
    assert.ok(flood.stopped, `the server kept reading: ${flood.written} bytes taken`);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await once(ws, 'open');
    const code = closeCodeOf(ws);
    const exited = exitOf(server.proc);
    server.proc.kill('SIGINT');
    assert.equal(await code, 1001);
    assert.deepEqual(await exited, { code: 0, signal: null });
    stuck.destroy();
  } finally {
    await server.stop();
  }
});

it('pub/sub: a second SIGTERM during the shutdown does not kill the process, nor start it again: still 1001 and exit 0', async () => {
  const server = await startServer(['--pubsub']);
  try {
    const c = await JsonClient.connect(server.port);
    await subscribe(c, 'twice');
    let after = ''; // what it prints after its URL
    const closed = once(server.proc, 'close'); // (exited, and its output all read)
    await new Promise<void>((resolve) => {
      server.proc.stdout!.on('data', (d: Buffer) => {
        after += d.toString();
        if (after.includes('shutting down\n')) resolve();
      });
      server.proc.kill('SIGTERM');
    });
    // The first is being handled (two sent at once may arrive as one): the second comes during the shutdown.
    server.proc.kill('SIGTERM');
    await c.closed();
    assert.equal(c.closeCode, 1001);
    assert.deepEqual(await closed, [0, null]);
    assert.equal(after, 'shutting down\n', 'the shutdown is announced (and run) once');
  } finally {
    await server.stop();
  }
});

it('--workers 2: Ctrl-C (SIGINT to the whole process group) closes every client of every worker with 1001, exit 0', async () => {
  // A process group of its own, as a shell gives a command, so that the signal reaches all of it.
  const proc = spawn(process.execPath, [MAIN, 'serve', '--pubsub', '--workers', '2', '--port', '0', '--quiet'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const exited = exitOf(proc);
  try {
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ws:\/\/[^:]+:(\d+)\//.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    const clients: JsonClient[] = [];
    while (new Set(clients.map((c) => c.worker)).size < 2) {
      const c = await JsonClient.connect(port);
      clients.push(c);
      await subscribe(c, 'ctrl-c');
    }
    process.kill(-proc.pid!, 'SIGINT');
    for (const c of clients) {
      await c.closed();
      assert.equal(c.closeCode, 1001, `a client of worker ${c.worker}`);
    }
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, 'SIGKILL');
  }
});

it('--workers 2: a worker killed (SIGKILL) drops only its own clients; the primary starts another that serves', async () => {
  const server = await startServer(['--pubsub', '--workers', '2']);
  const clients: JsonClient[] = [];
  const connect = async (): Promise<JsonClient> => {
    const c = await JsonClient.connect(server.port);
    clients.push(c);
    return c;
  };
  try {
    const first = await connect();
    let second = await connect();
    while (second.worker === first.worker) second = await connect();
    const s1 = await subscribe(first, 'survive');
    await subscribe(second, 'survive');
    // One of the primary's two children, whichever it is.
    const before = await childrenOf(server.proc.pid!);
    assert.equal(before.length, 2);
    process.kill(before[0]!, 'SIGKILL');
    // One of the two lost its connection (no close frame: its process is gone), the other did not.
    await Promise.race([first.closed(), second.closed()]);
    const [dead, alive] = first.ended ? [first, second] : [second, first];
    assert.equal(dead.closeCode, null, 'no close frame from a killed process');
    assert.equal(alive.ended, false);
    // The survivor still gets what is published (through the primary, which assigns offsets).
    alive.send({ op: 'publish', topic: 'survive', data: 'after the death' });
    assert.equal(await message(alive, 'survive', s1.offset + 1), 'after the death');
    // A new worker: connections reach a worker id that was not there before, and it serves.
    const known = new Set([first.worker, second.worker]);
    let fresh = await connect();
    while (known.has(fresh.worker)) {
      fresh.close();
      fresh = await connect();
    }
    const s = await subscribe(fresh, 'survive');
    assert.equal(s.offset, s1.offset + 1, 'the same topic, the same offsets');
    alive.send({ op: 'publish', topic: 'survive', data: 'to both' });
    assert.equal(await message(alive, 'survive', s1.offset + 2), 'to both');
    assert.equal(await message(fresh, 'survive', s1.offset + 2), 'to both');
    assert.equal((await childrenOf(server.proc.pid!)).length, 2);
    assert.equal(server.proc.exitCode, null);
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
});

it('--workers 2: a worker stopped by SIGTERM closes its clients with 1001 and is replaced', async () => {
  const server = await startServer(['--pubsub', '--workers', '2']);
  const clients: JsonClient[] = [];
  try {
    while (new Set(clients.map((c) => c.worker)).size < 2) {
      const c = await JsonClient.connect(server.port);
      clients.push(c);
      await subscribe(c, 'term');
    }
    const [victim] = await childrenOf(server.proc.pid!);
    process.kill(victim!, 'SIGTERM');
    await Promise.race(clients.map((c) => c.closed()));
    const gone = clients.filter((c) => c.ended);
    assert.ok(gone.length > 0);
    for (const c of gone) assert.equal(c.closeCode, 1001);
    const known = new Set(clients.map((c) => c.worker));
    let fresh = await JsonClient.connect(server.port);
    clients.push(fresh);
    while (known.has(fresh.worker)) {
      fresh.close();
      fresh = await JsonClient.connect(server.port);
      clients.push(fresh);
    }
    await subscribe(fresh, 'term');
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
});

it('--workers 2: the primary killed (SIGKILL): each worker closes its clients with 1001 and exits', async () => {
  const server = await startServer(['--pubsub', '--workers', '2']);
  const clients: JsonClient[] = [];
  try {
    while (new Set(clients.map((c) => c.worker)).size < 2) {
      const c = await JsonClient.connect(server.port);
      clients.push(c);
      await subscribe(c, 'orphans');
    }
    const workers = await childrenOf(server.proc.pid!);
    assert.equal(workers.length, 2);
    server.proc.kill('SIGKILL');
    for (const c of clients) {
      await c.closed();
      assert.equal(c.closeCode, 1001, `a client of worker ${c.worker}`);
    }
    // No worker outlives its primary.
    await poll(async () => !workers.some(isRunning));
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
});

for (const mode of [['--log'], ['--pubsub'], ['--pubsub', '--workers', '2']]) {
  it(`serve ${mode.join(' ')}: output nobody reads any more (stdout and stderr closed) does not stop it`, async () => {
    // Not --quiet: every refused handshake and (with --log) every connection writes a line.
    const proc = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = exitOf(proc);
    try {
      let out = '';
      const port = await new Promise<number>((resolve, reject) => {
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /ws:\/\/[^:]+:(\d+)\//.exec(out);
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
      });
      proc.stdout!.destroy();
      proc.stderr!.destroy();
      // Lines to both: refused handshakes (stderr), connections opened (stdout, with --log).
      for (let i = 0; i < 20; i++) {
        const refused = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'Sec-WebSocket-Version': '13' } });
        assert.equal(refused.status, 400);
        await refused.text();
      }
      const clients = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
          await once(ws, 'open');
          return ws;
        }),
      );
      const codes = clients.map(closeCodeOf);
      proc.kill('SIGTERM');
      assert.deepEqual(new Set(await Promise.all(codes)), new Set([1001]));
      assert.deepEqual(await exited, { code: 0, signal: null });
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });
}

for (const mode of [[], ['--pubsub']]) {
  it(`serve${mode.map((m) => ` ${m}`).join('')}: SIGINT as soon as the URL is printed still closes, exit 0`, async () => {
    // The signal comes from inside the process, right after it wrote the URL (see the hook): it was
    // printed before the signals were heard, and a signal then killed the process (exit by SIGINT).
    const hook = new URL('./signal-at-url.js', import.meta.url).href;
    const run = await runToExit(['serve', '--port', '0', ...mode], ['--import', hook], {
      WS_STREAM_TEST_SIGNAL: 'SIGINT',
    });
    assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, run.err);
    assert.match(run.out, /^ws-stream (echo|pub\/sub) server listening on ws:\/\/127\.0\.0\.1:\d+\/\nshutting down\n$/);
  });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  it(`--workers 3: ${signal} while the primary forks its workers stops every one of them, then exit 0`, async () => {
    // The signal comes from inside the primary, right after its first fork (see the hook).
    const hook = new URL('./signal-while-forking.js', import.meta.url).href;
    const args = ['--import', hook, MAIN, 'serve', '--workers', '3', '--port', '0', '--quiet'];
    const proc = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WS_STREAM_TEST_SIGNAL: signal },
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      assert.deepEqual(await exitOf(proc), { code: 0, signal: null }, `stderr: ${err}`);
      assert.equal(out, 'shutting down\n');
      const workers = [...err.matchAll(/^forked (\d+)$/gm)].map((m) => Number(m[1]));
      assert.equal(workers.length, 3, err);
      // The primary exits once its workers have.
      assert.deepEqual(workers.filter(isRunning), [], 'workers left running after their primary exited');
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });
}

it('--workers 2: a worker that does not stop (SIGSTOP) is killed after the grace period: none outlives its primary; a second SIGTERM meanwhile changes nothing', async () => {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--workers', '2', '--port', '0', '--quiet'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = exitOf(proc);
  let stuck: number | undefined;
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', () => {
        if (out.includes('listening on')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    [stuck] = await childrenOf(proc.pid!);
    // A worker that cannot act on SIGTERM (its event loop blocked, say) until it is killed.
    process.kill(stuck!, 'SIGSTOP');
    proc.kill('SIGTERM');
    // A second signal while the primary waits: the one shutdown goes on (one line, one grace period).
    await new Promise<void>((resolve) => {
      const said = (): void => {
        if (out.includes('shutting down')) resolve();
        else proc.stdout.once('data', said);
      };
      said();
    });
    proc.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(isRunning(stuck!), false, `worker ${stuck} outlived its primary`);
    assert.equal(out.split('shutting down').length - 1, 1, out);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    if (stuck !== undefined && isRunning(stuck)) process.kill(stuck, 'SIGKILL');
  }
});

it('the grace period counts from the signal: a shutdown() slow to return is cut short all the same (exit 0)', async () => {
  // See shutdown-grace-first.ts: under mock timers, shutdown() moves the clock past the grace period before it
  // returns, then exits 7; the grace timer armed at the signal exits 0 first.
  const script = fileURLToPath(new URL('./shutdown-grace-first.js', import.meta.url));
  const proc = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = exitOf(proc);
  try {
    await new Promise<void>((resolve, reject) => {
      proc.stdout.once('data', () => resolve());
      proc.once('exit', (code) => reject(new Error(`exited with ${code} before it was ready`)));
    });
    proc.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});
