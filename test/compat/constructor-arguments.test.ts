/**
 * Constructor arguments of the wrong kind, on the real `ws` and on ws-stream/ws.
 *
 * `new WebSocket(address)` with an address that is no ws URL throws synchronously on both, with ws's class and
 * message; `new WebSocket(null)` (ws's server-side construction, which reads its options unguarded) threw nothing
 * here and gave a socket that never opens. `autoPong: undefined` (or null) spread over ws's defaults turns the
 * automatic pong off in ws, on a client or a server; here it stayed on.
 *
 * `new WebSocketServer` with a `verifyClient`, `handleProtocols` or `WebSocket` option that cannot be called: ws
 * takes it and throws at an upgrade (out of its server's 'upgrade' listener, which takes the process down);
 * ws-stream/ws throws a TypeError from the constructor (doc/ws-compat.md, "Server options that cannot be called").
 *
 * `shouldHandle(req)` with something that is no request and a `path` set: ws reads `req.url.indexOf` and throws;
 * ws-stream/ws took a missing url as an empty one (false). A client's `perMessageDeflate` given as undefined, null, 0 or
 * '' is off in ws (spread over its defaults, then taken for its truth), and an object is spread (its getters run);
 * ws-stream/ws offered permessage-deflate for them and read only the fields it knows.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { type Impl, impls, listen } from './support.js';

const PROTOCOLS = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';

/** Each address, and what both throw for it. */
const ADDRESSES: [string, unknown, { name: string; message: string }][] = [
  ['null', null, { name: 'TypeError', message: "Cannot read properties of undefined (reading 'autoPong')" }],
  ['undefined', undefined, { name: 'SyntaxError', message: 'Invalid URL: undefined' }],
  ['{}', {}, { name: 'SyntaxError', message: 'Invalid URL: [object Object]' }],
  ['42', 42, { name: 'SyntaxError', message: 'Invalid URL: 42' }],
  ["''", '', { name: 'SyntaxError', message: 'Invalid URL: ' }],
  ["'not a url'", 'not a url', { name: 'SyntaxError', message: 'Invalid URL: not a url' }],
  ["'ftp://x'", 'ftp://x', { name: 'SyntaxError', message: PROTOCOLS }],
  ["'ws://x#f'", 'ws://x#f', { name: 'SyntaxError', message: 'The URL contains a fragment identifier' }],
  ['Symbol()', Symbol('s'), { name: 'TypeError', message: 'Cannot convert a Symbol value to a string' }],
];

interface Pinged {
  on(e: string, f: (...a: unknown[]) => void): void;
  ping(d?: unknown): void;
  send(d: unknown): void;
  close(): void;
}

/** `pinger` pings and waits for the message `ponger` sends from its 'ping' listener: was a pong there first? */
async function pongedBeforeMessage(pinger: Pinged, ponger: Pinged): Promise<boolean> {
  let ponged = false;
  pinger.on('pong', () => {
    ponged = true;
  });
  ponger.on('ping', () => ponger.send('after the ping'));
  const message = once(pinger as never, 'message');
  pinger.ping('p');
  await message;
  return ponged;
}

