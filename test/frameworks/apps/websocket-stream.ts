/**
 * websocket-stream 5 (node streams over ws; it depends on ws 3, installed in its own node_modules), run by
 * websocket-stream.test.ts with `ws` as installed (ws 3.3) or aliased to ws-stream/ws, used as its README shows: a
 * server `websocket.createServer({ server }, handle)` whose handler pipes each stream into itself, clients
 * `websocket(url)`. Prints what the client streams and the server saw.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import websocket from 'websocket-stream';
import { aliased, ours, report } from './peer.js';

const require = createRequire(import.meta.url);
const result: Record<string, unknown> = { aliased: aliased(require.resolve('websocket-stream')) };

type WsStream = Duplex & { socket: { readyState: number; binaryType?: string } };
const serverSaw: string[] = [];
const serverEvents = new EventEmitter();
const server = http.createServer();
const wss = websocket.createServer({ server }, ((stream: WsStream, req: http.IncomingMessage) => {
  serverSaw.push(`stream ${req.url}`);
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  (stream.socket as unknown as { on(e: 'close', f: (code: number) => void): void }).on('close', (code) => {
    serverSaw.push(`socket close ${code} after ${bytes} bytes`);
    serverEvents.emit('socket close');
  });
  stream.on('error', (err) => serverSaw.push(`error ${err.message}`));
  stream.pipe(stream);
}) as () => void);
result.serverIsOurs = wss instanceof ours.WebSocketServer;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as net.AddressInfo;
const url = `ws://127.0.0.1:${port}`;

/** Everything a client stream reads until it ends, and how it ended. */
function drain(stream: WsStream): Promise<{ data: Buffer; events: string[] }> {
  const chunks: Buffer[] = [];
  const events: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.on('end', () => events.push('end'));
    stream.on('finish', () => events.push('finish'));
    stream.on('close', () => {
      events.push('close');
      resolve({ data: Buffer.concat(chunks), events });
    });
  });
}

// Text and binary writes, echoed: the client reads Buffers (its socket's binaryType is 'arraybuffer').
const small = websocket(`${url}/small`) as WsStream;
result.clientIsOurs = small.socket instanceof ours.WebSocket;
await new Promise((resolve) => small.once('connect', resolve));
result.binaryType = small.socket.binaryType;
const smallDone = drain(small);
const echoed: string[] = [];
small.on('data', (c: Buffer) => echoed.push(c.toString('hex')));
small.write('héllo');
small.write(Buffer.from([0, 1, 2, 255]));
await new Promise<void>((resolve) => {
  small.on('data', () => {
    if (echoed.length === 2) resolve();
  });
});
result.small = echoed;
// end() closes the socket: the server's stream ends, its pipe ends it back, the client's stream closes.
small.end();
result.smallEnd = (await smallDone).events;

// 4 MiB in 64 KiB writes through pipeline: write() reports backpressure, every byte comes back in order.
const big = Buffer.alloc(4 * 1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >>> 16)) & 0xff;
const bigStream = websocket(`${url}/big`) as WsStream;
const bigDone = drain(bigStream);
let refusedWrites = 0;
const write = bigStream.write.bind(bigStream);
bigStream.write = ((chunk: Buffer, ...rest: never[]) => {
  const ok = write(chunk, ...rest);
  if (!ok) refusedWrites++;
  return ok;
}) as typeof bigStream.write;
// The echo must be read while writing (the server's pipe waits on us), so pipeline only the writing side.
const received = new Promise<void>((resolve) => {
  let n = 0;
  bigStream.on('data', (c: Buffer) => {
    n += c.length;
    if (n === big.length) resolve();
  });
});
const chunks = Array.from({ length: big.length / 65536 }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536));
await pipeline(Readable.from(chunks), bigStream, { end: false });
await received;
bigStream.end();
const bigResult = await bigDone;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
result.big = { length: bigResult.data.length, same: sha(bigResult.data) === sha(big), backpressure: refusedWrites > 0 };

// destroy() on the client closes its socket: the server sees the close.
const gone = websocket(`${url}/destroyed`) as WsStream;
await new Promise((resolve) => gone.once('connect', resolve));
const serverSawDestroy = new Promise((resolve) => serverEvents.once('socket close', resolve));
gone.destroy();
await serverSawDestroy;

// A refused connection: the stream errors with the socket's error.
const closedPort = await new Promise<number>((resolve) => {
  const s = http.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const refused = websocket(`ws://127.0.0.1:${closedPort}`) as WsStream;
// ws 3 hands its onerror the Error itself; ws 8 an ErrorEvent holding it: the stream is destroyed with either.
result.refused = await new Promise((resolve) =>
  refused.once('error', (err: NodeJS.ErrnoException & { error?: NodeJS.ErrnoException }) =>
    resolve({
      message: err.message === `connect ECONNREFUSED 127.0.0.1:${closedPort}`,
      code: err.code ?? null,
      eventErrorCode: err.error?.code ?? null,
    }),
  ),
);

result.serverSaw = serverSaw;
await new Promise<void>((resolve) => wss.close(() => resolve()));
await new Promise<void>((resolve) => server.close(() => resolve()));
report(result);
