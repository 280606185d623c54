/**
 * Client behaviours from ws's websocket.test.js, on the real `ws` and on ws-stream/ws with one
 * expectation: what the constructor throws for bad arguments, a redirect loop past `maxRedirects`, a Location on a
 * response that is no redirect, and the answer to the server's Sec-WebSocket-Extensions (open with the extension,
 * or ws's error; one documented difference).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { fakeServer, response101 } from '../support/hostile.js';
import { type Impl, impls } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

function thrown(fn: () => unknown): string {
  try {
    const ws = fn() as Any;
    ws.on('error', () => {});
    ws.terminate();
    return 'returned';
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

/** 'error …' and 'close …' (or 'open …'): how a client of `impl` ended, `options` given. */
function outcome(client: Any): Promise<string[]> {
  const log: string[] = [];
  return new Promise((resolve) => {
    client.on('open', () => {
      log.push(`open extensions='${client.extensions}'`);
      client.terminate();
    });
    client.on('error', (e: Error) => log.push(`error ${e.message}`));
    client.on('close', (code: number) => resolve([...log, `close ${code}`]));
  });
}

async function extensionAnswer(t: TestContext, impl: Impl, answer: string): Promise<string[]> {
  const { url } = await fakeServer(t, (socket, accept) =>
    socket.write(response101(accept, `Sec-WebSocket-Extensions: ${answer}\r\n`)),
  );
  return outcome(new impl.WebSocket(url));
}

const INVALID = 'error Invalid Sec-WebSocket-Extensions header';
const answers: [string, string[]][] = [
  ['permessage-deflate', ["open extensions='permessage-deflate'", 'close 1006']],
  ['permessage-deflate; server_max_window_bits=10', ["open extensions='permessage-deflate'", 'close 1006']],
  ['permessage-deflate; client_max_window_bits=9', ["open extensions='permessage-deflate'", 'close 1006']],
  ['permessage-deflate; server_max_window_bits=16', [INVALID, 'close 1006']],
  ['permessage-deflate; foo', [INVALID, 'close 1006']],
  ['permessage-deflate; server_no_context_takeover=1', [INVALID, 'close 1006']],
  ['x-foo', ['error Server indicated an extension that was not requested', 'close 1006']],
  ['permessage-deflate;;', [INVALID, 'close 1006']],
];

for (const impl of impls) {
  describe(`${impl.name}: the client, as ws's suite checks it`, () => {
    it('bad constructor arguments throw what ws throws', () => {
      assert.deepEqual(
        [
          thrown(() => new impl.WebSocket('ws://x', { protocolVersion: 1000 })),
          thrown(() => new impl.WebSocket('ws://x', ['a', 'a'])),
          thrown(() => new impl.WebSocket('ws://x', ['a b'])),
          thrown(() => new impl.WebSocket('http+x://x')),
          thrown(() => new impl.WebSocket('ws://x#frag')),
          thrown(() => new impl.WebSocket('not a url')),
          thrown(() => new impl.WebSocket('ws+unix:')),
        ],
        [
          'RangeError: Unsupported protocol version: 1000 (supported versions: 8, 13)',
          'SyntaxError: An invalid or duplicated subprotocol was specified',
          'SyntaxError: An invalid or duplicated subprotocol was specified',
          'SyntaxError: The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"',
          'SyntaxError: The URL contains a fragment identifier',
          'SyntaxError: Invalid URL: not a url',
          "SyntaxError: The URL's pathname is empty",
        ],
      );
    });

    it("a redirect loop: 'redirect' up to maxRedirects, then 'Maximum redirects exceeded'", async (t) => {
      const server = http.createServer();
      server.on('upgrade', (_req, socket) => {
        socket.end('HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n');
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      t.after(() => server.close());
      const port = (server.address() as { port: number }).port;
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`, { followRedirects: true, maxRedirects: 2 });
      const redirects: string[] = [];
      client.on('redirect', (url: string) => redirects.push(url));
      assert.deepEqual(await outcome(client), ['error Maximum redirects exceeded', 'close 1006']);
      assert.deepEqual(redirects, [`ws://127.0.0.1:${port}/again`, `ws://127.0.0.1:${port}/again`]);
    });

    it("a Location on a response that is not a 3xx is no redirect: ws's 'Unexpected server response'", async (t) => {
      const server = http.createServer();
      server.on('upgrade', (_req, socket) => {
        socket.end('HTTP/1.1 200 OK\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n');
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      t.after(() => server.close());
      const port = (server.address() as { port: number }).port;
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`, { followRedirects: true, maxRedirects: 2 });
      const redirects: string[] = [];
      client.on('redirect', (url: string) => redirects.push(url));
      assert.deepEqual(await outcome(client), ['error Unexpected server response: 200', 'close 1006']);
      assert.deepEqual(redirects, []);
    });

    it("a connection refused: readyState is CLOSING in the 'error' listener, CLOSED in 'close'", async () => {
      const server = http.createServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as { port: number }).port;
      await new Promise((resolve) => server.close(resolve)); // nothing listens there now
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`);
      const states: string[] = [];
      client.on('error', (err: NodeJS.ErrnoException) => states.push(`error ${err.code} ${client.readyState}`));
      await new Promise<void>((resolve) =>
        client.on('close', () => {
          states.push(`close ${client.readyState}`);
          resolve();
        }),
      );
      assert.deepEqual(states, ['error ECONNREFUSED 2', 'close 3']);
    });

    // A documented difference (doc/ws-compat.md, "Stricter handshakes"): the extension agreed twice.
    it('the server answers "permessage-deflate, permessage-deflate": ws takes the first, ws-stream/ws refuses', async (t) => {
      const got = await extensionAnswer(t, impl, 'permessage-deflate, permessage-deflate');
      assert.deepEqual(
        got,
        impl.name === 'ws' ? ["open extensions='permessage-deflate'", 'close 1006'] : [INVALID, 'close 1006'],
      );
    });

    for (const [answer, expected] of answers) {
      it(`the server answers "Sec-WebSocket-Extensions: ${answer}": ${expected[0]}`, async (t) => {
        assert.deepEqual(await extensionAnswer(t, impl, answer), expected);
      });
    }
  });
}
