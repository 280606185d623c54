/**
 * The 101 that `ws-stream serve` writes, byte for byte: the subprotocol chosen, then its Server field
 * and the extra headers as given (written from fields recorded once at the start, not decorated per
 * handshake: test/proto/fixed-decoration).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { it } from 'node:test';
import { serve } from '../../src/cli/serve.js';
import { computeAccept } from '../../src/proto/handshake-server.js';
import { connect } from '../../src/stream/connect.js';
import { startServer } from '../conformance/raw-client.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

it("ws-stream serve's 101: the subprotocol, then Server and the extra headers, as given", async (t) => {
  const running = await serve({
    host: '127.0.0.1',
    port: 0,
    quiet: true,
    protocols: ['chat'],
    headers: { 'X-Extra': 'one', server: 'lower-case is another field' },
  });
  const port = (running.server.address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  t.after(async () => {
    socket.destroy();
    await running.shutdown();
  });
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: other, chat\r\n\r\n`,
  );
  let got = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.includes('\r\n\r\n')) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
  });
  assert.equal(
    got,
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(KEY)}\r\n` +
      'Sec-WebSocket-Protocol: chat\r\nServer: ws-stream\r\nX-Extra: one\r\nserver: lower-case is another field\r\n\r\n',
  );
});

it('ws-stream serve --protocols chat,superchat: its own order of preference chooses, not the order the client offers them in', async () => {
  const server = await startServer(['--protocols', 'chat,superchat']);
  try {
    for (const [offered, chosen] of [
      [['superchat', 'chat'], 'chat'],
      [['other', 'superchat'], 'superchat'],
      [['chat'], 'chat'],
    ] as const) {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, { protocols: [...offered] });
      assert.equal(ws.protocol, chosen, offered.join(', '));
      await ws.close({ code: 1000 });
    }
  } finally {
    await server.stop();
  }
});
