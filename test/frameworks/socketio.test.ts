/**
 * Socket.IO on each engine: `new Server(httpServer, { wsEngine: WebSocketServer, transports: ['websocket'] })`,
 * driven by the real socket.io-client over its websocket transport. Connect, acks both ways, binary payloads,
 * rooms, a broadcast to 100 clients through socket.io-adapter's pre-encoded frames, and every disconnect reason.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { WebSocket as WsClient } from 'ws';
import type { Server, Socket as ServerSocket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { engines, nextEvent } from './engines.js';
import { SocketIoServer } from './socketio-server.js';
import { describeEachEngine } from './side-by-side.js';

/** The server side of a Socket.IO connection: its engine.io websocket transport's WebSocket. */
interface TransportSocket {
  _sender: { sendFrame(list: Buffer[], cb?: (err?: Error) => void): void };
  close(code?: number, reason?: string): void;
  terminate(): void;
}
const transportSocket = (s: ServerSocket): TransportSocket =>
  (s.conn as unknown as { transport: { socket: TransportSocket } }).transport.socket;

/** The client side's raw WebSocket (socket.io-client's engine.io websocket transport holds it as `ws`). */
const clientWebSocket = (c: ClientSocket): { terminate(): void } =>
  (c.io.engine as unknown as { transport: { ws: { terminate(): void } } }).transport.ws;

