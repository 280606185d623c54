/**
 * WebSocket-Node (the `websocket` package: an implementation of its own) in both roles, in process: its
 * `WebSocketClient` and `W3CWebSocket` against every echo target (ws, ws-stream/ws, `accept()` over net,
 * `ws-stream serve`), and ws-stream's clients (the core `connect`, ws-stream/ws's `WebSocket`) against its
 * `WebSocketServer`. It fragments what it sends by default (16 KiB fragments: a 16 MiB message is 1024 frames), so
 * fragments travel both ways: subprotocols, text and binary at the length encodings' boundaries up to 16 MiB, close
 * codes and 123-octet reasons both ways, pings both ways, a drop seen as 1006; its fragments cut inside UTF-8
 * sequences, with pings between, its frames written by its own `sendFrame`; its frame and message limits
 * (`maxReceivedFrameSize`, `maxReceivedMessageSize`) and ws-stream's `readMessageMax` seen as 1009, `maxFragments` as
 * 1008. Pinned faults: W3CWebSocket loses empty text messages, the message limit skips unfragmented messages, close
 * frames over 125 octets are sent. It has no permessage-deflate.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { createRequire } from 'node:module';
import websocket from 'websocket';
import { connect } from '../../src/index.js';
import { records, selectProtocol, targets, type Running } from './echo-targets.js';
import { startEchoServer, startStreamingEcho } from './edge.js';
import {
  OTHER_CODES,
  binary,
  digest,
  echoes,
  exchange,
  inbox,
  clientLimit,
  readFragmented,
  receiveLongClose,
  sendFragmented,
  text,
  wsStreamClients,
  type Client,
  type Conn,
} from './js-peers.js';

const {
  client: WebSocketClient,
  server: WebSocketServer,
  w3cwebsocket: W3CWebSocket,
  frame: WebSocketFrame,
} = websocket;
type Connection = websocket.connection;
type Config = websocket.IClientConfig;

const version = (createRequire(import.meta.url)('websocket/package.json') as { version: string }).version;
const PEER = `WebSocket-Node ${version}`;
/** Its defaults refuse frames over 1 MiB (client) or 64 KiB (server): raised for the 16 MiB messages. */
const LARGE = { maxReceivedFrameSize: 32 * 1024 * 1024, maxReceivedMessageSize: 32 * 1024 * 1024 };

/** A connection's messages, pongs and close, as its API reports them. */
function wrap(conn: Connection, closed: Promise<{ code: number; reason: string }>): Conn {
  const box = inbox();
  const pongs = new Map<string, (p: string) => void>();
  conn.on('message', (m) =>
    box.push(
      m.type === 'utf8' ? { binary: false, data: Buffer.from(m.utf8Data) } : { binary: true, data: m.binaryData },
    ),
  );
  conn.on('pong', (payload) => {
    pongs.get(payload.toString())?.(payload.toString());
  });
  return {
    protocol: conn.protocol ?? '',
    send: (m) => (typeof m === 'string' ? conn.sendUTF(m) : conn.sendBytes(m)),
    next: box.next,
    ping: (payload) =>
      new Promise((r) => {
        pongs.set(payload, r);
        conn.ping(payload);
      }),
    close: (code, reason) => conn.close(code, reason),
    drop: () => conn.socket.destroy(),
    closed,
  };
}

/** Its `WebSocketClient` (the connection API), with `config`. */
function nodeClient(
  config: Config = {},
): Client & { connection(url: string, protocols?: string[]): Promise<Connection> } {
  const connection = (url: string, protocols?: string[]) =>
    new Promise<Connection>((resolve, reject) => {
      const client = new WebSocketClient({ ...LARGE, ...config });
      client.once('connectFailed', reject);
      client.once('connect', resolve);
      client.connect(url, protocols);
    });
  return {
    name: `${PEER} WebSocketClient`,
    needsProtocol: true,
    connection,
    async open(url, protocols) {
      const conn = await connection(url, protocols);
      conn.on('error', () => {});
      const closed = new Promise<{ code: number; reason: string }>((r) =>
        conn.once('close', (code, reason) => r({ code, reason })),
      );
      return wrap(conn, closed);
    },
  };
}

