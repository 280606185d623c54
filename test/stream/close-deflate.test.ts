/**
 * The close handshake with permessage-deflate: no accepted message is lost or reordered. Messages
 * written before our close frame (the application's, or the answer to the peer's) go out before
 * it, those still being compressed too; messages that arrived before the peer's close frame are
 * all delivered, in order, even when the connection ends while they are still being inflated.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { WebSocketStream, connect, type StreamOptions } from '../../src/index.js';

const COUNT = 16;
const SIZE = 65536;

/** Message `i`: 64 KB that compress well but differ from message to message. */
function message(i: number): Buffer {
  const b = Buffer.alloc(SIZE);
  for (let k = 0; k < SIZE; k++) b[k] = (k % 251) ^ 0x5a ^ i;
  return b;
}

/** Which message `data` is (its first byte tells), or -1 when it is none of them. */
function indexOf(data: Buffer): number {
  const i = data[0]! ^ 0x5a;
  return i < COUNT && data.equals(message(i)) ? i : -1;
}

const expected = Array.from({ length: COUNT }, (_, i) => i);

/** A ws-stream server on 127.0.0.1 (port 0) that runs `serve` on each accepted stream. */
async function streamServer(
  serve: (ws: WebSocketStream) => Promise<void>,
  options: StreamOptions = {},
): Promise<{ url: string; done: Promise<void>[] }> {
  const done: Promise<void>[] = [];
  const srv = net.createServer((socket) => {
    const ws = new WebSocketStream(socket, { perMessageDeflate: true, ...options });
    done.push(ws.accept().then(() => serve(ws)));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  after(() => srv.close());
  return { url: `ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, done };
}

/** Echoes every message without waiting for the echo to go out; returns the echoes' error codes. */
async function echoAll(ws: WebSocketStream): Promise<string[]> {
  const errors: string[] = [];
  const writes: Promise<void>[] = [];
  for await (const m of ws) {
    writes.push(ws.write(m.data, { binary: m.binary }).catch((e: { code: string }) => void errors.push(e.code)));
  }
  await Promise.all(writes);
  return errors;
}

/** Reads until the end: the indexes of the messages read. */
async function readAll(ws: WebSocketStream): Promise<number[]> {
  const got: number[] = [];
  for await (const m of ws) got.push(indexOf(m.data));
  return got;
}

describe('close handshake with permessage-deflate: ws-stream on both sides', () => {
  it('the client closes right after its 16th message: it gets all 16 echoes, in order, then the close', async () => {
    let serverErrors: string[] = [];
    const { url, done } = await streamServer(async (ws) => {
      serverErrors = await echoAll(ws);
    });
    const c = await connect(url, { perMessageDeflate: true });
    assert.match(c.extensions, /^permessage-deflate/);
    const writes = expected.map((i) => c.write(message(i)));
    const closed = c.close({ code: 1000 });
    const got = await readAll(c);
    await Promise.all([...writes, closed, ...done]);
    assert.deepEqual(got, expected);
    assert.deepEqual(serverErrors, []);
    const info = await c.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['local', 1000, true]);
  });

  it('the server closes right after its 16th message: it gets all 16 echoes, in order, then the close', async () => {
    let got: number[] = [];
    let serverInfo: Awaited<ReturnType<WebSocketStream['whenClosed']>> | undefined;
    const { url, done } = await streamServer(async (ws) => {
      const writes = expected.map((i) => ws.write(message(i)));
      const closed = ws.close({ code: 4000, reason: 'done' });
      got = await readAll(ws);
      await Promise.all([...writes, closed]);
      serverInfo = await ws.whenClosed();
    });
    const c = await connect(url, { perMessageDeflate: true });
    const clientErrors = await echoAll(c);
    await Promise.all(done);
    assert.deepEqual(got, expected);
    assert.deepEqual(clientErrors, []);
    assert.deepEqual([serverInfo!.initiatedBy, serverInfo!.code, serverInfo!.wasClean], ['local', 4000, true]);
    const info = await c.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['remote', 4000, 'done', true]);
  });
});

describe('close handshake with permessage-deflate: the ws package as the peer', () => {
  async function wsServer(onConnection: (c: WebSocket) => void): Promise<string> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    wss.on('connection', onConnection);
    await new Promise((r) => wss.once('listening', r));
    after(() => wss.close());
    return `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`;
  }

  async function wsClient(url: string): Promise<WebSocket> {
    const c = new WebSocket(url, { perMessageDeflate: true });
    await new Promise((resolve, reject) => {
      c.once('open', resolve);
      c.once('error', reject);
    });
    return c;
  }

  it('ws-stream server: a ws client closing after its 16th message gets all 16 echoes, then 1000', async () => {
    let serverErrors: string[] = [];
    const { url, done } = await streamServer(async (ws) => {
      serverErrors = await echoAll(ws);
    });
    const c = await wsClient(url);
    const got: number[] = [];
    c.on('message', (data: Buffer) => got.push(indexOf(data)));
    const closed = new Promise<number>((r) => c.once('close', r));
    for (const i of expected) c.send(message(i));
    c.close(1000);
    assert.equal(await closed, 1000);
    await Promise.all(done);
    assert.deepEqual(got, expected);
    assert.deepEqual(serverErrors, []);
  });

  it('ws-stream client closing after its 16th message reads all 16 echoes of a ws server, then the end', async () => {
    const url = await wsServer((c) => c.on('message', (d: Buffer, binary) => c.send(d, { binary })));
    const c = await connect(url, { perMessageDeflate: true });
    assert.match(c.extensions, /^permessage-deflate/);
    const writes = expected.map((i) => c.write(message(i)));
    await writes[COUNT - 1];
    const closed = c.close({ code: 1000 });
    const got = await readAll(c);
    await Promise.all([...writes, closed]);
    assert.deepEqual(got, expected);
    const info = await c.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['local', 1000, true]);
  });

  it('ws-stream client echoing a ws server that closes after its 16th message: the server gets all 16', async () => {
    const got: number[] = [];
    let serverClosed!: Promise<number>;
    const url = await wsServer((s) => {
      s.on('message', (data: Buffer) => got.push(indexOf(data)));
      serverClosed = new Promise<number>((r) => s.once('close', r));
      for (const i of expected) s.send(message(i));
      s.close(4000, 'done');
    });
    const c = await connect(url, { perMessageDeflate: true });
    const clientErrors = await echoAll(c);
    assert.equal(await serverClosed, 4000);
    assert.deepEqual(got, expected);
    assert.deepEqual(clientErrors, []);
    const info = await c.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.reason, info.wasClean], ['remote', 4000, 'done', true]);
  });

  it("the application's close() after the peer's close came, while earlier messages compress: they go first", async () => {
    // The server writes 16 messages at once; the ws client closes as soon as it is open, and the
    // server answers its close with its own close() (from the control callback) while they compress.
    let server: WebSocketStream | undefined;
    let serverClose: Promise<void> | undefined;
    const { url, done } = await streamServer(
      async (ws) => {
        server = ws;
        await Promise.all(expected.map((i) => ws.write(message(i))));
        await ws.whenClosed();
      },
      {
        controlCallback: (kind) => {
          if (kind === 'close') serverClose = server!.close({ code: 4001 });
        },
      },
    );
    const c = new WebSocket(url, { perMessageDeflate: true });
    const got: number[] = [];
    c.on('message', (data: Buffer) => got.push(indexOf(data)));
    const closed = new Promise<number>((r) => c.once('close', r));
    await new Promise((r) => c.once('open', r));
    c.close(1000);
    assert.equal(await closed, 4001);
    await Promise.all(done);
    await serverClose;
    assert.deepEqual(got, expected);
    const info = await server!.whenClosed();
    assert.deepEqual([info.initiatedBy, info.code, info.wasClean], ['remote', 1000, true]);
  });
});
