/** The black-box protocol suite against `serve --pubsub --workers 2` (no broker: topics cross through the primary). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { protocolSuite, subscribe } from './blackbox-support.js';
import { JsonClient } from './pubsub-support.js';

protocolSuite({
  name: 'serve --pubsub --workers 2',
  setup: async () => ({ args: ['--workers', '2'], teardown: async () => {} }),
});

it('on SIGTERM closes every connection on every worker with 1001 and the primary exits 0', async () => {
  const server = await startServer(['--pubsub', '--workers', '2']);
  const clients: JsonClient[] = [];
  try {
    // Connections until both workers hold one (the primary hands them out in turn).
    while (new Set(clients.map((c) => c.worker)).size < 2) {
      const c = await JsonClient.connect(server.port);
      clients.push(c);
      await subscribe(c, 'bye');
    }
    const exited = new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
    server.proc.kill('SIGTERM');
    for (const c of clients) {
      await c.closed();
      assert.equal(c.closeCode, 1001, `a client of worker ${c.worker}`);
    }
    assert.equal(await exited, 0);
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
});
