/**
 * A small server written here that speaks the wire format of Phoenix channels (the "2.0.0" serializer: JSON arrays
 * `[join_ref, ref, topic, event, payload]` in text frames, and binary frames for ArrayBuffer payloads: a push is
 * kind 0, a reply kind 1, a broadcast kind 2; Supabase Realtime adds a user broadcast push, kind 3, and a user
 * broadcast, kind 4, whose payload is JSON or bytes), on the real ws, for the Phoenix-protocol clients (phoenix, and
 * @supabase/realtime-js over its fork of it) to run against with the engine under test as their transport. It answers
 * heartbeats itself and hands every other message to the test's handler. It compresses every message it sends when
 * the client offers permessage-deflate (as a Phoenix endpoint with `compress: true` does).
 */
import http from 'node:http';
import type net from 'node:net';
import * as ws from 'ws';

export interface PhoenixMessage {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  /** A JSON value, or the bytes of a binary push. */
  payload: unknown;
}

/** One client connection, as the handler sees it. */
export interface PhoenixConnection {
  /** The query of the upgrade (vsn, and the client's params). */
  params: URLSearchParams;
  socket: ws.WebSocket;
  /** A text frame `[join_ref, ref, topic, event, payload]`. */
  push(message: PhoenixMessage): void;
  /** The reply to `to`: `phx_reply` with `{ status, response }`. */
  reply(to: PhoenixMessage, status: string, response?: unknown): void;
  /** A binary reply to `to` (kind 1): the status in the header, `response` as the payload. */
  replyBinary(to: PhoenixMessage, status: string, response: Uint8Array): void;
  /** A binary broadcast (kind 2) on `topic`. */
  broadcastBinary(topic: string, event: string, payload: Uint8Array): void;
  /** Supabase's user broadcast (kind 4) of `payload`: JSON when it is not bytes. */
  userBroadcast(topic: string, event: string, payload: unknown): void;
}

export interface PhoenixServer {
  /** The endpoint to give a client (without `/websocket`, which the clients append). */
  url: string;
  /** Every connection's close as `code reason`, in order. */
  closes: string[];
  /** The connections so far, in order. */
  connections: PhoenixConnection[];
  /** Resolves when there are `count` connections (in all). */
  connected(count: number): Promise<PhoenixConnection>;
  /** Resolves when `count` connections (in all) have closed. */
  closed(count: number): Promise<string[]>;
  close(): Promise<void>;
}

const text = new TextEncoder();
const utf8 = new TextDecoder();

/** The fields of a binary frame's header: each string's length byte, then the strings, then the payload. */
function binaryFrame(kind: number, fields: string[], payload: Uint8Array): Buffer {
  const encoded = fields.map((f) => text.encode(f));
  return Buffer.concat([Buffer.from([kind, ...encoded.map((e) => e.length)]), ...encoded, payload]);
}

/** The strings of a binary frame whose header has their lengths at `data[1..count]`, and what follows them. */
function binaryFields(data: Buffer, count: number, start: number): { fields: string[]; rest: Uint8Array } {
  let offset = start;
  const fields = [...data.subarray(1, 1 + count)].map((size) => {
    const s = utf8.decode(data.subarray(offset, offset + size));
    offset += size;
    return s;
  });
  return { fields, rest: new Uint8Array(data.subarray(offset)) };
}

/**
 * A client's binary frame: a push (kind 0: the sizes of join_ref, ref, topic and event), or Supabase's user broadcast
 * push (kind 3: the sizes of join_ref, ref, topic, user event and metadata, then the encoding, 1 for JSON), which
 * becomes the `broadcast` message its JSON form would be.
 */
function decodeBinaryPush(data: Buffer): PhoenixMessage {
  if (data[0] === 0) {
    const { fields, rest } = binaryFields(data, 4, 5);
    const [joinRef, ref, topic, event] = fields;
    return { joinRef, ref, topic, event, payload: rest };
  }
  if (data[0] === 3) {
    const { fields, rest } = binaryFields(data, 5, 7);
    const [joinRef, ref, topic, event, metadata] = fields;
    const payload = data[6] === 1 ? JSON.parse(utf8.decode(rest)) : rest;
    const meta = metadata ? { meta: JSON.parse(metadata) } : {};
    return { joinRef, ref, topic, event: 'broadcast', payload: { type: 'broadcast', event, payload, ...meta } };
  }
  throw new Error(`binary frame of kind ${data[0]}, not a push`);
}

/** Starts the server on 127.0.0.1 at a free port; `handle` gets every message but heartbeats. */
export async function startPhoenixServer(
  path: string,
  handle: (connection: PhoenixConnection, message: PhoenixMessage) => void,
): Promise<PhoenixServer> {
  const httpServer = http.createServer();
  const wss = new ws.WebSocketServer({
    server: httpServer,
    path: `${path}/websocket`,
    perMessageDeflate: { threshold: 0 },
  });
  const connections: PhoenixConnection[] = [];
  const closes: string[] = [];
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const until = <T>(ready: () => T | undefined): Promise<T> =>
    new Promise((resolve) => {
      const check = () => {
        const value = ready();
        if (value !== undefined) resolve(value);
        else waiters.push(check);
      };
      check();
    });

  wss.on('connection', (socket, req) => {
    const connection: PhoenixConnection = {
      params: new URL(req.url ?? '/', 'http://x').searchParams,
      socket,
      push: (m) => socket.send(JSON.stringify([m.joinRef, m.ref, m.topic, m.event, m.payload])),
      reply: (to, status, response = {}) =>
        connection.push({ ...to, event: 'phx_reply', payload: { status, response } }),
      replyBinary: (to, status, response) =>
        socket.send(binaryFrame(1, [to.joinRef ?? '', to.ref ?? '', to.topic, status], response)),
      broadcastBinary: (topic, event, payload) => socket.send(binaryFrame(2, [topic, event], payload)),
      userBroadcast: (topic, event, payload) => {
        const json = !(payload instanceof Uint8Array);
        const bytes = json ? text.encode(JSON.stringify(payload)) : payload;
        const frame = binaryFrame(4, [topic, event, ''], bytes);
        // The encoding byte goes after the three sizes.
        socket.send(Buffer.concat([frame.subarray(0, 4), Buffer.from([json ? 1 : 0]), frame.subarray(4)]));
      },
    };
    connections.push(connection);
    socket.on('message', (data: Buffer, isBinary) => {
      let message: PhoenixMessage;
      if (isBinary) message = decodeBinaryPush(data);
      else {
        const [joinRef, ref, topic, event, payload] = JSON.parse(String(data)) as [
          string | null,
          string | null,
          string,
          string,
          unknown,
        ];
        message = { joinRef, ref, topic, event, payload };
      }
      if (message.topic === 'phoenix' && message.event === 'heartbeat') connection.reply(message, 'ok');
      else handle(connection, message);
    });
    socket.on('close', (code, reason) => {
      closes.push(`${code} ${String(reason)}`);
      wake();
    });
    wake();
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}${path}`,
    closes,
    connections,
    connected: (count) => until(() => connections[count - 1]),
    closed: (count) => until(() => (closes.length >= count ? closes : undefined)),
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}
