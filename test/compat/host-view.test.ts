/**
 * Requests without a Host value, on both engines: ws takes them, and so does ws-stream/ws (the core,
 * stricter by RFC 6455, sees them through a view with a Host). Listeners still get the request itself:
 * `verifyClient`, `handleProtocols` and 'connection' see the same object, as in ws.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { KEY } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

/** A duplex that records what is written to it and reads nothing. */
function sink(): { socket: Duplex; written: () => string } {
  let out = '';
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString('latin1');
      cb();
    },
  });
  return { socket, written: () => out };
}

for (const impl of impls) {
  describe(`requests without a Host value on ${impl.name}`, () => {
    it('an empty Host field through node:http is answered 101', async (t) => {
      const { port } = await listen(t, impl);
      const head = `GET / HTTP/1.1\r\nHost:\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      const peer = await rawPeer(t, port, head);
      assert.equal((await peer.responseHead()).status, 101);
    });

    it('a hand-made request with host: undefined is upgraded, and every listener gets that request', async (t) => {
      const seen: Record<string, unknown> = {};
      const wss = new impl.WebSocketServer({
        noServer: true,
        verifyClient: (info: { req: IncomingMessage }) => {
          seen.verifyClient = info.req;
          return true;
        },
        handleProtocols: (offered: Set<string>, req: IncomingMessage) => {
          seen.handleProtocols = req;
          return offered.values().next().value;
        },
      });
      t.after(() => wss.close());
      const { socket, written } = sink();
      t.after(() => socket.destroy());
      const req = {
        socket,
        method: 'GET',
        url: '/',
        httpVersion: '1.1',
        headers: {
          host: undefined,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': randomBytes(16).toString('base64'),
          'sec-websocket-protocol': 'chat',
        },
      } as unknown as IncomingMessage;
      const connected = new Promise<unknown>((resolve) =>
        wss.handleUpgrade(req, socket, Buffer.alloc(0), (_ws: unknown, r: unknown) => resolve(r)),
      );
      seen.connection = await connected;
      assert.match(written(), /^HTTP\/1\.1 101 /);
      assert.match(written(), /\r\nSec-WebSocket-Protocol: chat\r\n/i);
      assert.deepEqual(
        Object.entries(seen).map(([k, v]) => [k, v === req]),
        [
          ['verifyClient', true],
          ['handleProtocols', true],
          ['connection', true],
        ],
      );
    });
  });
}