for (const impl of impls) {
  describe(`${impl.name}: new WebSocket() with an address that is no ws URL`, () => {
    for (const [shown, address, expected] of ADDRESSES) {
      it(`new WebSocket(${shown}) throws ${expected.name}: ${expected.message}`, () => {
        assert.throws(
          () => new impl.WebSocket(address),
          (e: Error) => {
            assert.equal(e.constructor.name, expected.name);
            assert.equal(e.message, expected.message);
            return true;
          },
        );
      });
    }
  });

  describe(`${impl.name}: new WebSocket() with an http: or https: URL object`, () => {
    it("connects to its ws: or wss: form and leaves the caller's URL as it was", () => {
      for (const [given, url] of [
        ['http://127.0.0.1:1/a?b', 'ws://127.0.0.1:1/a?b'],
        ['https://127.0.0.1:1/a?b', 'wss://127.0.0.1:1/a?b'],
      ]) {
        const address = new URL(given!);
        const client = new impl.WebSocket(address);
        client.on('error', () => {});
        client.terminate();
        assert.deepEqual([client.url, address.href], [url, given]);
      }
    });
  });

  describe(`${impl.name}: autoPong given as undefined or null`, () => {
    for (const autoPong of [undefined, null, 0]) {
      it(`a client with { autoPong: ${autoPong} } answers no ping`, async (t) => {
        const { wss, port } = await listen(t, impl);
        const accepted = once(wss, 'connection');
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`, { autoPong });
        const [server] = (await accepted) as [Pinged];
        if (client.readyState !== 1) await once(client, 'open');
        assert.equal(await pongedBeforeMessage(server, client), false);
      });

      it(`a server with { autoPong: ${autoPong} } answers no ping`, async (t) => {
        const { wss, port } = await listen(t, impl, { autoPong });
        const accepted = once(wss, 'connection');
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`);
        const [server] = (await accepted) as [Pinged];
        if (client.readyState !== 1) await once(client, 'open');
        assert.equal(await pongedBeforeMessage(client, server), false);
      });
    }

    it('left out, or true, the pong comes before the message sent from the ping listener', async (t) => {
      const { wss, port } = await listen(t, impl, { autoPong: true });
      const accepted = once(wss, 'connection');
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`, {});
      const [server] = (await accepted) as [Pinged];
      if (client.readyState !== 1) await once(client, 'open');
      assert.equal(await pongedBeforeMessage(server, client), true);
      assert.equal(await pongedBeforeMessage(client, server), true);
    });
  });
}

interface Server {
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, cb: (w: unknown) => void): void;
  on(e: string, f: (w: unknown) => void): void;
  emit(e: string, w: unknown): void;
}

/** A noServer WebSocketServer of `impl` with `options`, or what its constructor threw. */
function make(impl: Impl, options: Record<string, unknown>): { wss?: Server; thrown?: unknown } {
  try {
    return { wss: new impl.WebSocketServer({ noServer: true, ...options }) };
  } catch (thrown) {
    return { thrown };
  }
}

/** One real upgrade request (offering subprotocol 'a') handed to `wss.handleUpgrade`: what it threw. */
async function upgradeThrows(t: Parameters<typeof listen>[0], wss: Server): Promise<unknown> {
  const server = http.createServer();
  t.after(() => server.close());
  const thrown = new Promise<unknown>((resolve) =>
    server.on('upgrade', (req, socket: Duplex, head) => {
      try {
        wss.handleUpgrade(req, socket, head, () => resolve(null));
      } catch (e) {
        socket.destroy();
        resolve(e);
      }
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const req = http.request({
    port,
    host: '127.0.0.1',
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Protocol': 'a',
    },
  });
  req.on('error', () => {});
  req.on('upgrade', (_res, socket: Duplex) => socket.destroy());
  req.end();
  return thrown;
}

const HOOKS: [string, unknown][] = [
  ['verifyClient', 5],
  ['verifyClient', 'x'],
  ['verifyClient', {}],
  ['handleProtocols', true],
  ['handleProtocols', {}],
  ['WebSocket', 5],
  ['WebSocket', null],
  ['WebSocket', () => ({})],
  ['WebSocket', function NotWebSocket() {}],
];

describe('WebSocketServer options that cannot be called', () => {
  for (const [name, value] of HOOKS) {
    it(`${name}: ${String(value)}: ws throws at the first upgrade, ws-stream/ws from the constructor`, async (t) => {
      const [ws, ours] = impls.map((impl) => make(impl, { [name]: value }));
      assert.ok(ws!.wss, 'ws takes it');
      const late = (await upgradeThrows(t, ws!.wss!)) as Error;
      assert.ok(late instanceof TypeError, String(late));
      assert.equal(ours!.wss, undefined, 'ws-stream/ws refuses it');
      assert.ok(ours!.thrown instanceof TypeError);
      assert.equal((ours!.thrown as { code?: string }).code, 'ERR_INVALID_ARG_TYPE');
      assert.match((ours!.thrown as Error).message, new RegExp(`^The "${name}" option must be `));
    });
  }

  it('falsy hooks are none, and a subclass of WebSocket is taken, on both', async (t) => {
    for (const impl of impls) {
      class Sub extends impl.WebSocket {}
      const { wss, thrown } = make(impl, { verifyClient: 0, handleProtocols: null, WebSocket: Sub });
      assert.equal(thrown, undefined);
      const connected = new Promise<unknown>((resolve) => wss!.on('connection', resolve));
      const server = http.createServer();
      t.after(() => server.close());
      server.on('upgrade', (req, socket, head) =>
        wss!.handleUpgrade(req, socket, head, (w: unknown) => wss!.emit('connection', w)),
      );
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const client = new impl.WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`, ['a']);
      const w = (await connected) as { protocol: string; terminate(): void };
      assert.ok(w instanceof Sub);
      assert.equal(w.protocol, 'a');
      await once(client, 'open');
      client.terminate();
      await once(client, 'close');
    }
  });
});

for (const impl of impls) {
  describe(`${impl.name}: shouldHandle() given something that is no request`, () => {
    it("with a path, ws's TypeError from reading its url; without one, true", () => {
      const wss = new impl.WebSocketServer({ noServer: true, path: '/p' });
      for (const req of [0, 2 ** 53, {}, () => {}])
        assert.throws(() => wss.shouldHandle(req), {
          name: 'TypeError',
          message: "Cannot read properties of undefined (reading 'indexOf')",
        });
      assert.throws(() => wss.shouldHandle(null), {
        name: 'TypeError',
        message: "Cannot read properties of null (reading 'url')",
      });
      assert.equal(wss.shouldHandle({ url: '/p?x' }), true);
      assert.equal(wss.shouldHandle({ url: '/q' }), false);
      assert.equal(new impl.WebSocketServer({ noServer: true }).shouldHandle(0), true);
    });
  });
}

for (const impl of impls) {
  describe(`${impl.name}: a client's perMessageDeflate read as ws reads it`, () => {
    for (const [shown, value, expected] of [
      ['undefined', undefined, ''],
      ['null', null, ''],
      ['0', 0, ''],
      ["''", '', ''],
      ['1', 1, 'permessage-deflate'],
      ['{}', {}, 'permessage-deflate'],
    ] as const) {
      it(`{ perMessageDeflate: ${shown} } agrees ${JSON.stringify(expected)} with a server that offers it`, async (t) => {
        const { port } = await listen(t, impl, { perMessageDeflate: true });
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: value });
        await once(client, 'open');
        assert.equal(client.extensions.split(';')[0], expected);
        client.close();
        await once(client, 'close');
      });
    }

    it('an object is spread once: a getter that throws throws from the constructor', () => {
      const pmd = Object.defineProperty({}, 'unrelated', {
        enumerable: true,
        get() {
          throw new Error('getter');
        },
      });
      assert.throws(() => new impl.WebSocket('ws://127.0.0.1:1/', { perMessageDeflate: pmd }), /getter/);
    });
  });
}
