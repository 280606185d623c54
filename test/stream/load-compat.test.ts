/**
 * `ws-stream/ws`'s WebSocketServer under load, in a child process running the usual `ws` echo
 * program on it: cycles of many connections (with and without permessage-deflate) and connections
 * that end every way leave no client tracked, no descriptor and no heap behind; echoes come back
 * as sent. Memory is compared between cycles of one run, never against an absolute size or a time.
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
  type ProbedServer,
  startProbed,
} from '../cli/load-support.js';

const COMPAT = new URL('../../src/compat/index.js', import.meta.url).href;

/** The `ws` echo program, on ws-stream/ws; SIGUSR2 also prints how many clients it tracks. */
function program(deflate: boolean): string {
  return `
import { WebSocketServer } from ${JSON.stringify(COMPAT)};
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: ${deflate} });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log('listening on ws://127.0.0.1:' + wss.address().port + '/'));
process.on('SIGUSR2', () => console.log('clients ' + wss.clients.size));
process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.close(1001);
  wss.close(() => process.exit(0));
});
`;
}

/**
 * The heap after a full GC, and the clients the server tracks (printed by the same signal, at once,
 * before the heap report's line, which waits for turns of the loop: a line taken skips what came
 * before it, so the clients line is asked for first).
 */
async function probe(server: ProbedServer): Promise<{ heap: number; clients: number }> {
  const clients = server.line(/clients (\d+)/);
  const heap = await server.heap();
  return { heap, clients: Number((await clients)[1]) };
}

for (const deflate of [false, true]) {
  const n = deflate ? 150 : 300;
  it(`ws-stream/ws WebSocketServer${deflate ? ' with permessage-deflate' : ''}: cycles of ${n} connections opened, echoed and closed leave no client, descriptor or heap behind`, async () => {
    const server = await startProbed([], program(deflate));
    try {
      const fds = server.fds();
      const open: number[] = [];
      const closed: number[] = [];
      for (let cycle = 0; cycle < 4; cycle++) {
        const clients = await openClients(server.url, n, 100, { perMessageDeflate: deflate });
        let wrong = 0;
        await Promise.all(
          clients.map(async (ws: WebSocket, i) => {
            const msg = i % 2 === 0 ? Buffer.alloc(i % 10 === 0 ? 16384 : 100, i & 0xff) : `text ${i}`;
            ws.send(msg);
            const [data, isBinary] = await once(ws, 'message');
            const sentBinary = typeof msg !== 'string';
            if (isBinary !== sentBinary || !Buffer.from(data as Buffer).equals(Buffer.from(msg))) wrong++;
          }),
        );
        assert.equal(wrong, 0, 'every echo came back as sent, with its type');
        const whileOpen = await probe(server);
        assert.equal(whileOpen.clients, n);
        await closeClients(clients);
        assert.ok(await eventually(() => server.fds() <= fds), `descriptors ${server.fds()}, before ${fds}`);
        const after = await probe(server);
        assert.equal(after.clients, 0, 'no client tracked once all closed');
        if (cycle === 0) continue; // (warms up what Node keeps once made)
        open.push(whileOpen.heap);
        closed.push(after.heap);
      }
      assertHeapReturns(open, closed, n);
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }
  });
}

it('ws-stream/ws WebSocketServer: rounds of 900 connections ending every way (close, FIN, reset mid-frame, half a head, no read) leave no client, descriptor or heap behind', async () => {
  const server = await startProbed([], program(false));
  try {
    const fds = server.fds();
    const heaps: number[] = [];
    for (let round = 0; round < 4; round++) {
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < 900) await churnOne(server.port, next++ % 6);
        }),
      );
      assert.ok(await eventually(() => server.fds() <= fds), `descriptors ${server.fds()}, before ${fds}`);
      const { heap, clients } = await probe(server);
      assert.equal(clients, 0, 'no client tracked');
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
