/** The black-box protocol suite against `serve --pubsub --workers 2` (no broker: topics cross through the primary). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { message, protocolSuite, subscribe } from './blackbox-support.js';
import { text } from '../support/frames.js';
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

it('--workers 2: two publishes and an unsubscribe in one chunk: both messages come back to their sender first (they crossed the primary)', async () => {
  const server = await startServer(['--pubsub', '--workers', '2']);
  const c = await JsonClient.connect(server.port);
  try {
    const r = await subscribe(c, 'leave');
    const req = (o: unknown) => text(JSON.stringify(o));
    // (the unsubscribe waits for the publishes sent before it to be taken: the in-memory topics of the
    // primary hand it back to this worker's subscribers before its publisher hears the offset)
    c.sendRaw(
      Buffer.concat([
        req({ op: 'publish', topic: 'leave', data: 'mine' }),
        req({ op: 'publish', topic: 'leave', data: 'mine too' }),
        req({ op: 'unsubscribe', topic: 'leave' }),
        req({ op: 'nope' }),
      ]),
    );
    assert.equal(await message(c, 'leave', r.offset + 1), 'mine');
    assert.equal(await message(c, 'leave', r.offset + 2), 'mine too');
    assert.equal((await c.next()).op, 'error');
  } finally {
    c.close();
    await server.stop();
  }
});
