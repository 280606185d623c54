/**
 * Gaps found by running ws's own test suite against ws-stream/ws, each run on the real `ws` and on
 * ws-stream/ws with one expectation (see doc/ws-compat.md, "ws's own suite"): the opening handshake.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { computeAccept } from '../../src/index.js';
import { impls } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** An HTTP server on 127.0.0.1 whose upgrades `answer` handles; closed after the test. */
async function upgradeServer(t: TestContext, answer: (req: http.IncomingMessage) => string): Promise<number> {
  const server = http.createServer();
  server.on('upgrade', (req, socket) => {
    socket.on('error', () => {});
    socket.write(answer(req));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** The 'error' message and the 'close' code of a client whose handshake fails. */
async function failure(client: Any): Promise<string[]> {
  const seen: string[] = [];
  client.on('open', () => {
    seen.push('open');
    client.terminate(); // a handshake that should have failed: end it, the assertion says what happened
  });
  client.on('error', (e: Error) => seen.push(`error ${e.message}`));
  // Not events.once: it would reject on the 'error' that comes first.
  const code = await new Promise<number>((resolve) => client.on('close', resolve));
  seen.push(`close ${code}`);
  return seen;
}

describe('wssuite: a Sec-WebSocket-Protocol header that is there but empty', () => {
  for (const impl of impls) {
    it(`${impl.name}: is an invalid subprotocol when some were offered, an unrequested one when none were`, async (t) => {
      const port = await upgradeServer(
        t,
        (req) =>
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${computeAccept(String(req.headers['sec-websocket-key']))}\r\n` +
          'Sec-WebSocket-Protocol:\r\n\r\n',
      );
      const offered = await failure(new impl.WebSocket(`ws://127.0.0.1:${port}`, ['chat', 'superchat']));
      const none = await failure(new impl.WebSocket(`ws://127.0.0.1:${port}`));
      assert.deepEqual(offered, ['error Server sent an invalid subprotocol', 'close 1006']);
      assert.deepEqual(none, ['error Server sent a subprotocol but none was requested', 'close 1006']);
    });
  }
});
