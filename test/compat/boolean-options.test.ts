/**
 * ws takes `skipUTF8Validation` and `allowSynchronousEvents` for their truth (`allowSynchronousEvents` left
 * undefined is its default, true): `skipUTF8Validation: 1` skips the check, `allowSynchronousEvents: 0`, `null` or
 * `''` emits each message on a turn of its own. Run on the real `ws` and on ws-stream/ws with the same
 * expectations, on a server (a raw client's frames), on a client (frames its server writes to its socket) and on a
 * WebSocket given its socket by `setSocket`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { KEY_ACCEPT, text } from '../support/frames.js';
import { type Impl, impls, listen, rawPeer } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: both implementations of ws's API
type Any = any;

/**
 * Records what `receiver` emits for two messages, with its listeners' ticks between them; resolves once both
 * messages and their ticks are in, or at an 'error'.
 */
function recordTurns(receiver: Any, events: string[]): Promise<void> {
  return new Promise((resolve) => {
    receiver.on('message', (data: Buffer, isBinary: boolean) => {
      events.push(`message ${data.toString('hex')} ${isBinary}`);
      process.nextTick(() => {
        events.push(`tick after ${data}`);
        if (events.length === 4) resolve();
      });
    });
    receiver.on('error', (e: Error) => {
      events.push(`error ${e.message}`);
      resolve();
    });
  });
}

/** A server of `impl` with `options`, a raw client that sent `bytes`: the server side's events once it has two. */
async function serverSaw(
  t: TestContext,
  impl: Impl,
  options: Record<string, unknown>,
  bytes: Buffer,
): Promise<string[]> {
  const { wss, port } = await listen(t, impl, options);
  const peer = await rawPeer(t, port);
  const [server] = await once(wss, 'connection');
  const events: string[] = [];
  const seen = recordTurns(server, events);
  await peer.responseHead();
  peer.send(bytes);
  await seen;
  return events;
}

/** A client of `impl` with `options`, its server writing `bytes` to its socket: the client's events. */
async function clientSaw(
  t: TestContext,
  impl: Impl,
  options: Record<string, unknown>,
  bytes: Buffer,
): Promise<string[]> {
  const { wss, port } = await listen(t, impl);
  const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, options);
  t.after(() => client.terminate());
  const events: string[] = [];
  const seen = recordTurns(client, events);
  const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
  server._socket.write(bytes);
  await seen;
  return events;
}

/** A server-side WebSocket of `impl` given its socket by `setSocket(socket, head, options)`, a raw client's frames. */
async function setSocketSaw(t: TestContext, impl: Impl, options: Record<string, unknown>, bytes: Buffer) {
  const events: string[] = [];
  let seen: Promise<void> | undefined;
  const server = net.createServer((socket) =>
    socket.once('data', () => {
      // The request is read: answer it by hand, and hand the socket over.
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${KEY_ACCEPT}\r\n\r\n`,
      );
      const ws = new impl.WebSocket(null, undefined, {});
      seen = recordTurns(ws, events);
      ws.setSocket(socket, Buffer.alloc(0), options);
      t.after(() => ws.terminate());
    }),
  );
  t.after(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const peer = await rawPeer(t, (server.address() as net.AddressInfo).port);
  await peer.responseHead();
  peer.send(bytes);
  await seen;
  return events;
}

const ab = (mask: boolean): Buffer => Buffer.concat([text('a', { mask }), text('b', { mask })]);
const notUtf8 = (mask: boolean): Buffer =>
  Buffer.concat([text(Buffer.from([0xff, 0xfe]), { mask }), text('b', { mask })]);

const sync = ['message 61 false', 'message 62 false', 'tick after a', 'tick after b'];
const turns = ['message 61 false', 'tick after a', 'message 62 false', 'tick after b'];
const skipped = ['message fffe false', 'message 62 false', 'tick after \ufffd\ufffd', 'tick after b'];

for (const impl of impls) {
  describe(`${impl.name}: skipUTF8Validation and allowSynchronousEvents taken for their truth`, () => {
    for (const skipUTF8Validation of [1, 'yes']) {
      it(`skipUTF8Validation ${JSON.stringify(skipUTF8Validation)}: a text message that is not UTF-8 is emitted`, async (t) => {
        assert.deepEqual(await serverSaw(t, impl, { skipUTF8Validation }, notUtf8(true)), skipped, 'server');
        assert.deepEqual(await clientSaw(t, impl, { skipUTF8Validation }, notUtf8(false)), skipped, 'client');
      });
    }
    for (const [allowSynchronousEvents, expected] of [
      [0, turns],
      [null, turns],
      ['', turns],
      [1, sync],
      [undefined, sync],
    ] as const) {
      it(`allowSynchronousEvents ${String(JSON.stringify(allowSynchronousEvents))}: ${expected === turns ? 'a turn per message' : 'both in one turn'}`, async (t) => {
        assert.deepEqual(await serverSaw(t, impl, { allowSynchronousEvents }, ab(true)), expected, 'server');
        assert.deepEqual(await clientSaw(t, impl, { allowSynchronousEvents }, ab(false)), expected, 'client');
        assert.deepEqual(await setSocketSaw(t, impl, { allowSynchronousEvents }, ab(true)), expected, 'setSocket');
      });
    }
  });
}