/** Its `W3CWebSocket` (the browser API over the same connection; no ping). */
const w3cClient: Client = {
  name: `${PEER} W3CWebSocket`,
  needsProtocol: true,
  open(url, protocols) {
    const ws = new W3CWebSocket(url, protocols, undefined, undefined, undefined, LARGE);
    const box = inbox();
    ws.onmessage = (e) =>
      box.push(
        typeof e.data === 'string'
          ? { binary: false, data: Buffer.from(e.data) }
          : { binary: true, data: Buffer.from(e.data as ArrayBuffer) },
      );
    let opened = false;
    const closed = new Promise<{ code: number; reason: string }>((r) => {
      ws.onclose = (e) => r({ code: e.code, reason: e.reason });
    });
    return new Promise<Conn>((resolve, reject) => {
      closed.then(() => opened || reject(new Error(`W3CWebSocket could not connect to ${url}`)));
      ws.onopen = () => {
        opened = true;
        resolve({
          protocol: ws.protocol ?? '',
          send: (m) => ws.send(m),
          next: box.next,
          close: (code, reason) => ws.close(code, reason),
          // Its connection, under the W3C API that has no such call.
          drop: () => (ws as unknown as { _connection: Connection })._connection.socket.destroy(),
          closed,
        });
      };
    });
  },
};

