/**
 * Server hooks that misbehave, on ws and on ws-stream/ws with the same expectations: a `verifyClient`
 * callback called twice (`true`, then `false`), a `handleProtocols` or 'headers' listener that destroys the
 * socket, and two servers with paths on one HTTP server. ws opens the WebSocket in each case ('connection',
 * then 'close' 1006), and so does ws-stream/ws; where ws then writes an HTTP answer into the open WebSocket,
 * ws-stream/ws ends the connection without it (doc/ws-compat.md, What differs: "A refusal of a socket already
 * upgraded").
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { KEY } from '../support/frames.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

const UPGRADE = (port: number, extra = ''): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** ws's 401 and 400 answers, as its abortHandshake writes them. */
const WS_401 =
  'HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nUnauthorized';
const WS_400 =
  'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\nBad Request';

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

describe('two servers with paths on one HTTP server, ws-stream/ws beside ws', () => {
  for (const impl of impls) {
    it(`${impl.name}: the first opens its path, the second refuses it (1006); other paths get 400`, async (t) => {
      const httpServer = http.createServer();
      t.after(() => {
        httpServer.closeAllConnections();
        httpServer.close();
      });
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
      const port = (httpServer.address() as AddressInfo).port;
      const events: string[] = [];
      const closed: Promise<unknown>[] = [];
      for (const path of ['/a', '/b']) {
        const wss = new impl.WebSocketServer({ server: httpServer, path });
        t.after(() => wss.close());
        wss.on('connection', (ws: Any, req: IncomingMessage) => {
          events.push(`${path}:connection:${req.url}:${ws.readyState}`);
          closed.push(once(ws, 'close').then(([code]) => events.push(`${path}:close:${code}`)));
        });
      }
      const answers: string[] = [];
      for (const path of ['/a', '/b', '/c']) {
        const peer = await rawPeer(t, port, UPGRADE(port).replace('GET / ', `GET ${path} `));
        await peer.waitClosed();
        answers.push(peer.received.toString('latin1').replace(/Sec-WebSocket-Accept: .*\r\n/, ''));
      }
      await Promise.all(closed);
      // Each server refuses what its path does not match, as in ws: the request for the second one's path
      // is refused by the first (ws's documentation shares an HTTP server among noServer servers). For the
      // first one's path, the second refuses the socket the first has opened: ws writes its 400 answer into
      // the WebSocket; ws-stream/ws ends the connection without it.
      assert.deepEqual(events, ['/a:connection:/a:1', '/a:close:1006']);
      assert.deepEqual(answers, [
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n${impl.name === 'ws' ? WS_400 : ''}`,
        WS_400,
        WS_400,
      ]);
    });
  }
});

describe('close() called from a hook of the upgrade in progress, ws-stream/ws beside ws', () => {
  for (const impl of impls) {
    for (const hook of ['handleProtocols', 'headers'] as const) {
      it(`${impl.name}: from ${hook}: the upgrade opens, then 'close' (with the client open on ws)`, async (t) => {
        const httpServer = http.createServer();
        t.after(() => {
          httpServer.closeAllConnections();
          httpServer.close();
        });
        await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
        const port = (httpServer.address() as AddressInfo).port;
        const events: string[] = [];
        const closeServer = (): void => wss.close(() => events.push('close-callback'));
        const wss = new impl.WebSocketServer({
          server: httpServer,
          handleProtocols: (set: Set<string>) => {
            if (hook === 'handleProtocols') closeServer();
            return [...set][0];
          },
        });
        if (hook === 'headers') wss.on('headers', closeServer);
        let ws: Any;
        wss.on('connection', (client: Any) => {
          ws = client;
          events.push('connection');
        });
        const serverClosed = once(wss, 'close').then(() => events.push(`close:${ws.readyState}`));
        const peer = await rawPeer(t, port, UPGRADE(port, 'Sec-WebSocket-Protocol: chat\r\n'));
        await peer.responseHead();
        peer.io.end();
        await serverClosed;
        // ws counts its clients from the 'connection' on, so the server it was asked to close in the hook
        // reports 'close' with this client still open; here it counts the upgrade from its start (doc/ws-compat.md,
        // What differs: "close() called from a hook of an upgrade in progress").
        assert.deepEqual(
          events,
          impl.name === 'ws'
            ? ['connection', 'close-callback', 'close:1']
            : ['connection', 'close-callback', 'close:3'],
        );
      });
    }
  }
});
