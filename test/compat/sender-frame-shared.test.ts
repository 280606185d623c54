/**
 * socket.io-adapter's broadcast hands every socket's `_sender.sendFrame` the same list made once by ws's
 * `Sender.frame()` (header, payload): ws-stream/ws joins that list into one frame once, and every socket queues
 * that same Buffer (websocket.ts, `joinedFrame`), so the loop allocates one copy, not one per client. Each client
 * still receives the whole message; a list reused after its Buffers changed is api.test.ts's.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import * as wsModule from 'ws';
import { compat, listen, ws } from './support.js';

/** ws's frame builder, as socket.io-adapter uses it (exported by ws's ESM wrapper; not in @types/ws). */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
};

// biome-ignore lint/suspicious/noExplicitAny: ws's API
type Ws = any;

describe('ws-stream/ws: one list of Sender.frame() sent through every socket’s _sender is joined once', () => {
  it('32 clients, 60 KiB: the loop allocates far less than a copy per client; each client gets the message', async (t) => {
    const CLIENTS = 32;
    const SIZE = 60 * 1024;
    const { wss, port } = await listen(t, compat, { perMessageDeflate: false });
    const clients: Ws[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const connection = once(wss, 'connection');
      const client = new ws.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      clients.push(client);
      await connection;
      if (client.readyState !== client.OPEN) await once(client, 'open');
    }
    const list = Sender.frame(Buffer.alloc(SIZE, 0x61), {
      fin: true,
      rsv1: false,
      opcode: 2,
      mask: false,
      readOnly: true,
    });
    assert.equal(list.length, 2);
    const messages = clients.map((c) => once(c, 'message'));
    // Every ArrayBuffer the loop makes is counted here, as it is made in the loop's turn.
    const before = process.memoryUsage().arrayBuffers;
    for (const c of wss.clients) c._sender.sendFrame(list);
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.ok(grew < (CLIENTS / 4) * SIZE, `the loop allocated ${grew} bytes for ${CLIENTS} clients of ${SIZE} bytes`);
    const lengths = (await Promise.all(messages)).map(([data]) => (data as Buffer).length);
    assert.deepEqual(
      lengths,
      clients.map(() => SIZE),
    );
  });
});
