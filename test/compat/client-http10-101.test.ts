/**
 * A 101 whose status line says HTTP/1.0 (a server or proxy that speaks 1.0 but switches anyway): ws takes
 * it (node:http passes it on), and so do ws-stream/ws and the core's connect(): the version is 1.x, and
 * the frame written right behind the 101 is the first message.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { connect } from '../../src/index.js';
import { computeAccept } from '../../src/proto/handshake-server.js';
import { impls } from './support.js';

/** A raw server answering each upgrade with an HTTP/1.0 101, and the text frame "hi" in the same write. */
async function http10Server(t: { after(fn: () => unknown): void }): Promise<string> {
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /\r\nsec-websocket-key: *([^\r]*)/i.exec(head)?.[1] ?? '';
      head = '';
      const response = `HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(key)}\r\n\r\n`;
      socket.end(Buffer.concat([Buffer.from(response, 'latin1'), Buffer.from([0x81, 2, 0x68, 0x69])]));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
}

describe('a 101 in HTTP/1.0', () => {
  for (const impl of impls) {
    it(`${impl.name}: opens; the frame behind it is the first message`, async (t) => {
      const url = await http10Server(t);
      const client = new impl.WebSocket(url);
      const events: string[] = [];
      client.on('open', () => events.push('open'));
      client.on('error', (e: Error) => events.push(`error ${e.message}`));
      const [data] = await once(client, 'message');
      assert.equal(String(data), 'hi');
      client.terminate();
      await once(client, 'close');
      assert.deepEqual(events, ['open']);
    });
  }

  it('connect(): opens; the frame behind it is the first message', async (t) => {
    const url = await http10Server(t);
    const ws = await connect(url);
    const msg = await ws.read();
    assert.equal(msg.data.toString(), 'hi');
    ws.nextLayer.destroy();
    await ws.whenClosed();
  });
});
