/**
 * Each engine's client against each engine's server (ws → ws-stream/ws, ws-stream/ws → ws, and each with itself),
 * with and without permessage-deflate: UTF-8 text, a 200 KB binary message (compressed on the wire when deflate is
 * on, measured by the bytes the server's socket read), pings and pongs with payloads both ways, close code and reason
 * both ways.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import type net from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { engines, nextEvent } from './engines.js';

/** 200 KB that deflate shrinks well (a 251-byte cycle), so the wire size tells whether it was compressed. */
const BLOB = Buffer.alloc(200_000);
for (let i = 0; i < BLOB.length; i++) BLOB[i] = (i % 251) ^ 0x5a;
const TEXT = 'héllo wörld ✓ 𝄞';

/** The next message and its binary flag. */
const nextMessage = (ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> =>
  new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
const nextClose = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
  new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));

for (const serverEngine of engines)
  for (const clientEngine of engines)
    for (const deflate of [false, true])
      describe(`${clientEngine.name} client → ${serverEngine.name} server, permessage-deflate ${deflate ? 'on' : 'off'}`, () => {
        let wss: WebSocketServer;
        let url: string;
        const clients: WebSocket[] = [];

        before(async () => {
          wss = new serverEngine.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate });
          await nextEvent(wss, 'listening', 'error');
          url = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`;
        });
        after(async () => {
          for (const c of clients) c.terminate();
          await new Promise<void>((resolve) => wss.close(() => resolve()));
        });

        /** An open client, and the server's side of it with the socket under it. */
        async function pair(): Promise<{ client: WebSocket; server: WebSocket; socket: net.Socket }> {
          const connection = new Promise<[WebSocket, http.IncomingMessage]>((resolve) =>
            wss.once('connection', (ws, req) => resolve([ws, req])),
          );
          const client = new clientEngine.WebSocket(url, { perMessageDeflate: deflate });
          clients.push(client);
          await nextEvent(client, 'open', 'error');
          const [server, req] = await connection;
          server.on('message', (data, isBinary) => server.send(data, { binary: isBinary }));
          return { client, server, socket: req.socket as net.Socket };
        }

        it('negotiates the extension (or not) on both sides', async () => {
          const { client, server } = await pair();
          const expected = deflate ? 'permessage-deflate' : '';
          assert.equal(client.extensions, expected);
          assert.equal(server.extensions, expected);
          assert.equal(client.readyState, clientEngine.WebSocket.OPEN);
          assert.equal(server.readyState, serverEngine.WebSocket.OPEN);
        });

        it('echoes UTF-8 text and a 200 KB binary message', async () => {
          const { client, socket } = await pair();
          let back = nextMessage(client);
          client.send(TEXT);
          assert.deepEqual(await back, { data: Buffer.from(TEXT), isBinary: false });
          const read = socket.bytesRead;
          back = nextMessage(client);
          client.send(BLOB);
          const { data, isBinary } = await back;
          assert.equal(isBinary, true);
          assert.ok(data.equals(BLOB), 'the same 200 KB came back');
          const onWire = socket.bytesRead - read;
          if (deflate) assert.ok(onWire < BLOB.length / 4, `compressed: ${onWire} bytes on the wire`);
          else assert.ok(onWire > BLOB.length, `not compressed: ${onWire} bytes on the wire`);
        });

        it('ping and pong with payloads, both ways (each side answers the other’s ping itself)', async () => {
          const { client, server } = await pair();
          const pong = nextEvent<Buffer>(client, 'pong');
          const pinged = nextEvent<Buffer>(server, 'ping');
          client.ping('from the client');
          assert.equal(String(await pinged), 'from the client');
          assert.equal(String(await pong), 'from the client');
          const serverPong = nextEvent<Buffer>(server, 'pong');
          const clientPinged = nextEvent<Buffer>(client, 'ping');
          server.ping(Buffer.from([1, 2, 3]));
          assert.deepEqual([...(await clientPinged)], [1, 2, 3]);
          assert.deepEqual([...(await serverPong)], [1, 2, 3]);
        });

        it('createWebSocketStream on both sides: 1 MB piped to an echoing duplex and back, then ended', async () => {
          const { client, server } = await pair();
          server.removeAllListeners('message');
          const serverSide = serverEngine.createWebSocketStream(server);
          const serverErrors: string[] = [];
          serverSide.on('error', (err: NodeJS.ErrnoException) => serverErrors.push(String(err.code)));
          serverSide.pipe(serverSide); // echo; ending our side when the client ends its own
          const clientSide = clientEngine.createWebSocketStream(client);
          const chunks: Buffer[] = [];
          let echoed = 0;
          // Ended once everything came back: ending earlier races the server's echo of the last
          // chunks against our close frame (its duplex then writes to a closing WebSocket, on ws too).
          let backResolve: () => void = () => {};
          const allBack = new Promise<void>((resolve) => {
            backResolve = resolve;
          });
          const ended = new Promise<void>((resolve, reject) => {
            clientSide.on('data', (d: Buffer) => {
              chunks.push(d);
              echoed += d.length;
              if (echoed === 16 * 65_536) backResolve();
            });
            clientSide.once('end', resolve);
            clientSide.once('error', reject);
          });
          const sent: Buffer[] = [];
          for (let i = 0; i < 16; i++) {
            const part = Buffer.from(BLOB.subarray(0, 65_536).map((b) => b ^ i));
            sent.push(part);
            clientSide.write(part);
          }
          await allBack;
          clientSide.end();
          await ended;
          assert.deepEqual(serverErrors, []);
          assert.equal(chunks.length, sent.length, 'one chunk per message');
          assert.ok(Buffer.concat(chunks).equals(Buffer.concat(sent)), 'the same bytes came back, in order');
        });

        it('messages sent before the peer’s close frame arrived go out before the close answer', async () => {
          const { client, server } = await pair();
          server.removeAllListeners('message');
          const sendErrors: string[] = [];
          server.on('message', (data, isBinary) =>
            server.send(
              data,
              { binary: isBinary },
              (err) => err && sendErrors.push(String((err as NodeJS.ErrnoException).code)),
            ),
          );
          let received = 0;
          client.on('message', () => received++);
          const closed = nextClose(client);
          for (let i = 0; i < 16; i++) client.send(BLOB.subarray(i * 1000, i * 1000 + 65_536));
          client.close(1000);
          assert.equal((await closed).code, 1000);
          assert.deepEqual({ received, sendErrors }, { received: 16, sendErrors: [] });
        });

        it('a closing client still gets every message the server sent before its close answer', async () => {
          const { client } = await pair();
          let received = 0;
          client.on('message', () => received++);
          const closed = nextClose(client);
          let written = 0;
          for (let i = 0; i < 16; i++)
            client.send(BLOB.subarray(i * 1000, i * 1000 + 65_536), () => {
              if (++written === 16) client.close(1000); // all 16 are on the wire; their echoes are on their way
            });
          assert.equal((await closed).code, 1000);
          assert.equal(received, 16);
        });

        it('close code and reason, the client closing: the server sees both, the client its code back', async () => {
          const { client, server } = await pair();
          const atServer = nextClose(server);
          const atClient = nextClose(client);
          client.close(4000, 'bye ✓');
          assert.equal(client.readyState, clientEngine.WebSocket.CLOSING);
          assert.deepEqual(await atServer, { code: 4000, reason: 'bye ✓' });
          assert.equal((await atClient).code, 4000);
          assert.equal(client.readyState, clientEngine.WebSocket.CLOSED);
        });

        it('close code and reason, the server closing: the client sees both, the server its code back', async () => {
          const { client, server } = await pair();
          const atServer = nextClose(server);
          const atClient = nextClose(client);
          server.close(4001, 'server says bye');
          assert.equal(server.readyState, serverEngine.WebSocket.CLOSING);
          assert.deepEqual(await atClient, { code: 4001, reason: 'server says bye' });
          assert.equal((await atServer).code, 4001);
          assert.equal(server.readyState, serverEngine.WebSocket.CLOSED);
        });

        it('the closer gets its code and reason echoed back, as ws echoes them', async () => {
          const first = await pair();
          const atClient = nextClose(first.client);
          first.client.close(4002, 'client reason');
          const second = await pair();
          const atServer = nextClose(second.server);
          second.server.close(4003, 'server reason');
          assert.deepEqual(
            { client: await atClient, server: await atServer },
            { client: { code: 4002, reason: 'client reason' }, server: { code: 4003, reason: 'server reason' } },
          );
        });
      });
