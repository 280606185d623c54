/**
 * undici 7's WebSocket (the WHATWG client Node's own global WebSocket is built from: an independent implementation)
 * against ws-stream servers: `ws-stream serve` (a process), `accept()` over net, and ws-stream/ws's WebSocketServer;
 * the real ws's WebSocketServer is the control, with the same expectations. Text, binary, empty, 64 KiB and 16 MiB
 * messages; subprotocol negotiation; close codes and reasons both ways; 1006 when the server terminates; a ping from
 * the server answered; permessage-deflate, which undici offers (`permessage-deflate; client_max_window_bits`). And
 * the peer itself checked: a raw server sending undici a bad frame sees the connection failed, as RFC 6455 asks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { computeAccept } from '../../src/index.js';
import { startServer } from '../conformance/raw-client.js';
import { targets } from './echo-targets.js';

const undiciVersion = (createRequire(import.meta.url)('undici/package.json') as { version: string }).version;

/** A message as undici delivered it. */
interface Got {
  binary: boolean;
  data: Buffer;
}

/** An open undici WebSocket, with every message kept in order from the first, and its end. */
interface Client {
  ws: UndiciWebSocket;
  /** The next message not yet taken (never skips one). */
  next(): Promise<Got>;
  /** Its 'close' event, and whether an 'error' event came before it. */
  closed: Promise<{ code: number; reason: string; wasClean: boolean; error: boolean }>;
}

