/**
 * The callbacks of `send`, `ping` and `pong` around `terminate()`, `close()` and the end of the
 * connection: each scenario runs on the real `ws` and on ws-stream/ws, and both must give the same
 * sequence (which argument — null or which error — in which order, never synchronously), and the
 * one written here, which is what ws 8 does (read from its websocket.js and sender.js):
 * - a frame handed to the socket before terminate() gets null (ws writes each frame at once), and
 *   the peer receives it;
 * - a frame behind a write still in flight when the socket is destroyed gets Node's
 *   ERR_STREAM_DESTROYED;
 * - with permessage-deflate, a message still being compressed, and every send, ping or pong
 *   queued behind it, gets "The socket was closed while data was being compressed", before 'close';
 * - after close() or terminate() the callback gets "WebSocket is not open: readyState 2
 *   (CLOSING)", after 'close' "… 3 (CLOSED)", on a later tick, and the bytes count in bufferedAmount.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { compat, type Impl, impls, listen, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** An error as a line: its class, its code if any, its message; or "null". */
function describe_(e: unknown): string {
  if (e === null || e === undefined) return String(e);
  const err = e as Error & { code?: string };
  return `${err.constructor.name}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
}

/** A callback that records `name`, its argument, and the readyState then; it checks it is not called at once. */
function recorder(log: string[], socket: Any) {
  return (name: string) => {
    let returned = false;
    queueMicrotask(() => {
      returned = true;
    });
    const cb = (err: unknown): void => {
      log.push(`${name} ${describe_(err)} [${socket.readyState}]${returned ? '' : ' SYNC'}`);
    };
    return cb;
  };
}

/** A connected client of `impl` (and the server's side of it), with permessage-deflate on both when `deflate`. */
async function connected(t: TestContext, impl: Impl, deflate: boolean): Promise<{ client: Any; server: Any }> {
  const { wss, port } = await listen(t, impl, deflate ? { perMessageDeflate: { threshold: 0 } } : {});
  const serverSide = once(wss, 'connection');
  const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, {
    perMessageDeflate: deflate ? { threshold: 0 } : false,
  });
  t.after(() => client.terminate());
  await once(client, 'open');
  const [server] = await serverSide;
  assert.equal(client.extensions, deflate ? 'permessage-deflate' : '');
  return { client, server };
}

/** Runs `scenario` on both engines: both logs must be `expected`. */
async function bothAgree(
  t: TestContext,
  scenario: (t: TestContext, impl: Impl) => Promise<string[]>,
  expected: string[],
): Promise<void> {
  const got: Record<string, string[]> = {};
  for (const impl of impls) got[impl.name] = await scenario(t, impl);
  assert.deepEqual(got[compat.name], got[ws.name], 'ws-stream/ws does what ws does');
  assert.deepEqual(got[ws.name], expected);
}

const NOT_OPEN_2 = 'Error: WebSocket is not open: readyState 2 (CLOSING)';
const NOT_OPEN_3 = 'Error: WebSocket is not open: readyState 3 (CLOSED)';
const COMPRESSING = 'Error: The socket was closed while data was being compressed';
const DESTROYED = 'Error ERR_STREAM_DESTROYED: Cannot call write after a stream was destroyed';

describe('send/ping/pong callbacks: the real ws and ws-stream/ws agree', () => {
  it('send, ping, pong then terminate(): null each, in order, before a send after it is refused, before close', async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client, server } = await connected(t, impl, false);
        const log: string[] = [];
        const received: string[] = [];
        server.on('message', (d: Buffer) => received.push(String(d)));
        const serverClosed = once(server, 'close');
        const cb = recorder(log, client);
        client.send('last words', cb('send'));
        client.ping('p', cb('ping'));
        client.pong(cb('pong'));
        client.terminate();
        log.push(`terminated [${client.readyState}]`);
        client.send('too late', cb('send after'));
        client.on('close', (code: number) => log.push(`close ${code} [${client.readyState}]`));
        await once(client, 'close');
        await serverClosed;
        // What was sent before terminate() reached the peer.
        log.push(`peer got ${JSON.stringify(received)}`);
        return log;
      },
      [
        'terminated [2]',
        'send null [2]',
        'ping null [2]',
        'pong null [2]',
        `send after ${NOT_OPEN_2} [2]`,
        'close 1006 [3]',
        'peer got ["last words"]',
      ],
    );
  });

  it("the server's last send before terminate() reaches the client: null, then 1006 on both sides", async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client, server } = await connected(t, impl, false);
        const log: string[] = [];
        const cb = recorder(log, server);
        client.on('message', (d: Buffer) => log.push(`client got ${d}`));
        const clientClosed = once(client, 'close');
        server.send('bye', cb('server send'));
        server.terminate();
        const [code] = await once(server, 'close');
        log.push(`server close ${code}`);
        log.push(`client close ${(await clientClosed)[0]}`);
        return log;
      },
      ['server send null [2]', 'server close 1006', 'client got bye', 'client close 1006'],
    );
  });

  it('send then close(): null; sends, pings and pongs after it get CLOSING, after "close" CLOSED', async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client } = await connected(t, impl, false);
        const log: string[] = [];
        const cb = recorder(log, client);
        client.send('x', cb('send'));
        client.close(1000);
        client.send('y', cb('send after close'));
        client.ping('y', cb('ping after close'));
        client.pong(cb('pong after close'));
        const amount = client.bufferedAmount;
        const [code] = await once(client, 'close');
        log.push(`close ${code}`);
        client.send('zz', cb('send after "close"'));
        client.ping(cb('ping after "close"'));
        const last = cb('pong after "close"');
        await new Promise((resolve) => client.pong('z', (e: unknown) => resolve(last(e))));
        // The bytes of the refused sends count in bufferedAmount, as ws counts them.
        log.push(`bufferedAmount +${client.bufferedAmount - amount}`);
        return log;
      },
      [
        'send null [2]',
        `send after close ${NOT_OPEN_2} [2]`,
        `ping after close ${NOT_OPEN_2} [2]`,
        `pong after close ${NOT_OPEN_2} [2]`,
        'close 1000',
        `send after "close" ${NOT_OPEN_3} [3]`,
        `ping after "close" ${NOT_OPEN_3} [3]`,
        `pong after "close" ${NOT_OPEN_3} [3]`,
        'bufferedAmount +3',
      ],
    );
  });

  it('terminate() with a large send still in flight: it gets null, a send behind it ERR_STREAM_DESTROYED', async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client, server } = await connected(t, impl, false);
        // The server reads nothing: 96 MiB cannot all be in the kernel's buffers, so it stays in flight.
        server._socket.pause();
        const log: string[] = [];
        const cb = recorder(log, client);
        client.send(Buffer.alloc(96 << 20), cb('large'));
        // Next turn: the large frame is handed to the socket (ws at once, ws-stream/ws on the next tick).
        await new Promise((resolve) => setImmediate(resolve));
        assert.ok(client.bufferedAmount > 0, 'the large frame is still in flight');
        client.send('small', cb('small'));
        client.ping(cb('ping'));
        client.terminate();
        const [code] = await once(client, 'close');
        log.push(`close ${code}`);
        return log;
      },
      ['large null [2]', `small ${DESTROYED} [2]`, `ping ${DESTROYED} [2]`, 'close 1006'],
    );
  });

  it('a large send, pings, pongs and sends, then terminate(), all in one turn: those behind the large one get ERR_STREAM_DESTROYED', async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client, server } = await connected(t, impl, false);
        // The server reads nothing: the socket takes the first frames and part of the large one.
        server._socket.pause();
        const log: string[] = [];
        const cb = recorder(log, client);
        client.send('first', cb('first'));
        client.ping(cb('ping before'));
        client.send(Buffer.alloc(96 << 20), cb('large'));
        client.ping('p', cb('ping'));
        client.send('no callback');
        client.pong(cb('pong'));
        client.send('small', cb('small'));
        client.terminate();
        const [code] = await once(client, 'close');
        log.push(`close ${code}`);
        return log;
      },
      [
        'first null [2]',
        'ping before null [2]',
        'large null [2]',
        `ping ${DESTROYED} [2]`,
        `pong ${DESTROYED} [2]`,
        `small ${DESTROYED} [2]`,
        'close 1006',
      ],
    );
  });

  it('many sends under 64 KiB, then terminate(), in one turn: those the socket took get null, those after ERR_STREAM_DESTROYED', async (t) => {
    // ws writes each frame at once: the socket takes them until the kernel's buffer is full, the one it took in part
    // stays in flight (null), those behind it never reach it. How much the kernel takes differs between connections:
    // the shape is compared, not the count.
    const shape = (log: string[]) => {
      const tail = log.pop();
      const nulls = log.findIndex((line) => !line.endsWith('null [2]'));
      const rest = new Set(log.slice(nulls).map((line) => line.replace(/^\d+ /, '')));
      return [nulls > 0, [...rest], tail];
    };
    const got: Record<string, unknown> = {};
    for (const impl of impls) {
      const { client, server } = await connected(t, impl, false);
      server._socket.pause();
      const log: string[] = [];
      const cb = recorder(log, client);
      // 32 MiB in 60 KiB messages (each under the size that goes to the socket at once): more than the kernel takes.
      for (let i = 0; i < 512; i++) client.send(Buffer.alloc(60 << 10), cb(`${i}`));
      client.terminate();
      const [code] = await once(client, 'close');
      log.push(`close ${code}`);
      got[impl.name] = shape(log);
    }
    assert.deepEqual(got[ws.name], [true, [`${DESTROYED} [2]`], 'close 1006']);
    assert.deepEqual(got[compat.name], got[ws.name], 'ws-stream/ws does what ws does');
  });

  it('permessage-deflate: terminate() while compressing fails that send and every call behind it, before close', async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client } = await connected(t, impl, true);
        const log: string[] = [];
        const cb = recorder(log, client);
        client.send('foo');
        client.send('bar', cb('bar'));
        client.ping('p', cb('ping'));
        client.send('baz');
        client.pong(cb('pong'));
        client.send('qux', cb('qux'));
        client.terminate();
        client.send('late', cb('send after'));
        const [code] = await once(client, 'close');
        log.push(`close ${code}`);
        return log;
      },
      [
        `send after ${NOT_OPEN_2} [2]`,
        `bar ${COMPRESSING} [2]`,
        `ping ${COMPRESSING} [2]`,
        `pong ${COMPRESSING} [2]`,
        `qux ${COMPRESSING} [2]`,
        'close 1006',
      ],
    );
  });

  it('permessage-deflate: sends then close(): every callback null, in order; the peer gets all, then 1000', async (t) => {
    await bothAgree(
      t,
      async (t, impl) => {
        const { client, server } = await connected(t, impl, true);
        const log: string[] = [];
        const cb = recorder(log, client);
        const received: string[] = [];
        server.on('message', (d: Buffer) => received.push(String(d)));
        const serverClosed = once(server, 'close');
        client.send('a'.repeat(2000), cb('a'));
        client.ping(cb('ping'));
        client.send('b', { compress: false }, cb('b'));
        client.send('c', cb('c'));
        client.close(1000);
        client.close(1000);
        const [code] = await once(client, 'close');
        log.push(`close ${code}`);
        log.push(`peer got ${received.map((m) => m.length).join(',')} then ${(await serverClosed)[0]}`);
        return log;
      },
      ['a null [2]', 'ping null [2]', 'b null [2]', 'c null [2]', 'close 1000', 'peer got 2000,1,1 then 1000'],
    );
  });
});