/** Its `WebSocketServer` on node:http with the echo targets' commands (`chat`, else `superchat`), with `config`. */
async function startNodeServer(config: Partial<websocket.IServerConfig> = {}): Promise<Running> {
  const server = http.createServer();
  const wss = new WebSocketServer({ httpServer: server, autoAcceptConnections: false, ...LARGE, ...config });
  const seen = records();
  wss.on('request', (request) => {
    const conn = request.accept(selectProtocol(request.requestedProtocols) ?? null, request.origin);
    conn.on('error', () => {});
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      conn.once('close', (code, reason) => r({ code, reason })),
    );
    seen.add({ protocol: conn.protocol ?? '', extensions: '', closed });
    conn.on('pong', (payload) => conn.sendUTF(`pong ${payload}`));
    conn.on('message', (m) => {
      if (m.type === 'binary') return conn.sendBytes(m.binaryData);
      const command = m.utf8Data;
      if (command.startsWith('cmd:close ')) {
        const [, code, ...reason] = command.split(' ');
        return conn.close(Number(code), reason.join(' '));
      }
      if (command === 'cmd:terminate') return conn.socket.destroy();
      if (command.startsWith('cmd:ping ')) return conn.ping(command.slice('cmd:ping '.length));
      conn.sendUTF(command);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen: seen.get,
    async stop() {
      wss.shutDown();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe(`${PEER} clients → ws-stream servers`, () => {
  for (const client of [nodeClient(), w3cClient]) {
    for (const target of targets) {
      it(`${client.name} → ${target.name}`, async (t) => {
        const server = await target.start(false);
        t.after(() => server.stop());
        await exchange(client, server, target.commands, 'chat', { noEmptyText: client === w3cClient });
      });
    }
  }

  // W3CWebSocket 1.0.35 dispatches a text message only `if (message.utf8Data)` (W3CWebSocket.js onMessage): an empty
  // one, a valid message (RFC 6455 §5.6) that WHATWG's API delivers as a MessageEvent, is lost. Pinned: the
  // WebSocketClient under it receives it, W3CWebSocket does not.
  it(`${PEER} W3CWebSocket loses an empty text message (its fault)`, async (t) => {
    const server = await targets[2]!.start(false);
    t.after(() => server.stop());
    const w3c = await w3cClient.open(server.url);
    w3c.send('');
    w3c.send('after');
    assert.deepEqual(await w3c.next(), { binary: false, data: Buffer.from('after') });
    w3c.close(1000, '');
    const plain = await nodeClient().open(server.url);
    plain.send('');
    assert.deepEqual(await plain.next(), { binary: false, data: Buffer.alloc(0) });
    plain.close(1000, '');
  });
});

describe(`ws-stream clients → ${PEER} WebSocketServer`, () => {
  for (const client of wsStreamClients) {
    it(client.name, async (t) => {
      const server = await startNodeServer();
      t.after(() => server.stop());
      // It answers every valid close code with 1000 (WebSocketConnection.js, `respondCloseReasonCode`).
      await exchange(client, server, true, 'chat', { answers1000: true });
    });
  }
});

describe(`messages in fragments with pings between, ${PEER}`, () => {
  it('the ws-stream client sends them (UTF-8 cut inside every sequence): its server echoes each whole', async (t) => {
    const server = await startNodeServer();
    t.after(() => server.stop());
    await sendFragmented(server.url);
  });

  it('the ws-stream server sends them: its WebSocketClient reads each whole and answers every ping', async () => {
    assert.equal((await readFragmented(nodeClient().open)).code, 1000);
  });

  it('its fragments of 7 octets cut UTF-8 sequences: a ws-stream server streams them back as they come, pings between', async () => {
    const server = await startStreamingEcho(false, true);
    const end = server.next();
    const c = await nodeClient({ fragmentationThreshold: 7 }).open(`ws://127.0.0.1:${server.port}/`);
    const messages = [text(40), text(1000), binary(1000, 5)];
    await echoes(c, messages);
    c.close(1000, '');
    const { pieces, pongs, code } = await end;
    assert.equal(code, 1000);
    // readSome hands on what has arrived of a message, fragments that came together joined: pieces vary.
    assert.equal(pongs, pieces - messages.length, 'each ping between the fragments sent back was answered');
  });

  it('it writes pings between its own fragments (sendFrame): a ws-stream server answers each and reads the message whole', async () => {
    const srv = await startEchoServer({});
    const record = srv.next();
    const client = nodeClient();
    const conn = await client.connection(`ws://127.0.0.1:${srv.port}/`);
    const pongs: string[] = [];
    conn.on('pong', (p) => pongs.push(p.toString()));
    const echo = new Promise<string>((r) => conn.once('message', (m) => r(m.type === 'utf8' ? m.utf8Data : '')));
    const message = Buffer.from(text(40));
    const frame = (opcode: number, fin: boolean, payload: Buffer) => {
      // Its constructor takes the connection's mask and header buffers and config (@types/websocket says none).
      const Frame = WebSocketFrame as unknown as new (...args: unknown[]) => websocket.frame;
      const f = new Frame(conn.maskBytes, conn.frameHeader, conn.config);
      Object.assign(f, { opcode, fin, binaryPayload: payload });
      conn.sendFrame(f);
    };
    for (let i = 0; i < message.length; i += 3) {
      const last = i + 3 >= message.length;
      frame(i === 0 ? 0x1 : 0x0, last, message.subarray(i, i + 3));
      if (!last) frame(0x9, true, Buffer.from(`p${i}`));
    }
    assert.equal(await echo, text(40));
    const pings = Math.ceil(message.length / 3) - 1;
    assert.deepEqual(
      pongs,
      Array.from({ length: pings }, (_, k) => `p${k * 3}`),
    );
    conn.close(1000, '');
    const rec = await record;
    assert.deepEqual(rec.messages, [['text', 40, rec.messages[0]![2]]]);
    assert.equal(rec.closeInfo.code, 1000);
  });
});

/** ws-stream's client writes `size` octets in fragments of at most `piece`; resolves with how the connection ended. */
async function sendInPieces(ws: Awaited<ReturnType<typeof connect>>, size: number, piece: number): Promise<void> {
  const data = binary(size, size);
  for (let i = 0; i < size; i += piece)
    await ws.writeSome(data.subarray(i, i + piece), { binary: true, fin: i + piece >= size });
}

describe(`size limits seen as 1009, ${PEER}`, () => {
  it('its server with maxReceivedFrameSize 1000: the ws-stream client sees 1009 for a frame of 1001 octets', async (t) => {
    const server = await startNodeServer({ maxReceivedFrameSize: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url);
    await ws.write(binary(1000, 1));
    assert.equal((await ws.read()).data.length, 1000);
    await ws.write(binary(1001, 2));
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.equal(ws.closeReason?.code, 1009);
    assert.equal((await ws.whenClosed()).initiatedBy, 'remote');
    assert.equal((await (await server.seen(0))?.closed)?.code, 1009);
  });

  it('its server with maxReceivedMessageSize 1000: the ws-stream client sees 1009 for 1001 octets in fragments', async (t) => {
    const server = await startNodeServer({ maxReceivedMessageSize: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url);
    await sendInPieces(ws, 1000, 300);
    assert.equal((await ws.read()).data.length, 1000);
    await sendInPieces(ws, 1001, 300);
    await assert.rejects(ws.read(), { code: 'ERR_WS_CLOSED' });
    assert.equal(ws.closeReason?.code, 1009);
    assert.equal((await (await server.seen(0))?.closed)?.code, 1009);
  });

  // WebSocket-Node 1.0.35 checks maxReceivedMessageSize on continuation frames only (WebSocketConnection.js,
  // `case 0x00`): a message in one frame passes up to maxReceivedFrameSize (64 KiB by default on a server), its
  // message limit unapplied. Not an RFC 6455 rule (§10.4 leaves limits to the implementation), its own. Pinned.
  it('its server with maxReceivedMessageSize 1000 takes an unfragmented message of 5000 octets (its fault)', async (t) => {
    const server = await startNodeServer({ maxReceivedFrameSize: 64 * 1024, maxReceivedMessageSize: 1000 });
    t.after(() => server.stop());
    const ws = await connect(server.url);
    await ws.write(binary(5000, 3));
    assert.equal(digest(Buffer.from((await ws.read()).data)), digest(binary(5000, 3)));
    await ws.close();
    assert.equal((await ws.whenClosed()).code, 1000);
  });

  it('its WebSocketClient with frame and message limits of 1000: the ws-stream server sees 1009', async () => {
    for (const [config, server] of [
      [{ maxReceivedFrameSize: 1000, maxReceivedMessageSize: 1000 }, {}],
      [
        { maxReceivedFrameSize: 32 * 1024 * 1024, maxReceivedMessageSize: 1000 },
        { autoFragment: true, fragmentSize: 300 },
      ],
    ] as const) {
      const srv = await startEchoServer(server);
      const record = srv.next();
      const c = await nodeClient(config).open(`ws://127.0.0.1:${srv.port}/`);
      await echoes(c, [binary(1000, 4)]);
      c.send(binary(1001, 5));
      assert.equal((await c.closed).code, 1009);
      const rec = await record;
      assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code], ['remote', 1009], JSON.stringify(config));
      assert.equal(rec.peerClose?.code, 1009);
    }
  });

  it('the ws-stream server with readMessageMax 1000: its client sees 1009 for 1001 octets in fragments of 300', async () => {
    const srv = await startEchoServer({ readMessageMax: 1000 });
    const record = srv.next();
    const c = await nodeClient({ fragmentationThreshold: 300 }).open(`ws://127.0.0.1:${srv.port}/`);
    await echoes(c, [text(1000)]);
    c.send(text(1001));
    assert.equal((await c.closed).code, 1009);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_MESSAGE_TOO_BIG', 1009]);
    assert.equal(rec.messages.length, 1);
  });

  it('the ws-stream server with maxFragments 100: its client in 1-octet fragments sees 1008 at the 101st', async () => {
    const srv = await startEchoServer({ maxFragments: 100 });
    const record = srv.next();
    const c = await nodeClient({ fragmentationThreshold: 1 }).open(`ws://127.0.0.1:${srv.port}/`);
    await echoes(c, [binary(100, 8)]);
    c.send(binary(101, 9));
    assert.equal((await c.closed).code, 1008);
    const rec = await record;
    assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_TOO_MANY_FRAGMENTS', 1008]);
  });

  it("its server's defaults (frames to 64 KiB, messages to 1 MiB): 1 MiB in one frame is 1009, with autoFragment it passes", async (t) => {
    const server = await startNodeServer({ maxReceivedFrameSize: 0x10000, maxReceivedMessageSize: 0x100000 });
    t.after(() => server.stop());
    const whole = await connect(server.url);
    await whole.write(binary(1024 * 1024, 10));
    await assert.rejects(whole.read(), { code: 'ERR_WS_CLOSED' });
    assert.equal(whole.closeReason?.code, 1009);
    // autoFragment cuts at fragmentSize, 64 KiB by default: each frame within its limit.
    const fragmented = await connect(server.url, { autoFragment: true });
    await fragmented.write(binary(1024 * 1024, 11));
    assert.equal(digest(Buffer.from((await fragmented.read()).data)), digest(binary(1024 * 1024, 11)));
    await fragmented.close();
    assert.equal((await fragmented.whenClosed()).code, 1000);
  });

  it('the ws-stream client with readMessageMax 1000: its server sees 1009 for 1001 octets in fragments of 300', async (t) => {
    const server = await startNodeServer({ fragmentationThreshold: 300 });
    t.after(() => server.stop());
    await clientLimit(server, [6, 7]);
  });
});

// WebSocket-Node 1.0.35 frames a close reason of any length (WebSocketConnection.js sendCloseFrame): 200 octets make
// a close frame of 202, where RFC 6455 §5.5 allows control frames 125 at most. ws-stream fails it with 1002
// (ERR_WS_BAD_CONTROL_SIZE) in both roles; WebSocket-Node then reports the code it sent itself, not the 1002 it got
// (any close frame after its own counts as the answer).
describe(`${PEER} closes with a reason of 200 octets (its fault): ws-stream fails the frame with 1002`, () => {
  const reason = 'x'.repeat(200);
  it('its client → a ws-stream server', async () => {
    const srv = await startEchoServer({});
    const record = srv.next();
    const c = await nodeClient().open(`ws://127.0.0.1:${srv.port}/`);
    c.close(4000, reason);
    assert.deepEqual(await c.closed, { code: 4000, reason });
    const rec = await record;
    assert.deepEqual([rec.closeInfo.error?.code, rec.closeInfo.code], ['ERR_WS_BAD_CONTROL_SIZE', 1002]);
    assert.equal(rec.peerClose, undefined, 'the oversized close frame is not reported as the peer close');
  });
  it('its server → the ws-stream client', async (t) => {
    const server = await startNodeServer();
    t.after(() => server.stop());
    assert.deepEqual(await receiveLongClose(server, reason), { code: 4000, reason });
  });
});

it(`the ws-stream server closes with ${OTHER_CODES.join(', ')}: ${PEER} reports each and answers it`, async (t) => {
  const server = await targets.find((x) => x.name === 'accept() over net')!.start(false);
  t.after(() => server.stop());
  for (const [index, code] of OTHER_CODES.entries()) {
    const c = await nodeClient().open(server.url);
    c.send(`cmd:close ${code} why`);
    assert.deepEqual(await c.closed, { code, reason: 'why' });
    // It answers every valid code with 1000 (WebSocketConnection.js, `respondCloseReasonCode`).
    assert.equal((await (await server.seen(index))?.closed)?.code, 1000, `${code} answered`);
  }
});