function open(url: string, protocols?: string[], dispatcher?: Agent): Promise<Client> {
  const ws = new UndiciWebSocket(url, { protocols, dispatcher });
  ws.binaryType = 'arraybuffer';
  const queue: Got[] = [];
  const waiting: ((g: Got) => void)[] = [];
  ws.onmessage = (e) => {
    const data = e.data as ArrayBuffer | string;
    const got =
      typeof data === 'string' ? { binary: false, data: Buffer.from(data) } : { binary: true, data: Buffer.from(data) };
    const w = waiting.shift();
    if (w) w(got);
    else queue.push(got);
  };
  let error = false;
  const closed = new Promise<{ code: number; reason: string; wasClean: boolean; error: boolean }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean, error });
  });
  return new Promise((resolve, reject) => {
    ws.onerror = () => {
      error = true;
      if (ws.readyState !== UndiciWebSocket.OPEN) reject(new Error(`undici could not connect to ${url}`));
    };
    ws.onopen = () =>
      resolve({
        ws,
        closed,
        next: () => {
          const g = queue.shift();
          return g ? Promise.resolve(g) : new Promise((r) => waiting.push(r));
        },
      });
  });
}

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 131 + seed + (i >> 9)) & 0xff;
  return b;
}
const digest = (b: Buffer) => `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;

/** Sends each message and checks its echo: type and bytes. */
async function echoes(c: Client, messages: (string | Buffer)[]): Promise<void> {
  for (const m of messages) c.ws.send(typeof m === 'string' ? m : new Uint8Array(m.buffer, m.byteOffset, m.length));
  for (const m of messages) {
    const got = await c.next();
    const want = typeof m === 'string' ? Buffer.from(m) : m;
    assert.equal(got.binary, typeof m !== 'string', `the type of the ${digest(want)} echo`);
    assert.equal(digest(got.data), digest(want));
  }
}

describe(`undici ${undiciVersion} WebSocket → servers`, () => {
  for (const target of targets) {
    describe(target.name, () => {
      it('text, binary, empty, 64 KiB and 16 MiB messages; subprotocols; a clean close from the client', async (t) => {
        const server = await target.start(false);
        t.after(() => server.stop());
        const c = await open(server.url, ['superchat', 'chat']);
        assert.equal(c.ws.protocol, 'chat');
        assert.equal(c.ws.extensions, '');
        await echoes(c, [
          'héllo wörld ✓ 𝄞',
          pattern(100, 1),
          '',
          Buffer.alloc(0),
          pattern(64 * 1024, 2),
          'ü'.repeat(32 * 1024),
          pattern(16 * 1024 * 1024, 3),
        ]);
        c.ws.close(4000, 'bye ✓');
        assert.deepEqual(await c.closed, { code: 4000, reason: 'bye ✓', wasClean: true, error: false });
        const s = await server.seen(0);
        if (s) {
          assert.deepEqual([s.protocol, s.extensions], ['chat', '']);
          assert.deepEqual(await s.closed, { code: 4000, reason: 'bye ✓' });
        }

        // Only superchat offered: chosen.
        const superchat = await open(server.url, ['superchat']);
        assert.equal(superchat.ws.protocol, 'superchat');
        // None the server supports: it answers without one, which a WHATWG client fails (step 2 of its handshake).
        await assert.rejects(open(server.url, ['other']), /could not connect/);
        // No subprotocol asked, none given; a close without a code: 1005 on both sides.
        const plain = await open(server.url);
        assert.equal(plain.ws.protocol, '');
        await echoes(plain, ['still works']);
        plain.ws.close();
        assert.deepEqual(await plain.closed, { code: 1005, reason: '', wasClean: true, error: false });
        const plainSeen = await server.seen(3);
        if (plainSeen) assert.deepEqual(await plainSeen.closed, { code: 1005, reason: '' });
        superchat.ws.close(1000);
        assert.deepEqual(await superchat.closed, { code: 1000, reason: '', wasClean: true, error: false });
      });

      it('permessage-deflate, as undici offers it', async (t) => {
        const server = await target.start(true);
        t.after(() => server.stop());
        const c = await open(server.url, ['chat']);
        // undici offers `permessage-deflate; client_max_window_bits`: every server accepts it with no parameter.
        assert.equal(c.ws.extensions, 'permessage-deflate');
        await echoes(c, [
          'a compressible line of text. '.repeat(40_000),
          pattern(64 * 1024, 4),
          '',
          Buffer.alloc(0),
          pattern(16 * 1024 * 1024, 5),
          'small',
        ]);
        c.ws.close(1000, 'done');
        assert.deepEqual(await c.closed, { code: 1000, reason: 'done', wasClean: true, error: false });
        const s = await server.seen(0);
        if (s) {
          assert.equal(s.extensions, 'permessage-deflate');
          assert.deepEqual(await s.closed, { code: 1000, reason: 'done' });
        }
      });

      if (!target.commands) return;

      it('close codes from the server, 1006 when it terminates, its ping answered', async (t) => {
        const server = await target.start(false);
        t.after(() => server.stop());

        // The server pings: undici answers with the same payload.
        const c = await open(server.url);
        c.ws.send('cmd:ping are you there ✓');
        assert.deepEqual(await c.next(), { binary: false, data: Buffer.from('pong are you there ✓') });
        // The server closes with a code and a reason: undici reports both, cleanly, and answers with the code alone.
        c.ws.send('cmd:close 4001 server says bye ✓');
        assert.deepEqual(await c.closed, { code: 4001, reason: 'server says bye ✓', wasClean: true, error: false });
        assert.deepEqual(await (await server.seen(0))?.closed, { code: 4001, reason: '' });

        const d = await open(server.url);
        d.ws.send('cmd:close 1001 going away');
        assert.deepEqual(await d.closed, { code: 1001, reason: 'going away', wasClean: true, error: false });
        assert.deepEqual(await (await server.seen(1))?.closed, { code: 1001, reason: '' });

        // The server drops the connection: 1006, not clean, after an 'error' event.
        const e = await open(server.url);
        await echoes(e, ['before the end']);
        e.ws.send('cmd:terminate');
        assert.deepEqual(await e.closed, { code: 1006, reason: '', wasClean: false, error: true });
        assert.deepEqual(await (await server.seen(2))?.closed, { code: 1006, reason: '' });
      });
    });
  }
});

describe(`undici ${undiciVersion} WebSocket → ws-stream serve --tls, over HTTP/2 (RFC 8441) and HTTP/1.1`, () => {
  // No control here: ws speaks no HTTP/2. undici sends a Sec-WebSocket-Key over HTTP/2 as well and fails the
  // connection unless the 200 carries the matching Sec-WebSocket-Accept, which RFC 8441 does not use: ws-stream sends
  // it when a key came (src/proto/handshake-h2.ts).
  for (const [over, allowH2, deflate] of [
    ['HTTP/2', true, false],
    ['HTTP/2', true, true],
    ['HTTP/1.1', false, false],
  ] as const) {
    it(`over ${over}${deflate ? ' with permessage-deflate' : ''}: messages up to 2 MiB, a clean close`, async (t) => {
      const server = await startServer([
        '--tls',
        '--log',
        '--protocols',
        'chat,superchat',
        ...(deflate ? ['--deflate'] : []),
      ]);
      t.after(() => server.stop());
      let log = '';
      const logged = new Promise<string>((resolve) =>
        server.proc.stdout!.on('data', (d: Buffer) => {
          log += d.toString();
          const m = /websocket open over .*\n/.exec(log);
          if (m) resolve(m[0].trim());
        }),
      );
      const dispatcher = new Agent({ allowH2, connect: { rejectUnauthorized: false } });
      t.after(() => dispatcher.close());
      const c = await open(`wss://127.0.0.1:${server.port}/`, ['superchat', 'chat'], dispatcher);
      assert.equal(await logged, `websocket open over ${over}${deflate ? ' with permessage-deflate' : ''}`);
      assert.equal(c.ws.protocol, 'chat');
      assert.equal(c.ws.extensions, deflate ? 'permessage-deflate' : '');
      await echoes(c, [
        'héllo wörld ✓ 𝄞',
        '',
        Buffer.alloc(0),
        pattern(64 * 1024, 6),
        'a compressible line of text. '.repeat(40_000),
        pattern(2 * 1024 * 1024, 7),
      ]);
      c.ws.close(4000, 'bye ✓');
      assert.deepEqual(await c.closed, { code: 4000, reason: 'bye ✓', wasClean: true, error: false });
    });
  }
});

