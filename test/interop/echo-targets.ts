/**
 * The echo servers the WHATWG clients (undici's WebSocket, Node's own) are run against: ws-stream's three ways to
 * serve (ws-stream/ws's WebSocketServer, `accept()` over net, the `ws-stream serve` process) and the real ws's
 * WebSocketServer as the control, which comes first.
 */
import http from 'node:http';
import net from 'node:net';
import * as realWs from 'ws';
import * as wsStream from 'ws-stream/ws';
import { type DeflateOptions, WebSocketStream } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';

/** What a server saw of one connection (servers under our control only). */
export interface Seen {
  protocol: string;
  extensions: string;
  /** The close code and reason its API reported. */
  closed: Promise<{ code: number; reason: string }>;
}

export interface Running {
  url: string;
  /** The record of the connection accepted `index`-th (from 0; undefined for serve, which reports nothing). */
  seen(index: number): Promise<Seen> | undefined;
  stop(): Promise<void>;
}

/**
 * A server under test. Those with `commands` echo every message and obey text commands: `cmd:close CODE REASON`
 * closes, `cmd:terminate` drops the connection, `cmd:ping PAYLOAD` pings and reports the pong as `pong PAYLOAD`.
 * `ws-stream serve` only echoes. Each selects `chat`, else `superchat`, else no subprotocol.
 */
export interface Target {
  name: string;
  commands: boolean;
  start(deflate: boolean): Promise<Running>;
}

/** Records in order of acceptance, each waited for by its index. */
export function records(): { add(s: Seen): void; get(index: number): Promise<Seen> } {
  const all: Seen[] = [];
  const waiting = new Map<number, (s: Seen) => void>();
  return {
    add(s) {
      waiting.get(all.length)?.(s);
      all.push(s);
    },
    get: (index) => (index < all.length ? Promise.resolve(all[index]!) : new Promise((r) => waiting.set(index, r))),
  };
}

export const selectProtocol = (offered: string[]) => ['chat', 'superchat'].find((p) => offered.includes(p));

/** The 'connection' handler shared by ws and ws-stream/ws's WebSocketServer (the same code on both). */
function wsApiTarget(name: string, engine: typeof realWs): Target {
  return {
    name,
    commands: true,
    async start(deflate) {
      const server = http.createServer();
      const wss = new engine.WebSocketServer({
        server,
        perMessageDeflate: deflate,
        handleProtocols: (offered) => selectProtocol([...offered]) ?? false,
      });
      const seen = records();
      wss.on('connection', (ws) => {
        const closed = new Promise<{ code: number; reason: string }>((resolve) =>
          ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
        );
        seen.add({ protocol: ws.protocol, extensions: ws.extensions, closed });
        ws.on('message', (data, isBinary) => {
          const command = isBinary ? '' : data.toString();
          if (command.startsWith('cmd:close ')) {
            const [, code, ...reason] = command.split(' ');
            return ws.close(Number(code), reason.join(' '));
          }
          if (command === 'cmd:terminate') return ws.terminate();
          if (command.startsWith('cmd:ping ')) return ws.ping(command.slice('cmd:ping '.length));
          ws.send(data, { binary: isBinary });
        });
        ws.on('pong', (payload) => ws.send(`pong ${payload}`));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return {
        url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        seen: seen.get,
        async stop() {
          for (const ws of wss.clients) ws.terminate();
          await new Promise<void>((resolve) => wss.close(() => resolve()));
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
  };
}

/** ws-stream's own API: `accept()` reading the request from a net socket, with `deflate` as its permessage-deflate option; the same commands. */
export async function startAcceptServer(deflate: boolean | DeflateOptions): Promise<Running> {
  const seen = records();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const ws: WebSocketStream = new WebSocketStream(socket, {
      perMessageDeflate: deflate,
      controlCallback: (kind, payload) => {
        if (kind === 'pong') ws.write(`pong ${payload}`, { binary: false }).catch(() => {});
      },
    });
    ws.accept({ selectProtocol }).then(
      async () => {
        seen.add({
          protocol: ws.protocol,
          extensions: ws.extensions,
          // What the client's close frame said, as ws reports it (closeInfo has our own code when we closed).
          closed: ws.whenClosed().then((info) => ws.closeReason ?? { code: info.code, reason: info.reason }),
        });
        try {
          for await (const m of ws) {
            const command = m.binary ? '' : m.text();
            if (command.startsWith('cmd:close ')) {
              const [, code, ...reason] = command.split(' ');
              ws.close({ code: Number(code), reason: reason.join(' ') }).catch(() => {});
            } else if (command === 'cmd:terminate') socket.destroy();
            else if (command.startsWith('cmd:ping ')) await ws.ping(command.slice('cmd:ping '.length));
            else await ws.write(m.data, { binary: m.binary });
          }
        } catch {
          /* the end is in closeInfo */
        }
      },
      () => {},
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen: seen.get,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const acceptTarget: Target = {
  name: 'accept() over net',
  commands: true,
  start: startAcceptServer,
};

/** `ws-stream serve`, the echo server of the CLI, in its own process. */
const serveTarget: Target = {
  name: 'ws-stream serve',
  commands: false,
  async start(deflate) {
    const server = await startServer(['--protocols', 'chat,superchat', ...(deflate ? ['--deflate'] : [])]);
    return { url: `ws://127.0.0.1:${server.port}`, seen: () => undefined, stop: server.stop };
  },
};

export const targets: Target[] = [
  wsApiTarget('ws (control)', realWs),
  wsApiTarget('ws-stream/ws WebSocketServer', wsStream as unknown as typeof realWs),
  acceptTarget,
  serveTarget,
];
