/**
 * partysocket 1.3 (PartyKit's reconnecting client), given each engine's WebSocket class as its `WebSocket` option as
 * its docs show for Node, against the real ws as the server. Both engines must show the same: the room URL with its
 * `_pk` and query, a message sent before the open delivered after it, text and binary (a Blob: partysocket's default
 * binaryType) echoed, and after each way the server drops it (terminate: 1006; close 1001 and 1011 with reasons) a
 * reconnect that sends what was queued while it was down, in order; refused upgrades retried with a growing retry
 * count until one is let through; an upgrade left unanswered ended by its connectionTimeout (close() while
 * CONNECTING) and retried; and `close()` during a backoff wait stopping it for good.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import PartySocket from 'partysocket';
import { WebSocketServer as RealServer, type WebSocket as RealSocket } from 'ws';
import { closeServer, engines, listen } from './engines.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(engines, 'partysocket', (engine) => {
  it('queues, reconnects after drops and refusals with backoff, and stops on close()', async (t) => {
    const { server, port } = await listen();
    t.after(() => closeServer(server));
    // The real ws as the server: it echoes, records each connection's URL and messages, and refuses upgrades while
    // `refuse` is above zero.
    let refuse = 0;
    const refused: string[] = [];
    // While `hold` is above zero, an upgrade request is left unanswered (partysocket's connectionTimeout ends it).
    let hold = 0;
    const held: Promise<string>[] = [];
    server.on('upgrade', (req, socket, head) => {
      if (hold === 0) return wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      hold--;
      // Read (and drop) what comes, to see the client's end of the connection.
      held.push(
        new Promise((resolve) =>
          socket.once('end', () => {
            socket.destroy();
            resolve('ended by the client');
          }),
        ),
      );
      socket.resume();
    });
    const connections: { url: string; got: string[]; ws: RealSocket }[] = [];
    const wss = new RealServer({
      noServer: true,
      verifyClient: (_info: { req: IncomingMessage }, done: (ok: boolean, status?: number) => void) => {
        if (refuse === 0) return done(true);
        refuse--;
        refused.push('503');
        done(false, 503);
      },
    });
    t.after(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const serverClosed: Promise<string>[] = [];
    wss.on('connection', (ws, req) => {
      const got: string[] = [];
      connections.push({ url: (req.url ?? '').replace(/_pk=[0-9a-f-]{36}/, '_pk=<id>'), got, ws });
      serverClosed.push(
        new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${code} ${String(reason)}`))),
      );
      ws.on('message', (data: Buffer, isBinary) => {
        got.push(isBinary ? `bin ${[...data]}` : String(data));
        ws.send(isBinary ? data : `echo:${data}`, { binary: isBinary });
      });
    });

    // Its WebSocket option: the engine's class, counting what partysocket constructs.
    let constructed = 0;
    class Counted extends engine.WebSocket {
      constructor(...args: ConstructorParameters<typeof engine.WebSocket>) {
        super(...args);
        constructed++;
      }
    }
    // The query function runs after each backoff wait, just before partysocket decides whether to connect.
    let queried = 0;
    let onQuery: (() => void) | undefined;
    const ps = new PartySocket({
      host: `127.0.0.1:${port}`,
      room: 'lobby',
      query: async () => {
        queried++;
        onQuery?.();
        return { token: 'secret' };
      },
      WebSocket: Counted,
      minReconnectionDelay: 5,
      maxReconnectionDelay: 80,
      reconnectionDelayGrowFactor: 2,
      // Longer than the test: the retry count is never reset by uptime, so it only grows.
      minUptime: 600_000,
      // The time an unanswered upgrade is given (a partysocket timer: the test waits for its error event).
      connectionTimeout: 2500,
    });

    const events: unknown[] = [];
    const received: unknown[] = [];
    let wake: { count: number; resolve: () => void } | undefined;
    const messages = (count: number) =>
      received.length >= count ? Promise.resolve() : new Promise<void>((resolve) => (wake = { count, resolve }));
    const nextOpen = () => once(ps, 'open');
    ps.addEventListener('open', () => {
      events.push(['open', ps.retryCount]);
    });
    ps.addEventListener('error', (e) => {
      // The engine's message (ws's for a refused upgrade), or partysocket's own TIMEOUT.
      events.push(['error', ps.retryCount, (e as ErrorEvent).message]);
    });
    ps.addEventListener('close', (e) => {
      const { code, reason } = e as CloseEvent;
      events.push(['close', code, reason]);
      // Sent while it is down: queued, then sent once it has reconnected.
      if (code !== 1000) ps.send(`down after ${code}`);
    });
    ps.addEventListener('message', async (e) => {
      const data = (e as MessageEvent).data as unknown;
      // Binary arrives as a Blob (partysocket's default binaryType), read before the next message is counted.
      const index = received.push(undefined) - 1;
      received[index] = data instanceof Blob ? `blob ${[...new Uint8Array(await data.arrayBuffer())]}` : data;
      if (wake && received.filter((m) => m !== undefined).length >= wake.count) wake.resolve();
    });

    ps.send('before open');
    await nextOpen();
    await messages(1);
    ps.send(new Uint8Array([1, 2, 250]));
    ps.send('héllo');
    await messages(3);

    // The server drops it three ways; each time it reconnects and sends what was queued meanwhile.
    for (const drop of [
      (ws: RealSocket) => ws.terminate(),
      (ws: RealSocket) => ws.close(1001, 'going away'),
      (ws: RealSocket) => ws.close(1011, 'oops'),
    ]) {
      const reopened = nextOpen();
      drop(connections[connections.length - 1].ws);
      await reopened;
      await messages(received.length + 1);
    }

    // The next three upgrades are refused (503): an error for each, retried with a growing count, then let through.
    refuse = 3;
    const reopened = nextOpen();
    connections[connections.length - 1].ws.terminate();
    await reopened;
    await messages(received.length + 1);

    // An upgrade left unanswered: partysocket's connectionTimeout closes the connecting WebSocket (close() while
    // CONNECTING aborts the request: the server sees its socket closed), reports TIMEOUT and connects again.
    hold = 1;
    const afterTimeout = nextOpen();
    connections[connections.length - 1].ws.terminate();
    await afterTimeout;
    await messages(received.length + 1);
    const heldSockets = await Promise.all(held);

    // close() during a backoff wait: the wait ends (the query function runs), and nothing is constructed after it.
    const closedDuringWait = new Promise<void>((resolve) => {
      const f = () => {
        ps.removeEventListener('close', f);
        ps.close(1000, 'done');
        resolve();
      };
      ps.addEventListener('close', f);
    });
    const waitEnded = new Promise<void>((resolve) => (onQuery = resolve));
    const queriedBefore = queried;
    const constructedBefore = constructed;
    connections[connections.length - 1].ws.close(1001, 'last');
    await closedDuringWait;
    await waitEnded;
    await new Promise((resolve) => setImmediate(resolve));
    const stopped = {
      queried: queried - queriedBefore,
      constructed: constructed - constructedBefore,
      readyState: ps.readyState,
      shouldReconnect: ps.shouldReconnect,
    };

    assert.deepEqual(
      { events, received, refused, heldSockets, stopped },
      {
        events: [
          ['open', 0],
          ['close', 1006, 'unknown reason'],
          ['open', 1],
          ['close', 1001, 'going away'],
          ['open', 2],
          ['close', 1011, 'oops'],
          ['open', 3],
          ['close', 1006, 'unknown reason'],
          // A refused upgrade: partysocket reports its own close (1000) and then the error, and retries.
          ['close', 1000, 'unknown reason'],
          ['error', 5, 'Unexpected server response: 503'],
          ['close', 1000, 'unknown reason'],
          ['error', 6, 'Unexpected server response: 503'],
          ['close', 1000, 'unknown reason'],
          ['error', 7, 'Unexpected server response: 503'],
          ['open', 7],
          ['close', 1006, 'unknown reason'],
          ['close', 1000, 'timeout'],
          ['error', 9, 'TIMEOUT'],
          ['open', 9],
          ['close', 1001, 'last'],
        ],
        received: [
          'echo:before open',
          'blob 1,2,250',
          'echo:héllo',
          'echo:down after 1006',
          'echo:down after 1001',
          'echo:down after 1011',
          'echo:down after 1006',
          'echo:down after 1006',
        ],
        refused: ['503', '503', '503'],
        heldSockets: ['ended by the client'],
        stopped: { queried: 1, constructed: 0, readyState: 3, shouldReconnect: false },
      },
    );
    assert.deepEqual(
      connections.map((c) => [c.url, c.got]),
      [
        ['/parties/main/lobby?_pk=<id>&token=secret', ['before open', 'bin 1,2,250', 'héllo']],
        ['/parties/main/lobby?_pk=<id>&token=secret', ['down after 1006']],
        ['/parties/main/lobby?_pk=<id>&token=secret', ['down after 1001']],
        ['/parties/main/lobby?_pk=<id>&token=secret', ['down after 1011']],
        ['/parties/main/lobby?_pk=<id>&token=secret', ['down after 1006']],
        ['/parties/main/lobby?_pk=<id>&token=secret', ['down after 1006']],
      ],
    );
    // The last connection was closed by the server (1001), and the client answered it.
    assert.deepEqual(await Promise.all(serverClosed), [
      '1006 ',
      '1001 going away',
      '1011 oops',
      '1006 ',
      '1006 ',
      '1001 last',
    ]);
  });
});
