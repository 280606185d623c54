/**
 * A TCP reset (RST) of an open connection, on ws and on ws-stream/ws side by side, in both roles: no
 * 'error', then 'close' with 1006 and an empty reason, as ws reports it (doc/ws-compat.md). The core
 * reports the same reset as ERR_WS_NEXT_LAYER with ECONNRESET as its cause, and a peer's RST_STREAM
 * over HTTP/2 the same way (test/conformance/h2-reset.test.ts); ws-stream/ws speaks HTTP/1.1 only.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { computeAccept } from '../../src/index.js';
import { requestHead, text } from '../support/frames.js';
import { impls } from './support.js';

/** Records a WebSocket's events, in order, until 'close'. */
function record(ws: { on(event: string, listener: (...args: unknown[]) => void): void }): Promise<string[]> {
  const seen: string[] = [];
  ws.on('open', () => seen.push('open'));
  ws.on('message', (data) => seen.push(`message ${String(data)}`));
  ws.on('error', (err) => seen.push(`error ${(err as Error).message}`));
  return new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      seen.push(`close ${String(code)} ${JSON.stringify(String(reason))}`);
      resolve(seen);
    });
  });
}

describe('a TCP reset of an open connection: ws and ws-stream/ws alike', { timeout: 30_000 }, () => {
  for (const impl of impls) {
    it(`${impl.name}, server role: the client resets after a message: 'close' 1006, no 'error'`, async (t) => {
      const wss = new impl.WebSocketServer({ port: 0, host: '127.0.0.1' });
      t.after(() => wss.close());
      await once(wss, 'listening');
      const connected = once(wss, 'connection');
      const client = net.connect(wss.address().port, '127.0.0.1');
      client.on('error', () => {});
      client.write(requestHead());
      const [ws] = (await connected) as [Parameters<typeof record>[0]];
      const seen = record(ws);
      client.write(text('hi'));
      // The message is in: then the reset.
      await new Promise<void>((resolve) => ws.on('message', () => resolve()));
      client.resetAndDestroy();
      assert.deepEqual(await seen, ['message hi', 'close 1006 ""']);
    });

    it(`${impl.name}, client role: the server resets once its message is answered: 'close' 1006, no 'error'`, async (t) => {
      const server = net.createServer((socket) => {
        socket.on('error', () => {});
        let head = '';
        socket.on('data', (d: Buffer) => {
          // The client's answer to the message: it has read it; now the reset.
          if (head.includes('\r\n\r\n')) return socket.resetAndDestroy();
          head += d.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          const key = /^sec-websocket-key: *(\S+)/im.exec(head)![1]!;
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(key)}\r\n\r\n`,
          );
          socket.write(text('hi', { mask: false }));
        });
      });
      t.after(() => server.close());
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      const ws = new impl.WebSocket(`ws://127.0.0.1:${port}/`);
      ws.on('message', () => ws.send('got it'));
      const seen = await record(ws);
      assert.deepEqual(seen, ['open', 'message hi', 'close 1006 ""']);
    });
  }
});
