/**
 * The core's stricter refusals (RFC 6455 / RFC 9112 checks ws does not make: `Sec-WebSocket-Version: 8` or `13.0`,
 * two Host fields or an invalid one, a `*` target, a body, HTTP/2.0 in the request line, a hand-made request without
 * `Connection`) and 'wsClientError', run side by side with ws. ws takes each of these requests (101, 'connection');
 * ws-stream/ws refuses them (doc/ws-compat.md, "Stricter handshakes"), and does so as ws refuses a bad request: before verifyClient, through 'wsClientError' when
 * someone listens (the core's error: its stable code and the status it would answer, nothing written, the listener
 * owns the socket), else with the core's answer. A request ws refuses too gets ws's error, as ws's checks come first.
 * An HTTP/1.0 request, which the core refuses too, is taken by ws-stream/ws as ws takes it (the drop-in's choice).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { KEY } from '../support/frames.js';
import { type Impl, impls } from './support.js';

/** Connects to `server`, writes `head`, reads the answer until the connection closes or `enough` says so. */
async function answer(server: net.Server, head: string, enough: (got: string) => boolean): Promise<string> {
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  let got = '';
  socket.setEncoding('latin1').on('data', (d: string) => {
    got += d;
    if (enough(got)) socket.destroy();
  });
  if (head !== '') socket.write(head);
  await once(socket, 'close');
  return got;
}

interface Case {
  name: string;
  head: string;
  /** What ws-stream/ws refuses it with: the answer's status line, and the core's code. */
  status: string;
  code: string;
}

const request = (line: string, over: Record<string, string | null> = {}, extra = ''): string => {
  const h: Record<string, string | null> = {
    Host: 'example.com',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...over,
  };
  const lines = Object.entries(h).flatMap(([k, v]) => (v === null ? [] : [`${k}: ${v}`]));
  return `${line}\r\n${lines.join('\r\n')}\r\n${extra}\r\n`;
};

const cases: Case[] = [
  {
    name: 'Sec-WebSocket-Version: 8',
    head: request('GET / HTTP/1.1', { 'Sec-WebSocket-Version': '8' }),
    status: 'HTTP/1.1 426 Upgrade Required',
    code: 'ERR_WS_BAD_SEC_VERSION',
  },
  {
    // ws reads the version with unary +: 13.0, 0xd and 013 are 13 to it.
    name: 'Sec-WebSocket-Version: 13.0',
    head: request('GET / HTTP/1.1', { 'Sec-WebSocket-Version': '13.0' }),
    status: 'HTTP/1.1 426 Upgrade Required',
    code: 'ERR_WS_BAD_SEC_VERSION',
  },
  {
    name: 'two Host fields',
    head: request('GET / HTTP/1.1', {}, 'Host: other.example\r\n'),
    status: 'HTTP/1.1 400 Bad Request',
    code: 'ERR_WS_BAD_REQUEST',
  },
  {
    name: 'the target *',
    head: request('GET * HTTP/1.1'),
    status: 'HTTP/1.1 400 Bad Request',
    code: 'ERR_WS_BAD_REQUEST',
  },
  {
    // RFC 9112 §3.2: an invalid Host value is answered 400, as a missing or repeated one.
    name: 'a Host that is no host (a space in it)',
    head: request('GET / HTTP/1.1', { Host: 'example .com' }),
    status: 'HTTP/1.1 400 Bad Request',
    code: 'ERR_WS_BAD_REQUEST',
  },
  {
    // ws takes the body for frames (here one octet: the start of a frame header, which it waits to complete).
    name: 'a body (Content-Length: 1)',
    head: `${request('GET / HTTP/1.1', { 'Content-Length': '1' })}x`,
    status: 'HTTP/1.1 400 Bad Request',
    code: 'ERR_WS_BAD_REQUEST',
  },
  {
    // RFC 9112 §2.6: node:http passes a text request line in HTTP/2.0 on, and ws reads no version.
    name: 'HTTP/2.0 in the request line',
    head: request('GET / HTTP/2.0'),
    status: 'HTTP/1.1 505 HTTP Version Not Supported',
    code: 'ERR_WS_BAD_HTTP_VERSION',
  },
];

/** What a raw client saw, and what the server did, for one request. */
interface Seen {
  /** The first line the client received. */
  status: string;
  /** Every byte the client received, when a 'wsClientError' listener answered. */
  bytes?: string;
  opened: boolean;
  verified: number;
  /** The 'wsClientError' the server emitted: the error's class, message, code, status, and what was written by then. */
  clientError?: {
    isError: boolean;
    code: unknown;
    status: unknown;
    message: string;
    written: number;
    sameReq: boolean;
  };
}

