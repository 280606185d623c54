/**
 * `ws-stream serve` under load, in a child process whose JS heap (after a full GC) and descriptors
 * the test reads: cycles of many connections leave nothing behind, connections that end every way
 * (close, FIN, reset mid-frame, half a request head, no read, nothing sent) leave no descriptor and
 * no memory, and nothing an echo carries is lost. Memory is compared between cycles of the same
 * run, against what the connections cost while open: never an absolute size, never a time.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { it } from 'node:test';
import type WebSocket from 'ws';
import {
  assertHeapReturns,
  assertNoSteadyGrowth,
  churnOne,
  closeClients,
  eventually,
  openClients,
  startProbed,
} from './load-support.js';

/** Each client sends one message (every tenth 16 KiB, the others 100 bytes) and checks the echo. */
async function echoOnce(clients: WebSocket[]): Promise<number> {
  let wrong = 0;
  await Promise.all(
    clients.map(async (ws, i) => {
      const msg = Buffer.alloc(i % 10 === 0 ? 16384 : 100, i & 0xff);
      ws.send(msg);
      const [data] = await once(ws, 'message');
      if (!Buffer.from(data as Buffer).equals(msg)) wrong++;
    }),
  );
  return wrong;
}

for (const { name, args, n, options } of [
  { name: 'echo', args: [], n: 500, options: {} },
  { name: 'echo --deflate', args: ['--deflate'], n: 200, options: { perMessageDeflate: true } },
  { name: 'echo --tls', args: ['--tls'], n: 150, options: { rejectUnauthorized: false } },
]) {
  it(`${name}: cycles of ${n} connections opened, echoed and closed return the heap and descriptors to the first cycle's level`, async () => {
    const server = await startProbed(args);
    try {
      const fds = server.fds();
      const open: number[] = [];
      const closed: number[] = [];
      // A first cycle warms up what Node keeps once made (code, HTTP parsers): not measured.
      for (let cycle = 0; cycle < 4; cycle++) {
        const clients = await openClients(server.url, n, 100, options);
        assert.equal(await echoOnce(clients), 0, 'every echo came back as sent');
        const heapOpen = await server.heap();
        await closeClients(clients);
        assert.ok(await eventually(() => server.fds() <= fds), `descriptors ${server.fds()}, before ${fds}`);
        const heapClosed = await server.heap();
        if (cycle === 0) continue;
        open.push(heapOpen);
        closed.push(heapClosed);
      }
      assertHeapReturns(open, closed, n);
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }
  });
}

it('echo: rounds of 900 connections ending every way (close, FIN, reset mid-frame, half a head, no read) leave no descriptor, no heap, and it echoes after', async () => {
  const server = await startProbed([]);
  try {
    const fds = server.fds();
    const heaps: number[] = [];
    for (let round = 0; round < 4; round++) {
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < 900) {
            const i = next++;
            await churnOne(server.port, i % 6);
          }
        }),
      );
      assert.ok(await eventually(() => server.fds() <= fds), `descriptors ${server.fds()}, before ${fds}`);
      const heap = await server.heap();
      if (round > 0) heaps.push(heap); // (the first warms up what Node keeps once made)
    }
    // A leak of a quarter KB per connection (an open one holds over 1 KB) shows in every round.
    assertNoSteadyGrowth(heaps, 900 * 256, 'round of 900');
    const [ws] = await openClients(server.url, 1);
    ws!.send('still here');
    assert.equal(String((await once(ws!, 'message'))[0]), 'still here');
    await closeClients([ws!]);
  } finally {
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  }
});
