/**
 * it-ws 6 (WebSockets as async-iterable duplex streams, as libp2p's websockets transport uses them) as its README
 * shows it: `createServer({ onConnection })` and `connect(url)`, both of which import `ws` themselves (ws as installed,
 * ws-stream/ws under the alias). Run by it-ws.test.ts with SEED set. Prints what both ends received, as digests.
 */
import { createHash } from 'node:crypto';
import { connect } from 'it-ws/client';
import type { DuplexWebSocket } from 'it-ws/duplex';
import { createServer } from 'it-ws/server';
import { random } from '../../support/random.js';
import { ours, report } from './peer.js';

const rand = random(Number(process.env.SEED));
// it-ws is ESM only: which engine its own `import … from 'ws'` got shows in its sockets' classes.
const result: Record<string, unknown> = {};

/** `count` chunks of 1 B to 64 KiB (a few of 1 MiB), from the seed, and their digest. */
function chunks(count: number): { list: Uint8Array[]; bytes: number; digest: string } {
  const hash = createHash('sha256');
  const list: Uint8Array[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const size = i % 100 === 99 ? 1 << 20 : 1 + Math.floor(rand() * 65536);
    const chunk = new Uint8Array(size);
    for (let j = 0; j < size; j += 997) chunk[j] = Math.floor(rand() * 256);
    chunk[0] = i & 0xff;
    list.push(chunk);
    hash.update(chunk);
    bytes += size;
  }
  return { list, bytes, digest: hash.digest('hex') };
}

/**
 * Reads a source to its end (or `count` chunks), slowly (a turn of the event loop per chunk), and digests what it got.
 */
async function drain(
  source: AsyncIterable<Uint8Array>,
  count = Number.POSITIVE_INFINITY,
): Promise<{ chunks: number; bytes: number; digest: string }> {
  const hash = createHash('sha256');
  let n = 0;
  let bytes = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    n++;
    bytes += chunk.byteLength;
    if (n === count) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { chunks: n, bytes, digest: hash.digest('hex') };
}

/**
 * The chunks of `list`, then the end once `hold` settles: a sink's end closes the whole WebSocket (it-ws has no
 * half-close, and its `closeOnEnd: false` still closes), so a side that still reads holds its sink open.
 */
async function* from(list: Uint8Array[], hold?: Promise<unknown>): AsyncGenerator<Uint8Array> {
  yield* list;
  await hold;
}

const toServer = chunks(300);
const toClient = chunks(300);
const serverGot: Promise<unknown>[] = [];
const serverSockets: unknown[] = [];
const server = createServer({
  onConnection: (stream: DuplexWebSocket) => {
    serverSockets.push(stream.socket);
    const mode = serverSockets.length;
    if (mode === 1) {
      // Both directions at once: read everything the client sends, send our own chunks.
      const got = drain(stream.source, toServer.list.length);
      serverGot.push(got);
      void stream.sink(from(toClient.list, got));
    } else {
      // An echo, as the README's `pipe(stream, stream)`.
      void stream.sink(stream.source);
    }
  },
});
await server.listen(0);
const { port } = server.address() as { port: number };
const url = `ws://127.0.0.1:${port}`;

// 1. Duplex: 300 chunks (~10 MB, three of 1 MiB) each way at once, both readers slow. The client's sink ends once
// it has read all; the server's then ends by itself on the close.
// Reading starts before connected() resolves: the source listens for messages only once it is first read, and the
// server's first message can come with the 101, before an `await a.connected()` resumes (on either engine).
const a = connect(url);
const clientGets = drain(a.source, toClient.list.length);
await a.connected();
result.clientIsOurs = a.socket instanceof ours.WebSocket;
result.serverIsOurs = serverSockets[0] instanceof ours.WebSocket;
await a.sink(from(toServer.list, clientGets));
const clientGot = await clientGets;
result.duplex = {
  clientGot,
  serverGot: await serverGot[0],
  sent: [
    { chunks: 300, bytes: toClient.bytes, digest: toClient.digest },
    { chunks: 300, bytes: toServer.bytes, digest: toServer.digest },
  ],
};

// 2. Echo: what the client sends comes back in order; the client closes once it has all.
const b = connect(url);
const small = chunks(1000);
const echoed = drain(b.source, small.list.length);
await b.sink(
  from(
    small.list.map((c) => c.subarray(0, 1 + (c[0] ?? 0))),
    echoed,
  ),
);
const echo = await echoed;
const expected = createHash('sha256');
for (const c of small.list) expected.update(c.subarray(0, 1 + (c[0] ?? 0)));
result.echo = { chunks: echo.chunks, sameBytes: echo.digest === expected.digest('hex') };

// 3. close(): resolves once the socket has closed; the source then ends.
const c = connect(url);
await c.connected();
const ended = drain(c.source);
await c.close();
result.closed = { readyState: c.socket.readyState, source: await ended };

// 4. A refused connection: connected() rejects with ws's error.
await server.close();
const d = connect(url);
result.refused = await d.connected().then(
  () => 'opened',
  (e: NodeJS.ErrnoException) => ({ code: e.code, message: e.message === `connect ECONNREFUSED 127.0.0.1:${port}` }),
);
report(result);