/** Sends `head` to a server of `impl` (with or without a 'wsClientError' listener) and reports what happened. */
async function run(impl: Impl, head: string, listen: boolean): Promise<Seen> {
  const server = http.createServer();
  let verified = 0;
  const wss = new impl.WebSocketServer({
    server,
    verifyClient: () => {
      verified++;
      return true;
    },
  });
  const seen: Partial<Seen> = { opened: false };
  wss.on('connection', (ws: { close(): void }) => {
    seen.opened = true;
    ws.close();
  });
  let upgradeReq: http.IncomingMessage | undefined;
  server.prependListener('upgrade', (req: http.IncomingMessage) => {
    upgradeReq = req;
  });
  if (listen) {
    wss.on('wsClientError', (err: Error & { code?: unknown; status?: unknown }, socket: Duplex, req: unknown) => {
      seen.clientError = {
        isError: err instanceof Error,
        code: err.code,
        status: err.status,
        message: err.message,
        written: (socket as net.Socket).bytesWritten,
        sameReq: req === upgradeReq,
      };
      // The listener owns the socket: it answers on a later turn, and nothing else is written meanwhile.
      setImmediate(() => socket.end(`HTTP/1.1 418 I'm a Teapot\r\nConnection: close\r\nX-Code: ${err.code}\r\n\r\n`));
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    // A 101 leaves the socket open for frames: its head is all this test reads.
    const got = await answer(server, head, (s) => s.startsWith('HTTP/1.1 101') && s.includes('\r\n\r\n'));
    return {
      status: got.split('\r\n')[0] ?? '',
      ...(listen ? { bytes: got } : {}),
      opened: seen.opened ?? false,
      verified,
      ...(seen.clientError ? { clientError: seen.clientError } : {}),
    };
  } finally {
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const wsImpl = impls.find((i) => i.name === 'ws')!;
const ours = impls.find((i) => i.name === 'compat')!;

for (const c of cases) {
  describe(`a request the core refuses and ws takes: ${c.name}`, () => {
    it('ws opens it, with or without a wsClientError listener', async () => {
      for (const listen of [false, true]) {
        const seen = await run(wsImpl, c.head, listen);
        assert.equal(seen.status, 'HTTP/1.1 101 Switching Protocols');
        assert.deepEqual([seen.opened, seen.verified, seen.clientError], [true, 1, undefined]);
      }
    });

    it("ws-stream/ws: without a listener, the core's answer, before verifyClient", async () => {
      const seen = await run(ours, c.head, false);
      assert.deepEqual(seen, { status: c.status, opened: false, verified: 0 });
    });

    it("ws-stream/ws: 'wsClientError' with the core's error; the listener answers", async () => {
      const seen = await run(ours, c.head, true);
      assert.deepEqual(seen.clientError, {
        isError: true,
        code: c.code,
        status: Number(c.status.split(' ')[1]),
        message: seen.clientError?.message,
        written: 0,
        sameReq: true,
      });
      assert.ok(seen.clientError.message.length > 0);
      assert.equal(seen.bytes, `HTTP/1.1 418 I'm a Teapot\r\nConnection: close\r\nX-Code: ${c.code}\r\n\r\n`);
      assert.deepEqual([seen.opened, seen.verified], [false, 0]);
    });
  });
}

describe('an HTTP/1.0 upgrade (nginx left at proxy_http_version 1.0): ws-stream/ws takes it as ws does', () => {
  for (const impl of impls) {
    it(`${impl.name}: 101 and 'connection', with or without a wsClientError listener`, async () => {
      for (const listen of [false, true]) {
        const seen = await run(impl, request('GET / HTTP/1.0'), listen);
        assert.equal(seen.status, 'HTTP/1.1 101 Switching Protocols');
        assert.deepEqual([seen.opened, seen.verified, seen.clientError], [true, 1, undefined]);
      }
    });
  }
});

describe("a request both refuse: ws's check comes first, with ws's error, on both", () => {
  for (const impl of impls) {
    it(`${impl.name}: Sec-WebSocket-Version: 8 with a malformed Sec-WebSocket-Protocol`, async () => {
      const head = request('GET / HTTP/1.1', { 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Protocol': 'a,,b' });
      const seen = await run(impl, head, true);
      assert.deepEqual(seen.clientError, {
        isError: true,
        code: undefined,
        status: undefined,
        message: 'Invalid Sec-WebSocket-Protocol header',
        written: 0,
        sameReq: true,
      });
      assert.equal(seen.status, "HTTP/1.1 418 I'm a Teapot");
      assert.equal((await run(impl, head, false)).status, 'HTTP/1.1 400 Bad Request');
    });
  }
});

describe('a hand-made request without Connection, given to handleUpgrade (noServer)', () => {
  /** Hands a request object made by hand (as a framework's injector makes one) and a real socket to handleUpgrade. */
  async function handMade(impl: Impl, listen: boolean): Promise<{ status: string; opened: boolean; code?: unknown }> {
    const wss = new impl.WebSocketServer({ noServer: true });
    const result: { status: string; opened: boolean; code?: unknown } = { status: '', opened: false };
    if (listen) {
      wss.on('wsClientError', (err: Error & { code?: unknown }, socket: Duplex) => {
        result.code = err.code;
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      });
    }
    const server = net.createServer((socket) => {
      const req = {
        method: 'GET',
        url: '/',
        httpVersion: '1.1',
        headers: { host: 'example.com', upgrade: 'websocket', 'sec-websocket-key': KEY, 'sec-websocket-version': '13' },
        rawHeaders: [],
        socket,
      };
      wss.handleUpgrade(req, socket, Buffer.alloc(0), (ws: { close(): void }) => {
        result.opened = true;
        ws.close();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      // ws's 101 leaves the socket open for frames: the status line is all this test reads.
      const got = await answer(server, '', (s) => s.includes('\r\n\r\n'));
      result.status = got.split('\r\n')[0] ?? '';
      return result;
    } finally {
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('ws opens it; ws-stream/ws refuses it 400, or hands it to a wsClientError listener', async () => {
    assert.deepEqual(await handMade(wsImpl, true), { status: 'HTTP/1.1 101 Switching Protocols', opened: true });
    assert.deepEqual(await handMade(ours, false), { status: 'HTTP/1.1 400 Bad Request', opened: false });
    assert.deepEqual(await handMade(ours, true), {
      status: 'HTTP/1.1 400 Bad Request',
      opened: false,
      code: 'ERR_WS_NO_CONNECTION',
    });
  });
});
