/**
 * `ws-stream serve` start-up: `--help`/`-h` prints the usage and exits 0; a `--workers` worker
 * whose primary dies while it starts (as soon as it is forked, or while it connects to its broker)
 * exits quietly (no unhandled 'error' from its IPC channel).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { it } from 'node:test';
import { poll } from '../support/brokers.js';
import { MAIN, childrenOf, exitOf } from './cli-support.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const flag of ['--help', '-h']) {
  it(`serve ${flag}: the usage on stdout, exit 0`, async () => {
    const p = spawn(process.execPath, [MAIN, 'serve', '--pubsub', flag], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const { code } = await exitOf(p);
    assert.equal(code, 0);
    assert.match(out, /^usage:/);
    assert.match(out, /ws-stream serve --pubsub/);
  });
}

it('--workers 2: a worker whose primary dies during its start-up exits quietly', { timeout: 120_000 }, async (t) => {
  // A "Redis" that takes connections and never answers: each worker's start-up waits on it.
  const held: net.Socket[] = [];
  let arrived: (() => void) | null = null;
  const silent = net.createServer((s) => {
    held.push(s);
    s.on('error', () => {});
    arrived?.();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const port = (silent.address() as net.AddressInfo).port;
  const primary = spawn(
    process.execPath,
    [MAIN, 'serve', '--pubsub', '--quiet', '--port', '0', '--workers', '2', '--broker', `redis://127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  primary.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  primary.stdout.resume();
  let workers: number[] = [];
  t.after(() => {
    for (const pid of [primary.pid!, ...workers]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  // Both workers connect (two connections each) and wait for an answer that never comes.
  while (held.length < 4) await new Promise<void>((resolve) => (arrived = resolve));
  workers = await childrenOf(primary.pid!);
  assert.equal(workers.length, 2);
  primary.kill('SIGKILL');
  await exitOf(primary);
  // (Orphans: no exit event reaches this process; their stderr pipe is the primary's.)
  await poll(async () => !workers.some(alive));
  // Quietly: not a word (with --quiet, nothing else is printed).
  assert.equal(err, '');
});

it('--workers 2: workers whose primary dies as soon as they are forked exit quietly', {
  timeout: 120_000,
}, async (t) => {
  const primary = spawn(process.execPath, [MAIN, 'serve', '--pubsub', '--quiet', '--port', '0', '--workers', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  primary.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  primary.stdout.resume();
  let workers: number[] = [];
  t.after(() => {
    for (const pid of [primary.pid!, ...workers]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  // (No event tells that a process forked: its children are looked up until both are there.)
  await poll(async () => (workers = await childrenOf(primary.pid!)).length === 2);
  primary.kill('SIGKILL');
  await exitOf(primary);
  await poll(async () => !workers.some(alive));
  assert.equal(err, '');
});
