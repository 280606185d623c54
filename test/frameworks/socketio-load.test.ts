/**
 * Socket.IO on each engine under load and faults: many clients in one room, broadcasts that socket.io-adapter
 * encodes once (`wsPreEncodedFrame`, handed to every socket's `_sender.sendFrame`), with the real socket.io-client.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import type { Server, Socket as ServerSocket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { engines, nextEvent } from './engines.js';
import { SocketIoServer } from './socketio-server.js';
import { describeEachEngine } from './side-by-side.js';

/** The TCP socket under the server side of a Socket.IO connection (its engine.io websocket transport's WebSocket). */
const rawSocket = (s: ServerSocket): Duplex =>
  (s.conn as unknown as { transport: { socket: { _socket: Duplex } } }).transport.socket._socket;

describeEachEngine(engines, 'Socket.IO 4.8 under load', (engine) => {
  let sio: SocketIoServer;
  let io: Server;

  before(async () => {
    sio = await SocketIoServer.start(engine);
    io = sio.io;
    io.on('connection', (socket) => {
      socket.on('join', (room: string, ack: () => void) => {
        void socket.join(room);
        ack();
      });
    });
  });
  after(() => sio.stop());

  /** `n` connected clients in `room`, each with the server's socket for it. */
  async function room(n: number, name: string): Promise<{ c: ClientSocket; s: ServerSocket }[]> {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const c = await sio.connect();
        await c.emitWithAck('join', name);
        return { c, s: sio.socketOf(c) };
      }),
    );
  }

  it('a broadcast to 100 clients is one frame in memory: every socket is handed the same bytes, not a copy each', async () => {
    const pairs = await room(100, 'many');
    const payload = 'b'.repeat(100_000);
    // The buffers at least as large as the payload that the server hands to the clients' TCP sockets.
    const handed = new Set<Buffer>();
    let writes = 0;
    for (const { s } of pairs) {
      const socket = rawSocket(s);
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= payload.length) {
          handed.add(chunk);
          writes++;
        }
        return write(chunk, ...rest);
      }) as typeof socket.write;
    }
    const arrived = Promise.all(pairs.map(({ c }) => nextEvent<string>(c, 'news')));
    io.to('many').emit('news', payload);
    const got = await arrived;
    assert.ok(
      got.every((m) => m === payload),
      'every client received the payload',
    );
    assert.equal(writes, 100, 'each socket was handed the frame once');
    assert.equal(handed.size, 1, 'the 100 sockets were handed one Buffer between them');
  });

  it('binary broadcasts: each socket is sent a text packet and an attachment in turn, and all share one frame of the attachment', async () => {
    const CLIENTS = 32;
    const SIZE = 60 * 1024;
    const pairs = await room(CLIENTS, 'binary');
    // Where the server's frames that carry an attachment lie: each distinct one is a copy (ws hands its own
    // Buffer to every socket, with a header of its own; ws-stream/ws one frame built for them all).
    const carriers = new Set<string>();
    const buffers: ArrayBufferLike[] = [];
    let writes = 0;
    for (const { s } of pairs) {
      const socket = rawSocket(s);
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= SIZE) {
          if (!buffers.includes(chunk.buffer)) buffers.push(chunk.buffer);
          carriers.add(`${buffers.indexOf(chunk.buffer)}:${chunk.byteOffset}`);
          writes++;
        }
        return write(chunk, ...rest);
      }) as typeof socket.write;
    }
    // Three broadcasts in one turn: socket.io sends each socket the first one's packets, and the others from the
    // callback of that write, text packet and attachment in turn.
    const messages = [
      Buffer.alloc(SIZE, 0x61),
      new Uint8Array(SIZE).fill(0x62),
      new Uint8Array(SIZE).fill(0x63).buffer,
    ];
    const arrived = Promise.all(
      pairs.map(
        ({ c }) =>
          new Promise<Buffer[]>((resolve) => {
            const got: Buffer[] = [];
            c.on('news', (m: Buffer | ArrayBuffer) => {
              got.push(Buffer.from(m as ArrayBuffer));
              if (got.length === messages.length) resolve(got);
            });
          }),
      ),
    );
    for (const m of messages) io.to('binary').emit('news', m);
    const got = await arrived;
    const want = messages.map((m) => Buffer.from(Buffer.from(m instanceof ArrayBuffer ? m : m.buffer)));
    assert.ok(
      got.every((g) => g.length === want.length && g.every((b, i) => b.equals(want[i]!))),
      'every client received the three attachments, in order',
    );
    assert.ok(writes >= CLIENTS, `each socket was handed the attachments (${writes} writes)`);
    assert.ok(
      carriers.size < (messages.length * CLIENTS) / 4,
      `${carriers.size} distinct frames carried ${messages.length} attachments to ${CLIENTS} sockets`,
    );
  });
});
