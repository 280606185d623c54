/**
 * An upgrade made by hand, as fastify's `injectWS` makes one: a request object without Host whose
 * Sec-WebSocket-Version is a number, handed to `handleUpgrade` with one end of an in-memory duplex pair that never
 * destroys itself (autoDestroy off, as duplexify's streams), and a client made with `new WebSocket(null)` that takes
 * the other end by `setSocket` once it has read the 101. On each engine: the 101, a message each way, and a close
 * that both sides see end (ws ends each side by its close timer; ws-stream/ws, given no close timer, releases a duplex
 * once both of its sides have ended).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket as WsWebSocket } from 'ws';
import { duplexPair } from '../support/duplex-layer.js';
import { engines } from './engines.js';

for (const engine of engines) {
  describe(`a hand-made upgrade on ${engine.name}`, () => {
    // A timeout for the test: without the release, ws-stream/ws would wait for ever.
    it('without Host, with a number for the version, over a duplex that never destroys itself', {
      timeout: 60_000,
    }, async (t) => {
      // ws ends each side by its close timer (the client's is 1 ms when setSocket gets none, as from injectWS);
      // ws-stream/ws gets timers that never fire in a test, so only the release of the ended duplexes can close them.
      const ours = engine.name === 'ws-stream/ws';
      const never = 2 ** 31 - 1;
      const wss = new engine.WebSocketServer({ noServer: true, closeTimeout: ours ? never : 100 } as object);
      t.after(() => wss.close());
      const [serverSide, clientSide] = duplexPair();
      t.after(() => {
        serverSide.destroy();
        clientSide.destroy();
      });
      const key = randomBytes(16).toString('base64');
      const req = {
        method: 'GET',
        url: '/inject',
        httpVersion: '1.1',
        headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': 13, 'sec-websocket-key': key },
      } as unknown as IncomingMessage;

      // The client reads the 101 itself, then hands the rest to a WebSocket made without an address, in the same
      // 'data' event (as injectWS does: the duplex keeps flowing).
      // Its close timer is the constructor's `closeTimeout`, on both engines.
      const client = new engine.WebSocket(
        null as unknown as string,
        undefined,
        (ours ? { closeTimeout: never } : {}) as object,
      ) as WsWebSocket & {
        _isServer: boolean;
        setSocket(socket: Duplex, head: Buffer, options: object): void;
      };
      client._isServer = false;
      const opened = once(client, 'open');
      const response = new Promise<string>((resolve) => {
        let got = Buffer.alloc(0);
        const onData = (chunk: Buffer) => {
          got = Buffer.concat([got, chunk]);
          const end = got.indexOf('\r\n\r\n');
          if (end < 0) return;
          clientSide.off('data', onData);
          client.setSocket(clientSide, got.subarray(end + 4), { maxPayload: 0 });
          resolve(got.subarray(0, end).toString('latin1'));
        };
        clientSide.on('data', onData);
      });
      const connected = new Promise<WsWebSocket>((resolve) =>
        wss.handleUpgrade(req, serverSide, Buffer.alloc(0), (ws) => resolve(ws)),
      );
      const head = await response;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.ok(head.toLowerCase().includes(`\r\nsec-websocket-accept: ${accept.toLowerCase()}`), head);
      await opened;
      const server = await connected;
      server.on('message', (data, isBinary) => server.send(data, { binary: isBinary }));
      const serverClosed = once(server, 'close');
      // The pair is synchronous: listen before sending.
      const echoed = once(client, 'message');
      client.send('injected');
      const [echo] = (await echoed) as [Buffer];
      assert.equal(String(echo), 'injected');
      const clientClosed = once(client, 'close');
      client.close(1000, 'done');
      const [code, reason] = (await clientClosed) as [number, Buffer];
      assert.deepEqual([code, String(reason)], [1000, 'done']);
      const [serverCode, serverReason] = (await serverClosed) as [number, Buffer];
      assert.deepEqual([serverCode, String(serverReason)], [1000, 'done']);
      assert.equal(client.readyState, client.CLOSED);
      assert.equal(server.readyState, server.CLOSED);
    });
  });
}
