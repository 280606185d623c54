/**
 * `setSocket(socket, head, options)` on a WebSocket made with `new WebSocket(null, undefined, options)`: ws reads
 * `closeTimeout` and `autoPong` from the constructor's options (its `setSocket` reads the receiver's: `maxPayload`,
 * `skipUTF8Validation`, …), so those given to `setSocket` change nothing. `setTimeout` is node's mock: the clock is
 * moved on by the constructor's close timeout once the close frame is out, and the socket must be gone. The bytes
 * given as `head` are read before the socket's.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { closeCodeOf } from '../support/hostile.js';
import { KEY_ACCEPT, ping, text } from '../support/frames.js';
import { impls, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: both implementations of ws's API
type Any = any;

for (const impl of impls) {
  describe(`${impl.name}: setSocket`, () => {
    it("closeTimeout and autoPong are the constructor's, not setSocket's", async (t) => {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      let socket: net.Socket | undefined;
      let ws: Any;
      const server = net.createServer((s) =>
        s.once('data', () => {
          s.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${KEY_ACCEPT}\r\n\r\n`,
          );
          socket = s;
          ws = new impl.WebSocket(null, undefined, { closeTimeout: 100, autoPong: false });
          ws.setSocket(s, Buffer.alloc(0), { closeTimeout: 60_000, autoPong: true });
          server.emit('adopted');
        }),
      );
      t.after(() => {
        ws?.terminate();
        server.close();
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const adopted = once(server, 'adopted');
      const peer = await rawPeer(t, (server.address() as net.AddressInfo).port);
      await peer.responseHead();
      await adopted;
      // A ping, then a message: once the message is in, the ping was read (and answered, were autoPong on).
      const message = once(ws, 'message');
      peer.send(Buffer.concat([ping('p'), text('m')]));
      await message;
      ws.close(1000);
      const [first] = await peer.waitFrames(1);
      assert.equal(closeCodeOf(first!), 1000, 'no pong went before the close frame');
      const closed = once(ws, 'close');
      t.mock.timers.tick(100); // the peer does not answer: the constructor's close timeout tears the socket down
      assert.equal(socket!.destroyed, true);
      const [code] = await closed;
      assert.equal(code, 1006);
    });

    it('the bytes given as head are read first: a message in them is emitted', async (t) => {
      let ws: Any;
      const server = net.createServer((s) =>
        s.once('data', () => {
          s.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${KEY_ACCEPT}\r\n\r\n`,
          );
          ws = new impl.WebSocket(null, undefined, { autoPong: true });
          ws.on('message', (data: Buffer) => server.emit('got', data.toString()));
          // As if read past the handshake with the request: a message, then a ping.
          ws.setSocket(s, Buffer.concat([text('in head'), ping('p')]), {});
        }),
      );
      t.after(() => {
        ws?.terminate();
        server.close();
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const first = once(server, 'got');
      const peer = await rawPeer(t, (server.address() as net.AddressInfo).port);
      await peer.responseHead();
      peer.send(text('from the socket'));
      assert.deepEqual(await first, ['in head']);
      const [pong] = await peer.waitFrames(1);
      assert.deepEqual([pong!.opcode, pong!.payload.toString()], [0xa, 'p']);
    });
  });
}