describeEachEngine(engines, 'Socket.IO 4.8', (engine) => {
  let sio: SocketIoServer;
  let io: Server;
  let port: number;

  before(async () => {
    sio = await SocketIoServer.start(engine);
    ({ io, port } = sio);
    io.on('connection', (socket) => {
      socket.on('echo', (...args: unknown[]) => {
        const ack = args.pop() as (...a: unknown[]) => void;
        ack(...args);
      });
      socket.on('join', (room: string, ack: () => void) => {
        void socket.join(room);
        ack();
      });
    });
  });
  after(() => sio.stop());

  /** A connected client, and the server's socket for it. */
  async function client(): Promise<{ c: ClientSocket; s: ServerSocket }> {
    const c = await sio.connect();
    return { c, s: sio.socketOf(c) };
  }

  it('connects over the websocket transport and acks both ways', async () => {
    const { c, s } = await client();
    assert.equal(c.io.engine.transport.name, 'websocket');
    assert.equal(s.conn.transport.name, 'websocket');
    assert.equal(s.handshake.address.replace(/^::ffff:/, ''), '127.0.0.1');
    assert.deepEqual(await c.emitWithAck('echo', 'héllo ✓', { n: 1, list: [1, 2, 3] }), 'héllo ✓');
    const reply = await new Promise<unknown[]>((resolve) =>
      c.emit('echo', 1, 'two', { three: 3 }, (...a: unknown[]) => resolve(a)),
    );
    assert.deepEqual(reply, [1, 'two', { three: 3 }]);
    c.on('question', (q: string, ack: (a: string) => void) => ack(`answer to ${q}`));
    assert.equal(await s.emitWithAck('question', 'life'), 'answer to life');
  });

  it('carries binary payloads both ways (Buffer, ArrayBuffer, typed arrays inside objects)', async () => {
    const { c, s } = await client();
    const bytes = Buffer.alloc(100_000, 0);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
    const arrayBuffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 4096);
    const [a, b, nested] = await new Promise<unknown[]>((resolve) =>
      c.emit('echo', bytes, arrayBuffer, { tag: 'x', data: new Uint8Array([0, 1, 254, 255]) }, (...r: unknown[]) =>
        resolve(r),
      ),
    );
    assert.ok(Buffer.from(a as Uint8Array).equals(bytes));
    assert.ok(Buffer.from(b as ArrayBuffer).equals(bytes.subarray(0, 4096)));
    assert.equal((nested as { tag: string }).tag, 'x');
    assert.deepEqual([...Buffer.from((nested as { data: Uint8Array }).data)], [0, 1, 254, 255]);
    // Server to client: the client receives the same bytes.
    const got = nextEvent(c, 'blob');
    s.emit('blob', bytes.subarray(0, 65_536));
    const blob = (await got) as Uint8Array;
    assert.ok(Buffer.from(blob).equals(bytes.subarray(0, 65_536)));
  });

  it('rooms: a broadcast to 100 clients reaches each exactly once, through the pre-encoded frame path', async () => {
    const pairs = await Promise.all(Array.from({ length: 100 }, () => client()));
    const received = new Map<ClientSocket, unknown[]>();
    const arrived = (c: ClientSocket, until: unknown) =>
      new Promise<void>((resolve) => {
        const list: unknown[] = [];
        received.set(c, list);
        c.on('news', (m: unknown) => {
          list.push(m);
          if (m === until) resolve();
        });
      });
    await Promise.all(pairs.map(({ c }, i) => c.emitWithAck('join', i % 2 ? 'odd' : 'even')));
    await Promise.all(pairs.map(({ c }) => c.emitWithAck('join', 'all')));
    // Count the frames each server-side socket was handed pre-encoded (socket.io-adapter encodes a broadcast once).
    let preEncoded = 0;
    for (const { s } of pairs) {
      const sender = transportSocket(s)._sender;
      assert.equal(typeof sender.sendFrame, 'function', 'the WebSocket exposes _sender.sendFrame');
      const original = sender.sendFrame;
      sender.sendFrame = function (list, cb) {
        preEncoded++;
        return original.call(this, list, cb);
      };
    }
    const done = Promise.all(pairs.map(({ c }) => arrived(c, 'end')));
    io.to('all').emit('news', 'to everyone');
    io.to('odd').emit('news', 'to odd');
    pairs[0]!.s.to('even').emit('news', 'from 0 to the other evens');
    io.except('odd').emit('news', 'not to odd');
    // The last broadcast: a client has everything once it has this (one connection keeps the order).
    io.to('all').emit('news', 'end');
    await done;
    for (const [i, { c }] of pairs.entries()) {
      const expected =
        i % 2
          ? ['to everyone', 'to odd', 'end']
          : i === 0
            ? ['to everyone', 'not to odd', 'end']
            : ['to everyone', 'from 0 to the other evens', 'not to odd', 'end'];
      assert.deepEqual(received.get(c), expected, `client ${i}`);
    }
    assert.equal(preEncoded, 100 + 50 + 49 + 50 + 100);
  });

  it('1000 emits in one go, text and binary interleaved, arrive complete and in order (each way)', async () => {
    const { c, s } = await client();
    const n = 1000;
    const seen: number[] = [];
    const allArrived = new Promise<void>((resolve) =>
      c.on('seq', (i: number, payload: unknown) => {
        const ok = i % 2 ? Buffer.from(payload as Uint8Array).readUInt32BE(0) === i : payload === `text ${i}`;
        seen.push(ok ? i : -i);
        if (seen.length === n) resolve();
      }),
    );
    for (let i = 0; i < n; i++) {
      const b = Buffer.alloc(1024);
      b.writeUInt32BE(i, 0);
      s.emit('seq', i, i % 2 ? b : `text ${i}`);
    }
    await allArrived;
    assert.deepEqual(
      seen,
      Array.from({ length: n }, (_, i) => i),
    );
    // And from the client: every emit is acknowledged with its own value.
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => c.emitWithAck('echo', i)));
    assert.deepEqual(
      acks,
      Array.from({ length: n }, (_, i) => i),
    );
  });

  it("engine.io's headers hooks (initial_headers, headers) reach the upgrade response, through the server's headers event", async () => {
    const onInitial = (headers: Record<string, string>) => {
      headers['x-initial'] = 'first';
    };
    const onHeaders = (headers: Record<string, string>) => {
      headers['x-every'] = 'each';
    };
    io.engine.on('initial_headers', onInitial);
    io.engine.on('headers', onHeaders);
    try {
      // A raw ws client opening the websocket transport, to see the response's headers.
      const raw = new WsClient(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
      const firstMessage = nextEvent<Buffer>(raw, 'message');
      const res = await nextEvent<IncomingMessage>(raw, 'upgrade', 'error');
      assert.equal(res.headers['x-initial'], 'first');
      assert.equal(res.headers['x-every'], 'each');
      // The engine.io open packet follows: the server did open the transport.
      const open = String(await firstMessage);
      assert.match(open, /^0\{"sid":/);
      raw.close();
      await nextEvent(raw, 'close');
    } finally {
      io.engine.off('initial_headers', onInitial);
      io.engine.off('headers', onHeaders);
    }
  });

  it("a message over maxHttpBufferSize (the engine's maxPayload) ends the connection", async () => {
    const { c, s } = await client();
    const server = nextEvent(s, 'disconnect');
    const local = nextEvent(c, 'disconnect');
    c.emit('echo', 'x'.repeat(1_000_001), () => assert.fail('acked a message over the limit'));
    assert.equal(await server, 'transport error');
    assert.equal(await local, 'transport close');
  });

  it('with perMessageDeflate: the extension is negotiated, acks and broadcasts arrive', async () => {
    const zsio = await SocketIoServer.start(engine, { perMessageDeflate: { threshold: 0 } });
    const zio = zsio.io;
    try {
      zio.on('connection', (socket) => socket.on('echo', (m: unknown, ack: (m: unknown) => void) => ack(m)));
      const open = () => zsio.connect();
      const [a, b] = [await open(), await open()];
      const serverSide = zio.of('/').sockets.get(a.id!)!;
      assert.equal((transportSocket(serverSide) as unknown as { extensions: string }).extensions, 'permessage-deflate');
      const big = 'compress me '.repeat(10_000);
      assert.equal(await a.emitWithAck('echo', big), big);
      const got = [nextEvent(a, 'news'), nextEvent(b, 'news')];
      zio.emit('news', big);
      assert.deepEqual(await Promise.all(got), [big, big]);
    } finally {
      await zsio.stop();
    }
  });

  it("disconnect reasons: the client's disconnect()", async () => {
    const { c, s } = await client();
    const server = nextEvent(s, 'disconnect');
    const local = nextEvent(c, 'disconnect');
    c.disconnect();
    assert.equal(await local, 'io client disconnect');
    assert.equal(await server, 'client namespace disconnect');
  });

  it("disconnect reasons: the server's socket.disconnect(true)", async () => {
    const { c, s } = await client();
    const server = nextEvent(s, 'disconnect');
    const remote = nextEvent(c, 'disconnect');
    s.disconnect(true);
    assert.equal(await server, 'server namespace disconnect');
    assert.equal(await remote, 'io server disconnect');
  });

  it("disconnect reasons: the transport closes (the server's WebSocket closed, the client's terminated)", async () => {
    {
      const { c, s } = await client();
      const server = nextEvent(s, 'disconnect');
      const remote = nextEvent(c, 'disconnect');
      transportSocket(s).close(1001, 'going away');
      assert.equal(await server, 'transport close');
      assert.equal(await remote, 'transport close');
    }
    {
      const { c, s } = await client();
      const server = nextEvent(s, 'disconnect');
      const local = nextEvent(c, 'disconnect');
      clientWebSocket(c).terminate();
      assert.equal(await server, 'transport close');
      assert.equal(await local, 'transport close');
    }
  });
});