describe(`undici ${undiciVersion} WebSocket ← a server sending a bad frame (the peer is strict)`, () => {
  /** A raw server: answers the upgrade by hand, then writes `frame`; resolves with what undici sent back after. */
  async function badServer(t: import('node:test').TestContext, frame: Buffer) {
    let answer!: (b: Buffer) => void;
    const reply = new Promise<Buffer>((r) => (answer = r));
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      let head = Buffer.alloc(0);
      let after: Buffer[] | undefined;
      socket.on('data', (d: Buffer) => {
        if (after) return void after.push(d);
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const key = /sec-websocket-key: *(\S+)/i.exec(head.subarray(0, end).toString())![1]!;
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${computeAccept(key)}\r\n\r\n`,
        );
        socket.write(frame);
        after = [];
      });
      socket.on('end', () => answer(Buffer.concat(after ?? [])));
      socket.on('close', () => answer(Buffer.concat(after ?? [])));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const c = await open(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    return { closed: await c.closed, reply: await reply };
  }

  /** The status code of the client's (masked) close frame, or undefined when it sent none. */
  function closeCode(b: Buffer): number | undefined {
    if (b.length < 2 || (b[0]! & 0x0f) !== 0x8) return undefined;
    const len = b[1]! & 0x7f;
    if (len < 2) return 1005;
    const mask = b.subarray(2, 6);
    return ((b[6]! ^ mask[0]!) << 8) | (b[7]! ^ mask[1]!);
  }

  for (const [name, frame, code] of [
    ['a reserved opcode (0x3)', Buffer.from([0x83, 0x00]), 1002],
    ['a masked frame from the server', Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x69 ^ 1, 0x21 ^ 2]), 1002],
    ['RSV1 with no extension', Buffer.from([0xc1, 0x01, 0x61]), 1002],
    ['invalid UTF-8 in a text message', Buffer.from([0x81, 0x02, 0xc3, 0x28]), 1007],
  ] as const) {
    it(`${name}: undici closes with ${code}, and reports 1006 after an error`, async (t) => {
      const { closed, reply } = await badServer(t, frame);
      assert.deepEqual(closed, { code: 1006, reason: '', wasClean: false, error: true });
      assert.equal(closeCode(reply), code);
    });
  }
});
