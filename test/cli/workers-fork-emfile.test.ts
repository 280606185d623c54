/**
 * `serve --workers 2` whose primary is out of file descriptors when a worker dies: forking the
 * replacement fails (spawn EMFILE). node:cluster reports that only as an 'error' event on the new
 * worker, which never runs nor exits. The primary must not die of it (its death would take the
 * other worker and every client with it): the surviving worker serves on, the fork is tried again
 * after the usual pause, and once descriptors are free again there are two workers.
 *
 * The primary's soft descriptor limit is lowered with util-linux's `prlimit` to 3 (stdin, stdout and
 * stderr: no new descriptor can be opened, whatever numbers its open ones have), then put back.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { poll } from '../support/brokers.js';
import { childrenOf, exitOf, MAIN } from './cli-support.js';

/** The soft limit on open files of process `pid` (/proc/PID/limits). */
function softFileLimit(pid: number): string {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  assert.ok(soft, `a soft limit in /proc/${pid}/limits`);
  return soft;
}

/** Sets the soft limit on open files of process `pid` (the hard one is left: raising it back needs no privilege). */
function setSoftFileLimit(pid: number, soft: string): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
}

it('--workers 2: a replacement worker that cannot be forked (EMFILE in the primary) is tried again; the server never stops', async () => {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--workers', '2', '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = exitOf(proc);
  let out = '';
  let err = '';
  let changed: () => void = () => {};
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    changed();
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    changed();
  });
  /** Waits until stdout or stderr matches `pattern`; fails if the server exits first. */
  const printed = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(out + err);
        if (m) resolve(m);
        else if (proc.exitCode !== null || proc.signalCode !== null)
          reject(
            new Error(`the server exited (${proc.exitCode ?? proc.signalCode}) before printing ${pattern}: ${err}`),
          );
      };
      changed = check;
      proc.once('exit', check);
      check();
    });
  const clients: JsonClient[] = [];
  const soft = softFileLimit(proc.pid!);
  try {
    const port = Number((await printed(/listening on ws:\/\/127\.0\.0\.1:(\d+)\/ \(2 workers\)/))[1]);
    const [victim] = await childrenOf(proc.pid!);
    setSoftFileLimit(proc.pid!, '3');
    process.kill(victim!, 'SIGKILL');
    await printed(/could not start \(fork failed: spawn \S+ EMFILE\); another in \d+ ms/);

    // The primary is up, and the worker left serves new clients meanwhile.
    const during = await JsonClient.connect(port);
    clients.push(during);
    during.send({ n: 1 });
    assert.deepEqual(await during.next('the echo'), { n: 1 });

    // Descriptors back: the next try forks a worker, which listens (however long a loaded machine
    // takes to start it): a connection is then taken by a worker other than the one left.
    setSoftFileLimit(proc.pid!, soft);
    let replacement: JsonClient | undefined;
    await poll(async () => {
      const c = await JsonClient.connect(port);
      clients.push(c);
      if (c.worker !== during.worker) replacement = c;
      else c.close();
      return replacement !== undefined;
    });
    replacement!.send({ n: 2 });
    assert.deepEqual(await replacement!.next('the echo'), { n: 2 });
    assert.equal((await childrenOf(proc.pid!)).filter((pid) => pid !== victim).length, 2, 'two workers');

    proc.kill('SIGTERM');
    await during.closed();
    assert.equal(during.closeCode, 1001);
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    for (const c of clients) c.close();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  }
});
