/**
 * `serve --workers N` whose workers cannot start: the reason a worker gives (a broker's refusal,
 * the port taken) is printed once, by the primary, as one process would print it, and serve exits
 * 1; a worker that dies without a reason is named by the primary's own line; a worker forked later
 * that cannot start is named with its reason on one line, and another is tried.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { BrokerProcess } from '../support/brokers.js';
import { childrenOf, exitOf, MAIN, runRefused, runToExit, startCollecting, workerPid } from './cli-support.js';

describe('serve --workers: a worker that could not start', () => {
  const brokers: BrokerProcess[] = [];
  after(async () => {
    for (const b of brokers) await b.stop();
  });

  it('--pubsub --broker redis with a wrong password, --workers 2: one line, the refusal, no password; exit 1', async () => {
    const broker = await BrokerProcess.redis({ args: ['--requirepass', 's3cret'] });
    brokers.push(broker);
    const url = broker.url.replace('://', '://:wrong-pw-1@');
    const { code, out, err } = await runRefused(['--pubsub', '--broker', url, '--workers', '2']);
    assert.equal(code, 1, out + err);
    assert.equal(out, '');
    assert.match(err, /^ws-stream: [^\n]*WRONGPASS[^\n]*\n$/);
    assert.doesNotMatch(err, /wrong-pw-1/);
  });

  it('--pubsub --broker nats with a wrong token, --workers 3: one line, the refusal, no token; exit 1', async () => {
    const broker = await BrokerProcess.nats({ jetstream: false, config: 'authorization { token: t0ken }' });
    brokers.push(broker);
    const url = broker.url.replace('://', '://wrong-pw-1@');
    const { code, out, err } = await runRefused(['--pubsub', '--broker', url, '--workers', '3']);
    assert.equal(code, 1, out + err);
    assert.equal(out, '');
    assert.match(err, /^ws-stream: the pub\/sub broker refused: [^\n]*Authorization Violation\n$/);
    assert.doesNotMatch(err, /wrong-pw-1/);
  });

  it('the port taken, --workers 2 (echo): one line, as without --workers; exit 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      for (const workers of [[], ['--workers', '2']]) {
        const { code, out, err } = await runRefused(['--port', String(port), ...workers]);
        assert.equal(code, 1, out + err);
        // (one process says `listen EADDRINUSE…`, a cluster worker `bind EADDRINUSE…`)
        assert.match(
          err,
          new RegExp(`^ws-stream: [^\n]*EADDRINUSE[^\n]* 127\\.0\\.0\\.1:${port}\n$`),
          workers.join(' '),
        );
      }
    } finally {
      taken.close();
    }
  });

  it('the URL is printed once every worker listens: one that never does, killed, leaves none printed; exit 1', async (t) => {
    // Worker 2 hangs in its start (see the hook); the stable-on-signal hook says when worker 1 listened.
    const stuck = new URL('./worker-never-listens.js', import.meta.url).href;
    const told = new URL('./stable-on-signal.js', import.meta.url).href;
    const run = startCollecting(['serve', '--port', '0', '--workers', '2'], 'ignore', [
      '--import',
      told,
      '--import',
      stuck,
    ]);
    t.after(() => {
      if (run.proc.exitCode === null && run.proc.signalCode === null) run.proc.kill('SIGKILL');
    });
    let err = '';
    // A URL printed at any time fails at once (the server would then serve on, and never exit).
    const printed = new Promise<never>((_, reject) => {
      run.proc.stdout!.on('data', () => {
        if (run.out().includes('listening on')) reject(new Error(`the URL printed: ${run.out()}`));
      });
    });
    await new Promise<void>((resolve, reject) => {
      printed.catch(reject);
      run.proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('stable-hook: worker 1 listened\n')) resolve();
      });
      void run.exited.then((r) => reject(new Error(`serve exited with ${r.code}: ${r.err}`)));
    });
    process.kill(workerPid(run.proc.pid!, '2'), 'SIGKILL');
    const { code, signal, out } = await Promise.race([run.exited, printed]);
    assert.deepEqual({ code, signal }, { code: 1, signal: null });
    assert.equal(out, '', 'no URL: not every worker listened');
    assert.match(err, /^ws-stream: worker 2 exited \(SIGKILL\) before it listened: stopping$/m);
  });

  it('workers that die without a reason: the primary’s line names one; exit 1', async () => {
    const exit = new URL('./worker-exit-at-start.js', import.meta.url).href;
    const { code, signal, out, err } = await runToExit(['serve', '--port', '0', '--workers', '2'], ['--import', exit]);
    assert.deepEqual({ code, signal }, { code: 1, signal: null });
    assert.equal(out, '');
    assert.match(err, /^ws-stream: worker [12] exited \(code 5\) before it listened: stopping\n$/);
  });

  it('a worker forked later that cannot start: one line with its reason, and another is tried (--quiet too)', async () => {
    const refused = new URL('./worker-refused-late.js', import.meta.url).href;
    const args = ['--import', refused, MAIN, 'serve', '--port', '0', '--workers', '2', '--quiet'];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening on')) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const killed = (await childrenOf(proc.pid!))[0]!;
      const lines = await new Promise<string[]>((resolve, reject) => {
        proc.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const all = err.split('\n');
          if (all.some((line) => /^worker 3 /.test(line))) resolve(all.filter((line) => line !== ''));
        });
        proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
        process.kill(killed, 'SIGKILL');
      });
      // (killed within 10 s of listening, its replacement may wait: either line is the primary's)
      assert.match(
        lines[0]!,
        /^worker [12] exited \(SIGKILL\)(; starting another| soon after it listened; another in \d+ ms)$/,
      );
      assert.match(lines[1]!, /^worker 3 could not start \(no listening for worker 3\); another in \d+ ms$/);
      assert.equal(lines.length, 2, lines.join('\n'));
    } finally {
      proc.kill('SIGTERM');
      await exitOf(proc);
    }
  });
});
