/**
 * The teardown of the suites that run `serve --workers` (teardownOrReport and startServer's stop,
 * test/conformance/raw-client.ts). A step that fails (the independent checker exits 1 once a check
 * failed) no longer keeps the later steps from stopping the servers: their processes were left
 * running, and the test file never ended (the one hang of independent-workers). A teardown that
 * leaves processes of the server running fails naming each.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startServer, teardownOrReport } from '../conformance/raw-client.js';

it('a teardown whose first step fails still stops every process of the server, then throws that failure', async (t) => {
  const server = await startServer(['--pubsub', '--workers', '2']);
  t.after(() => server.stop());
  assert.equal(server.left().length, 3, 'the primary and its two workers');
  await assert.rejects(
    teardownOrReport([() => Promise.reject(new Error('the checker exited with 1')), () => server.stop()], () =>
      server.left(),
    ),
    /^Error: the checker exited with 1$/,
  );
  assert.deepEqual(server.left(), []);
});

it('a teardown whose steps leave the server running fails naming the primary and each worker, and kills them', async (t) => {
  const server = await startServer(['--workers', '2']);
  t.after(() => server.stop());
  const pids = server.left().map((p) => p.pid);
  assert.equal(pids.length, 3);
  // A teardown that forgot to stop the server: the report is what is checked.
  await assert.rejects(
    teardownOrReport([], () => server.left()),
    (err: Error) => {
      assert.match(err.message, /^teardown ended with processes of the server still running \(now killed\):\n/);
      for (const pid of pids) assert.match(err.message, new RegExp(`\\n {2}pid ${pid} \\(`));
      assert.match(err.message, /\(cluster worker 1, state /);
      assert.match(err.message, /\(cluster worker 2, state /);
      return true;
    },
  );
  // Killed: the primary by SIGKILL, and nothing of the server is left once its stdout has closed.
  await server.stop();
  assert.equal(server.proc.signalCode, 'SIGKILL');
  assert.deepEqual(server.left(), []);
});
