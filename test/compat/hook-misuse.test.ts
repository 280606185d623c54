/**
 * Server hooks that misbehave, on ws and on ws-stream/ws with the same expectations: a `verifyClient`
 * callback called twice (`true`, then `false`), and a `handleProtocols` or 'headers' listener that destroys
 * the socket. ws opens the WebSocket in both cases ('connection', then 'close' 1006), and so does
 * ws-stream/ws; where ws then writes its 401 answer into the open WebSocket, ws-stream/ws ends the connection
 * without it (doc/ws-compat.md, What differs: "A `verifyClient` callback called again").
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { KEY } from '../support/frames.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

const UPGRADE = (port: number, extra = ''): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** ws's 401 answer, as its abortHandshake writes it. */
const WS_401 =
  'HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nUnauthorized';

/**
 * A server of `impl` and a raw client that sent `request` and reads until the server ends: the server's
 * events (the WebSocket's with its readyState, the send callback's error, its 'close'), then what the client
 * received after the 101's head.
 */
async function run(
  t: TestContext,
  impl: Impl,
  options: Record<string, unknown>,
  request: (port: number) => string,
  setUp: (wss: Any, events: string[]) => void = () => {},
): Promise<{ events: string[]; head: string; after: string }> {
  const events: string[] = [];
  const { wss, port } = await listen(t, impl, options);
  setUp(wss, events);
  let closed!: Promise<unknown>;
  wss.on('connection', (ws: Any) => {
    events.push(`connection:${ws.readyState}:${ws.protocol}:${ws.extensions}:${wss.clients.size}`);
    closed = once(ws, 'close').then(([code]) => events.push(`close:${code}:${wss.clients.size}`));
    ws.send('from connection', (err: (Error & { code?: string }) | null) =>
      events.push(`send-callback:${err ? `${err.code}:${err.message}` : null}`),
    );
  });
  const peer = await rawPeer(t, port, request(port));
  await peer.waitClosed();
  await closed;
  const text = peer.received.toString('latin1');
  const i = text.indexOf('\r\n\r\n');
  return { events, head: text.slice(0, i).split('\r\n')[0] ?? '', after: text.slice(i + 4) };
}

describe('server hooks that misbehave, ws-stream/ws beside ws', () => {
  for (const impl of impls) {
    it(`${impl.name}: verifyClient calls back true then false: the WebSocket opens, then goes (1006)`, async (t) => {
      const { events, head, after } = await run(
        t,
        impl,
        {
          verifyClient: (_info: unknown, cb: (ok: boolean) => void) => {
            cb(true);
            cb(false);
          },
        },
        (port) => UPGRADE(port),
      );
      assert.deepEqual(events, ['connection:1:::1', 'send-callback:null', 'close:1006:0']);
      assert.equal(head, 'HTTP/1.1 101 Switching Protocols');
      // The message sent from 'connection' went first; ws then writes its 401 into the WebSocket (the peer
      // reads it as a frame with RSV1 set, and fails); ws-stream/ws ends the connection without it.
      assert.equal(after, `\x81\x0ffrom connection${impl.name === 'ws' ? WS_401 : ''}`);
    });

    it(`${impl.name}: verifyClient calls back false once the WebSocket is open: it goes (1006)`, async (t) => {
      let refuse!: (ok: boolean) => void;
      const { events, after } = await run(
        t,
        impl,
        {
          verifyClient: (_info: unknown, cb: (ok: boolean) => void) => {
            refuse = cb;
            cb(true);
          },
        },
        (port) => UPGRADE(port),
        (wss) => wss.on('connection', (ws: Any) => ws.send('before', () => refuse(false))),
      );
      assert.deepEqual(events, ['connection:1:::1', 'send-callback:null', 'close:1006:0']);
      assert.equal(after, `\x81\x06before\x81\x0ffrom connection${impl.name === 'ws' ? WS_401 : ''}`);
    });

    for (const deflate of [false, true]) {
      const extra = `Sec-WebSocket-Protocol: chat\r\n${deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''}`;
      const extensions = deflate ? 'permessage-deflate' : '';
      // With permessage-deflate, ws fails a message that finds the socket gone as one being compressed.
      const sendError = deflate
        ? 'undefined:The socket was closed while data was being compressed'
        : 'ERR_STREAM_DESTROYED:Cannot call write after a stream was destroyed';

      it(`${impl.name}: handleProtocols destroys the socket (deflate ${deflate}): 'connection', then 1006`, async (t) => {
        const { events, head } = await run(
          t,
          impl,
          {
            perMessageDeflate: deflate,
            handleProtocols: (set: Set<string>, req: Any) => {
              req.socket.destroy();
              return [...set][0];
            },
          },
          (port) => UPGRADE(port, extra),
          (wss, seen) => wss.on('headers', () => seen.push('headers')),
        );
        assert.deepEqual(events, [
          'headers',
          `connection:1:chat:${extensions}:1`,
          `send-callback:${sendError}`,
          'close:1006:0',
        ]);
        assert.equal(head, '');
      });

      it(`${impl.name}: a 'headers' listener destroys the socket (deflate ${deflate}): 'connection', then 1006`, async (t) => {
        const { events, head } = await run(
          t,
          impl,
          { perMessageDeflate: deflate },
          (port) => UPGRADE(port, extra),
          (wss, seen) =>
            wss.on('headers', (_lines: string[], req: Any) => {
              seen.push('headers');
              req.socket.destroy();
            }),
        );
        assert.deepEqual(events, [
          'headers',
          `connection:1:chat:${extensions}:1`,
          `send-callback:${sendError}`,
          'close:1006:0',
        ]);
        assert.equal(head, '');
      });
    }
  }
});
