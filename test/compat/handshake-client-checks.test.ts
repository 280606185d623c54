/**
 * The client's checks of a 101 as ws makes them, in ws's order (found by handshake-differential.test.ts): a
 * response wrong in two ways reports what ws reports, and a `Sec-WebSocket-Extensions` header that is there but
 * empty fails the handshake (ws parses it and finds no extension), run on both engines against a raw server.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { computeAccept } from '../../src/proto/handshake-server.js';
import { impls } from './support.js';

/** A raw server answering one upgrade with `lines` (the accept computed when `accept` is true). */
async function answering(
  lines: string[],
  accept: boolean,
  statusLine = 'HTTP/1.1 101 Switching Protocols',
  connection = 'Upgrade',
): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /\r\nsec-websocket-key: *([^\r]*)/i.exec(head)?.[1] ?? '';
      const all = [statusLine, 'Upgrade: websocket', `Connection: ${connection}`, ...lines];
      all.push(`Sec-WebSocket-Accept: ${accept ? computeAccept(key) : 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='}`);
      socket.end(`${all.join('\r\n')}\r\n\r\n`);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const cases: {
  name: string;
  protocols: string[];
  options?: Record<string, unknown>;
  lines: string[];
  accept: boolean;
  message: string;
}[] = [
  {
    // The client offered no client_max_window_bits: it may not be answered (RFC 7692 §7.1.2.2).
    name: 'client_max_window_bits to a client whose clientMaxWindowBits is false',
    protocols: [],
    options: { perMessageDeflate: { clientMaxWindowBits: false } },
    lines: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10'],
    accept: true,
    message: 'Invalid Sec-WebSocket-Extensions header',
  },
  {
    name: 'permessage-deflate to a client whose perMessageDeflate is false',
    protocols: [],
    options: { perMessageDeflate: false },
    lines: ['Sec-WebSocket-Extensions: permessage-deflate'],
    accept: true,
    message: 'Server sent a Sec-WebSocket-Extensions header but no extension was requested',
  },
  {
    name: 'an empty Sec-WebSocket-Extensions header',
    protocols: [],
    lines: ['Sec-WebSocket-Extensions: '],
    accept: true,
    message: 'Invalid Sec-WebSocket-Extensions header',
  },
  {
    name: 'no subprotocol (one was offered) and permessage-deflate twice: the subprotocol first',
    protocols: ['chat'],
    lines: ['Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate'],
    accept: true,
    message: 'Server sent no subprotocol',
  },
  {
    name: 'a subprotocol not offered and an unknown extension: the subprotocol first',
    protocols: ['chat'],
    lines: ['Sec-WebSocket-Protocol: other', 'Sec-WebSocket-Extensions: x-foo'],
    accept: true,
    message: 'Server sent an invalid subprotocol',
  },
  {
    name: 'a wrong accept and a subprotocol not offered: the accept first',
    protocols: ['chat'],
    lines: ['Sec-WebSocket-Protocol: other'],
    accept: false,
    message: 'Invalid Sec-WebSocket-Accept header',
  },
];

for (const c of cases) {
  describe(`a 101 with ${c.name}`, () => {
    for (const impl of impls) {
      it(`${impl.name}: 'error' with ws's message, then 'close' 1006; no 'open'`, async () => {
        const server = await answering(c.lines, c.accept);
        try {
          const port = (server.address() as net.AddressInfo).port;
          const ws = new impl.WebSocket(`ws://127.0.0.1:${port}/`, c.protocols, c.options);
          const events: string[] = [];
          ws.on('open', () => events.push('open'));
          ws.on('error', (e: Error) => events.push(`error:${e.message}`));
          const code = await new Promise((resolve) => ws.on('close', resolve));
          assert.deepEqual(events, [`error:${c.message}`]);
          assert.equal(code, 1006);
        } finally {
          await new Promise((resolve) => server.close(resolve));
        }
      });
    }
  });
}

/** What a client of `impl` reports for the 101 of `statusLine`: its events, and the close code. */
async function eventsFor(
  impl: (typeof impls)[number],
  statusLine: string,
  connection?: string,
): Promise<{ events: string[]; code: unknown }> {
  const server = await answering([], true, statusLine, connection);
  try {
    const port = (server.address() as net.AddressInfo).port;
    const ws = new impl.WebSocket(`ws://127.0.0.1:${port}/`);
    const events: string[] = [];
    ws.on('open', () => events.push('open'));
    ws.on('error', (e: Error) => events.push(`error:${e.message}`));
    const code = await new Promise((resolve) => ws.on('close', resolve));
    return { events, code };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('a 101 whose status line is in HTTP/2.0 or HTTP/0.9 (node:http passes both on)', () => {
  for (const version of ['2.0', '0.9']) {
    it(`HTTP/${version}: ws opens; ws-stream/ws refuses it as the core does (RFC 9112 §2.6: not HTTP/1.x)`, async () => {
      const [ws, ours] = [impls.find((i) => i.name === 'ws')!, impls.find((i) => i.name === 'compat')!];
      assert.equal((await eventsFor(ws, `HTTP/${version} 101 Switching Protocols`)).events[0], 'open');
      assert.deepEqual(await eventsFor(ours, `HTTP/${version} 101 Switching Protocols`), {
        events: [`error:malformed HTTP response: HTTP/${version} is not HTTP/1.x`],
        code: 1006,
      });
    });
  }
});

describe('a 101 whose Connection header lacks the upgrade token (node:http then emits no upgrade)', () => {
  for (const impl of impls) {
    it(`${impl.name}: 'Unexpected server response: 101', close 1006; a list holding the token opens`, async () => {
      const ok = 'HTTP/1.1 101 Switching Protocols';
      assert.deepEqual(await eventsFor(impl, ok, 'keep-alive'), {
        events: ['error:Unexpected server response: 101'],
        code: 1006,
      });
      assert.equal((await eventsFor(impl, ok, 'keep-alive, Upgrade')).events[0], 'open');
    });
  }
});

describe('a 101 whose subprotocol passes and whose extensions fail', () => {
  for (const impl of impls) {
    it(`${impl.name}: \`protocol\` is the server's subprotocol at 'error' and 'close', as ws sets it before the extensions' check`, async () => {
      const server = await answering(['Sec-WebSocket-Protocol: chat', 'Sec-WebSocket-Extensions: x-foo'], true);
      try {
        const port = (server.address() as net.AddressInfo).port;
        const ws = new impl.WebSocket(`ws://127.0.0.1:${port}/`, ['super', 'chat']);
        const events: string[] = [];
        ws.on('open', () => events.push('open'));
        ws.on('error', (e: Error) => events.push(`error:${e.message} protocol=${ws.protocol}`));
        const code = await new Promise((resolve) => ws.on('close', resolve));
        events.push(`close:${code} protocol=${ws.protocol}`);
        assert.deepEqual(events, [
          'error:Server indicated an extension that was not requested protocol=chat',
          'close:1006 protocol=chat',
        ]);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }
});
