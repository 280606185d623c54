/**
 * `serve --pubsub --workers 2` whose primary is killed (SIGKILL): each worker's cluster broker hears
 * at once that the primary is gone, and says so (`broker unavailable`, one line per worker), then
 * the worker closes its clients with 1001 and exits. runServer used to remove every 'disconnect'
 * listener of the process once the server had started, the broker's with them: the workers then
 * learnt of it only as they shut down, and never said it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { it } from 'node:test';
import { processesWithEnv, teardownOrReport } from '../conformance/raw-client.js';
import { subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { MAIN, childrenOf } from './cli-support.js';

/** Marks this file's server processes (the primary and its workers), for the teardown's check. */
const TAG = 'WS_STREAM_TEST_PRIMARY_GONE';

it('--pubsub --workers 2, the primary killed: each worker says its broker is unavailable, closes its clients with 1001, exits', async () => {
  const tag = String(process.pid);
  // Not --quiet: the line is what the operator sees.
  const proc = spawn(process.execPath, [MAIN, 'serve', '--pubsub', '--workers', '2', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [TAG]: tag },
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // The workers write to the primary's stdout and stderr (node:cluster gives them its own): both
  // pipes close once the primary and every worker have exited.
  const pipesClosed = Promise.all([once(proc.stdout, 'close'), once(proc.stderr, 'close')]);
  const clients: JsonClient[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      proc.stdout.on('data', () => {
        const m = /ws:\/\/[^:]+:(\d+)\//.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}${err}`)));
    });
    // A subscribed client on each worker: topics the broker carries when the primary goes.
    while (new Set(clients.map((c) => c.worker)).size < 2) {
      const c = await JsonClient.connect(port);
      clients.push(c);
      await subscribe(c, 'orphans');
    }
    assert.equal((await childrenOf(proc.pid!)).length, 2);
    proc.kill('SIGKILL');
    for (const c of clients) {
      await c.closed();
      assert.equal(c.closeCode, 1001, `a client of worker ${c.worker}`);
    }
    await pipesClosed;
    assert.equal(err, 'broker unavailable\n'.repeat(2), 'one line from each worker');
  } finally {
    await teardownOrReport(
      [
        () => {
          for (const c of clients) c.close();
        },
        () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        },
      ],
      () => processesWithEnv(TAG, tag),
    );
  }
});
