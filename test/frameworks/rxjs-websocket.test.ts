/**
 * rxjs 7's `webSocket` subject (rxjs/webSocket), given each engine's WebSocket class as its `WebSocketCtor` as its
 * docs show for Node, against the real ws as the server. The subject sets `binaryType`, drives the socket through
 * the `on*` handlers, sends only while `readyState === 1`, closes with the code and reason of an error pushed into it,
 * and ends its subscribers on a close by the CloseEvent's `wasClean` (complete) or not (error). Both engines must show
 * the same: the subprotocol, a message queued before the open, JSON and ArrayBuffer frames through the serializer and
 * deserializer, `multiplex` subscribe and unsubscribe messages, the server's 4001 completing it, `error({ code,
 * reason })` closing with them, a connection dropped without a close frame erroring it with 1006, and a refused
 * upgrade erroring it with the engine's ErrorEvent.
 */
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { webSocket } from 'rxjs/webSocket';
import { WebSocketServer as RealServer, type WebSocket as RealSocket } from 'ws';
import { closeServer, engines, listen } from './engines.js';

/** What the subject carries: JSON objects, or bytes (sent as binary frames, received through `binaryType`). */
type Message = { [key: string]: unknown } | Uint8Array;

for (const engine of engines) {
  describe(`rxjs webSocket on ${engine.name}`, () => {
    it('queues, multiplexes, serializes binary, and ends on clean and unclean closes and refusals', async (t) => {
      const { server, port } = await listen();
      t.after(() => closeServer(server));
      // The real ws: picks a subprotocol, echoes JSON with the subprotocol it chose, answers bytes with bytes, feeds
      // `multiplex` topics, and refuses upgrades to /refused.
      const wss = new RealServer({
        server,
        handleProtocols: (protocols: Set<string>) => (protocols.has('v2.json') ? 'v2.json' : false),
        verifyClient: (info: { req: IncomingMessage }) => info.req.url !== '/refused',
      });
      t.after(() => new Promise<void>((resolve) => wss.close(() => resolve())));
      const sockets: RealSocket[] = [];
      const serverSaw: string[] = [];
      const serverCloses: Promise<string>[] = [];
      wss.on('connection', (ws) => {
        sockets.push(ws);
        serverCloses.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve(`${code} ${reason}`))));
        ws.on('message', (data: Buffer, isBinary) => {
          if (isBinary) {
            serverSaw.push(`bytes ${[...data]}`);
            return ws.send(Buffer.from([...data].reverse()));
          }
          const message = JSON.parse(String(data)) as { sub?: string; unsub?: string; say?: string };
          serverSaw.push(String(data));
          if (message.say) ws.send(JSON.stringify({ echo: message.say, protocol: ws.protocol }));
          if (message.sub) {
            for (const n of [1, 2]) ws.send(JSON.stringify({ topic: message.sub, n }));
          }
        });
      });

      const opens: string[] = [];
      const closes: string[] = [];
      const subject = webSocket<Message>({
        url: `ws://127.0.0.1:${port}/feed`,
        protocol: ['v1.json', 'v2.json'],
        WebSocketCtor: engine.WebSocket as unknown as typeof globalThis.WebSocket,
        binaryType: 'arraybuffer',
        serializer: (value) => (value instanceof Uint8Array ? value : JSON.stringify(value)),
        deserializer: (event) =>
          event.data instanceof ArrayBuffer
            ? new Uint8Array(event.data)
            : (JSON.parse(event.data as string) as Message),
        openObserver: { next: (event) => opens.push(`open ${(event.target as WebSocket).protocol}`) },
        closeObserver: { next: (event) => closes.push(`close ${event.code} ${event.reason} ${event.wasClean}`) },
      });
      const ended = (source = subject) =>
        new Promise<string>((resolve) =>
          source.subscribe({
            error: (err: { type?: string; code?: number; message?: string }) =>
              resolve(`error ${err.type} ${err.code ?? err.message}`),
            complete: () => resolve('complete'),
          }),
        );

      // A subscriber for the whole first connection (the subject closes its socket when its last one leaves).
      const completed = ended();
      // Sent before the open: queued by the subject, sent once open.
      const echoed = firstValueFrom(subject.pipe(filter((m) => !(m instanceof Uint8Array) && 'echo' in m)));
      subject.next({ say: 'héllo' });
      assert.deepEqual(await echoed, { echo: 'héllo', protocol: 'v2.json' });
      const bytes = firstValueFrom(subject.pipe(filter((m) => m instanceof Uint8Array)));
      subject.next(new Uint8Array([1, 2, 3, 250]));
      assert.deepEqual(await bytes, new Uint8Array([250, 3, 2, 1]));

      // multiplex: its subscribe message on subscribe, its unsubscribe message when the take ends it.
      const topic = subject.multiplex(
        () => ({ sub: 'prices' }),
        () => ({ unsub: 'prices' }),
        (m) => !(m instanceof Uint8Array) && m.topic === 'prices',
      );
      assert.deepEqual(await firstValueFrom(topic.pipe(take(2), toArray())), [
        { topic: 'prices', n: 1 },
        { topic: 'prices', n: 2 },
      ]);

      // The server closes with 4001: a clean close, so the subject completes.
      sockets[0]?.close(4001, 'kicked');
      assert.equal(await completed, 'complete');
      assert.equal(await serverCloses[0], '4001 kicked');

      // Subscribing again opens a new socket; an error pushed into the subject closes it with that code and reason.
      const again = ended();
      subject.next({ say: 'again' });
      await firstValueFrom(subject.pipe(filter((m) => !(m instanceof Uint8Array) && m.echo === 'again')));
      subject.error({ code: 4000, reason: 'client says bye' });
      assert.equal(await serverCloses[1], '4000 client says bye');
      assert.equal(await again, 'complete');

      // Dropped without a close frame: not clean, so the subject errors with the CloseEvent.
      const dropped = ended();
      subject.next({ say: 'third' });
      await firstValueFrom(subject.pipe(filter((m) => !(m instanceof Uint8Array) && m.echo === 'third')));
      sockets[2]?.terminate();
      assert.equal(await dropped, 'error close 1006');

      // A refused upgrade: the ErrorEvent reaches the subscriber.
      const refused = webSocket<Message>({
        url: `ws://127.0.0.1:${port}/refused`,
        WebSocketCtor: engine.WebSocket as unknown as typeof globalThis.WebSocket,
        closeObserver: { next: (event) => closes.push(`close ${event.code} ${event.reason} ${event.wasClean}`) },
      });
      assert.equal(await ended(refused), 'error error Unexpected server response: 401');

      assert.deepEqual(opens, ['open v2.json', 'open v2.json', 'open v2.json']);
      assert.deepEqual(closes, [
        'close 4001 kicked true',
        'close 4000 client says bye true',
        'close 1006  false',
        'close 1006  false', // the refused one, after its 'error'
      ]);
      assert.deepEqual(serverSaw, [
        '{"say":"héllo"}',
        'bytes 1,2,3,250',
        '{"sub":"prices"}',
        '{"unsub":"prices"}',
        '{"say":"again"}',
        '{"say":"third"}',
      ]);
    });
  });
}
