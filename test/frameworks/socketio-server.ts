/** A Socket.IO server on one engine for the Socket.IO tests, and the socket.io-client connections made to it. */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { Server, type ServerOptions, type Socket as ServerSocket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { closeServer, type Engine, listen, nextEvent } from './engines.js';

/** `new Server(httpServer, { wsEngine, transports: ['websocket'] })` on 127.0.0.1 at a free port. */
export class SocketIoServer {
  private readonly clients: ClientSocket[] = [];

  private constructor(
    readonly io: Server,
    readonly port: number,
    private readonly httpServer: http.Server,
  ) {}

  static async start(engine: Engine, options: Partial<ServerOptions> = {}): Promise<SocketIoServer> {
    const { server, port } = await listen();
    const io = new Server(server, { wsEngine: engine.WebSocketServer, transports: ['websocket'], ...options });
    return new SocketIoServer(io, port, server);
  }

  /** A new client connected over the websocket transport (no reconnection), disconnected by `stop()`. */
  async connect(): Promise<ClientSocket> {
    const c = connect(`http://127.0.0.1:${this.port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    });
    this.clients.push(c);
    await nextEvent(c, 'connect', 'connect_error');
    return c;
  }

  /** The server's socket for the connected client `c`. */
  socketOf(c: ClientSocket): ServerSocket {
    const s = this.io.of('/').sockets.get(c.id!);
    assert.ok(s, 'the server knows the client by the id the client was given');
    return s;
  }

  /** Disconnects the clients, then closes the Socket.IO server and its HTTP server. */
  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
    await closeServer(this.httpServer);
  }
}
