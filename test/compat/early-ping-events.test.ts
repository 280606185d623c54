/**
 * The 'ping' events of pings that wait behind messages: pipelined behind the upgrade request (ws reads them after
 * 'connection', in wire order: frames-with-request.test.ts checks the pongs on the wire, here the events), and
 * behind a message held by pause() when terminate() ends the connection (ws emits what its socket read before the
 * close, paused or not). The server's events are compared with ws's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { poll } from '../support/brokers.js';
import { closeFrame, KEY, ping, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

const request = (port: number): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** Records a server WebSocket's events until 'close'. */
function record(sws: Ws): Promise<string[]> {
  const events: string[] = [];
  sws.on('message', (d: Buffer) => events.push(`message:${d}`));
  sws.on('ping', (d: Buffer) => events.push(`ping:${d}`));
  sws.on('pong', (d: Buffer) => events.push(`pong:${d}`));
  return new Promise((resolve) => sws.on('close', (code: number) => resolve([...events, `close:${code}`])));
}

for (const impl of impls) {
  describe(`${impl.name}: 'ping' events of pings behind messages`, () => {
    it('pipelined with the upgrade request: a message, a ping, a message, a ping, a close', async (t) => {
      const { wss, port } = await listen(t, impl);
      const events = new Promise<string[]>((resolve) => wss.on('connection', (sws: Ws) => resolve(record(sws))));
      const frames = [text('m'), ping('p1'), text('n'), ping('p2'), closeFrame(1000)];
      await rawPeer(t, port, Buffer.concat([Buffer.from(request(port)), ...frames]));
      assert.deepEqual(await events, ['message:m', 'ping:p1', 'message:n', 'ping:p2', 'close:1000']);
    });

    it('paused, a message and two pings read, then terminate(): all emitted, then close 1006', async (t) => {
      const { wss, port } = await listen(t, impl);
      const frames = [text('m'), ping('p1'), ping('p2')];
      const bytes = Buffer.concat([Buffer.from(request(port)), ...frames]);
      const events = new Promise<string[]>((resolve) =>
        wss.on('connection', (sws: Ws) => {
          sws.pause();
          resolve(record(sws));
          // Once the socket has read every frame (held by the paused WebSocket or in the socket's buffer).
          poll(async () => sws._socket.bytesRead >= bytes.length).then(() => sws.terminate());
        }),
      );
      await rawPeer(t, port, bytes);
      assert.deepEqual(await events, ['message:m', 'ping:p1', 'ping:p2', 'close:1006']);
    });
  });
}
