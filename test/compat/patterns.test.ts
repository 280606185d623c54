/**
 * Code written for `ws` as applications write it — send callbacks and fragments, constructor and
 * argument errors, failed connections, limits, the heartbeat pattern, verifyClient's info — run on
 * the real `ws` and on ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

function describeError(e: unknown): string {
  const err = e as Error & { code?: string };
  return `${err.constructor.name}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
}

/** A port nobody listens on (listened on, then closed). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** A plain HTTP server on 127.0.0.1, port 0, closed after the test. */
async function httpServer(t: TestContext, server: http.Server | net.Server): Promise<number> {
  t.after(() => {
    server.close();
    if (server instanceof http.Server) server.closeAllConnections();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** 'error' and 'close' of a client that fails to connect. */
function failure(client: Any): Promise<string[]> {
  const events: string[] = [];
  client.on('open', () => events.push('open'));
  client.on('error', (e: Error) => events.push(`error ${describeError(e)}`));
  return new Promise((resolve) =>
    client.on('close', (code: number) => {
      events.push(`close ${code} ${client.readyState}`);
      resolve(events);
    }),
  );
}

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url)));

const accept = (key: string): string =>
  crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

for (const impl of impls) {
  describe(`${impl.name}: ws patterns`, () => {
    it('send, ping and pong callbacks get null; fin: false fragments make one message; no data, numbers', async (t) => {
      const { wss, port } = await listen(t, impl);
      const got: string[] = [];
      const all = new Promise<void>((resolve) => {
        wss.on('connection', (s: Any) =>
          s.on('message', (d: Buffer, binary: boolean) => {
            got.push(`${d} ${binary}`);
            if (got.length === 5) resolve();
          }),
        );
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const callbacks: string[] = [];
      const cb =
        (name: string) =>
        (e: unknown): void => {
          callbacks.push(`${name} ${e}`);
        };
      client.send('a', cb('send'));
      client.ping('p', undefined, cb('ping'));
      client.pong(cb('pong'));
      client.send('x', { fin: false });
      client.send('y', { fin: false });
      client.send('z', { fin: true }, cb('fin'));
      client.send(Buffer.from('b1'), { fin: false, binary: true });
      client.send('b2');
      client.send();
      client.send(123, cb('number'));
      await all;
      assert.deepEqual(got, ['a false', 'xyz false', 'b1b2 true', ' true', '123 false']);
      assert.deepEqual(callbacks, ['send null', 'ping null', 'pong null', 'fin null', 'number null']);
      client.close();
      const [code, reason] = await once(client, 'close');
      assert.deepEqual([code, String(reason), client.readyState], [1005, '', 3]);
    });

    it('the constructor throws ws’s SyntaxErrors for bad URLs and subprotocols', () => {
      const thrown: string[] = [];
      for (const [address, protocols] of [
        ['foo://x', undefined],
        ['ws://x/#frag', undefined],
        ['not a url', undefined],
        ['ws://127.0.0.1:1', ['a', 'a']],
        ['ws://127.0.0.1:1', ['a b']],
        ['ws://127.0.0.1:1', 'x,y'],
      ] as const) {
        assert.throws(
          () => new impl.WebSocket(address, protocols),
          (e) => {
            thrown.push(describeError(e));
            return true;
          },
        );
      }
      assert.deepEqual(thrown, [
        'SyntaxError: The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"',
        'SyntaxError: The URL contains a fragment identifier',
        'SyntaxError: Invalid URL: not a url',
        'SyntaxError: An invalid or duplicated subprotocol was specified',
        'SyntaxError: An invalid or duplicated subprotocol was specified',
        'SyntaxError: An invalid or duplicated subprotocol was specified',
      ]);
    });

    it("a refused connection or an unanswered handshake: 'error', then 'close' 1006", async (t) => {
      const port = await freePort();
      assert.deepEqual(await failure(new impl.WebSocket(`ws://127.0.0.1:${port}`)), [
        `error Error ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}`,
        'close 1006 3',
      ]);
      const sockets: net.Socket[] = [];
      const silent = net.createServer((s) => sockets.push(s));
      t.after(() => {
        for (const s of sockets) s.destroy();
      });
      const silentPort = await httpServer(t, silent);
      assert.deepEqual(await failure(new impl.WebSocket(`ws://127.0.0.1:${silentPort}`, { handshakeTimeout: 50 })), [
        'error Error: Opening handshake has timed out',
        'close 1006 3',
      ]);
    });

    it('the subprotocol the server chose is checked against the offer', async (t) => {
      const server = http.createServer();
      server.on('upgrade', (req, socket) => {
        const chosen = req.url === '/none' ? '' : 'Sec-WebSocket-Protocol: zzz\r\n';
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\n${chosen}\r\n`,
        );
      });
      const port = await httpServer(t, server);
      const results = [];
      for (const [path, protocols] of [
        ['/', ['a']],
        ['/', []],
        ['/none', ['a']],
      ] as const) {
        results.push(await failure(new impl.WebSocket(`ws://127.0.0.1:${port}${path}`, protocols)));
      }
      assert.deepEqual(results, [
        ['error Error: Server sent an invalid subprotocol', 'close 1006 3'],
        ['error Error: Server sent a subprotocol but none was requested', 'close 1006 3'],
        ['error Error: Server sent no subprotocol', 'close 1006 3'],
      ]);
    });

    it("the client checks the server's answer with ws's errors", async (t) => {
      const head = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n';
      const answers: Record<string, (key: string) => string> = {
        'bad-accept': () => `${head}Upgrade: websocket\r\nSec-WebSocket-Accept: xxx\r\n\r\n`,
        'no-accept': () => `${head}Upgrade: websocket\r\n\r\n`,
        'bad-upgrade': (k) => `${head}Upgrade: foo\r\nSec-WebSocket-Accept: ${accept(k)}\r\n\r\n`,
        'unrequested-extension': (k) =>
          `${head}Upgrade: websocket\r\nSec-WebSocket-Accept: ${accept(k)}\r\nSec-WebSocket-Extensions: foo\r\n\r\n`,
        'bad-extension-parameter': (k) =>
          `${head}Upgrade: websocket\r\nSec-WebSocket-Accept: ${accept(k)}\r\n` +
          'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99\r\n\r\n',
      };
      const server = http.createServer();
      server.on('upgrade', (req, socket) =>
        socket.write(answers[String(req.url).slice(1)]!(String(req.headers['sec-websocket-key']))),
      );
      const port = await httpServer(t, server);
      const results: string[][] = [];
      for (const path of Object.keys(answers)) {
        results.push(await failure(new impl.WebSocket(`ws://127.0.0.1:${port}/${path}`)));
      }
      assert.deepEqual(
        results.map((r) => r.join(', ')),
        [
          'Invalid Sec-WebSocket-Accept header',
          'Invalid Sec-WebSocket-Accept header',
          'Invalid Upgrade header',
          'Server indicated an extension that was not requested',
          'Invalid Sec-WebSocket-Extensions header',
        ].map((m) => `error Error: ${m}, close 1006 3`),
      );
    });

    it("a client's maxPayload: RangeError WS_ERR_UNSUPPORTED_MESSAGE_LENGTH, the server sees 1009", async (t) => {
      const { wss, port } = await listen(t, impl);
      const serverClosed = new Promise<number>((resolve) =>
        wss.on('connection', (s: Any) => {
          s.send('x'.repeat(100));
          s.on('close', resolve);
        }),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 10 });
      client.on('message', () => assert.fail('the message is over maxPayload'));
      const events = await failure(client);
      assert.deepEqual(events, [
        'open',
        'error RangeError WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: Max payload size exceeded',
        'close 1006 3',
      ]);
      assert.equal(await serverClosed, 1009);
    });

    it('the heartbeat pattern: ping every client, mark it alive on pong, terminate()', async (t) => {
      const { wss, port } = await listen(t, impl);
      const ponged = new Promise<void>((resolve) =>
        wss.on('connection', (s: Any) => {
          s.isAlive = true;
          s.on('pong', () => {
            s.isAlive = true;
            resolve();
          });
        }),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      while (wss.clients.size === 0) await new Promise((r) => setImmediate(r));
      for (const s of wss.clients) {
        s.isAlive = false;
        s.ping();
      }
      await ponged;
      const [s] = [...wss.clients] as Any[];
      assert.deepEqual([s.isAlive, s.readyState === impl.WebSocket.OPEN], [true, true]);
      const serverClosed = once(s, 'close');
      s.terminate();
      assert.equal(s.readyState, impl.WebSocket.CLOSING);
      const [code] = await once(client, 'close');
      assert.deepEqual([code, (await serverClosed)[0], s.readyState, wss.clients.size], [1006, 1006, 3, 0]);
    });

    it('argument checks of ping, pong and close; isPaused through the life', async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const results: string[] = [];
      for (const f of [
        () => client.ping('x'.repeat(126)),
        () => client.pong(Buffer.alloc(126)),
        () => client.close(1004),
        () => client.close('1000'),
        () => client.close(1000, Buffer.alloc(124)),
      ]) {
        assert.throws(f, (e) => {
          results.push(describeError(e));
          return true;
        });
      }
      assert.deepEqual(results, [
        'RangeError: The data size must not be greater than 125 bytes',
        'RangeError: The data size must not be greater than 125 bytes',
        'TypeError: First argument must be a valid error code number',
        'TypeError: First argument must be a valid error code number',
        'RangeError: The message must not be greater than 123 bytes',
      ]);
      const paused = [client.isPaused];
      client.pause();
      paused.push(client.isPaused);
      client.resume();
      client.resume();
      paused.push(client.isPaused);
      client.terminate();
      await once(client, 'close');
      client.pause();
      paused.push(client.isPaused);
      assert.deepEqual(paused, [false, true, false, false]);
    });

    it("verifyClient's info (origin, secure, req) and the client's origin and headers options", async (t) => {
      const infos: string[] = [];
      const { wss, port } = await listen(t, impl, {
        verifyClient: (info: Any) => {
          infos.push(`${Object.keys(info).sort()} ${info.origin} ${info.secure} ${info.req.url}`);
          return true;
        },
      });
      const connected = new Promise<string>((resolve) =>
        wss.on('connection', (s: Any, req: http.IncomingMessage) =>
          resolve(
            `${req.headers.origin} ${req.headers['x-a']} ${typeof s._socket.remoteAddress} ${wss.clients.has(s)}`,
          ),
        ),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/x?y=1`, {
        origin: 'http://o.example',
        headers: { 'X-A': 'b' },
      });
      await once(client, 'open');
      assert.deepEqual(infos, ['origin,req,secure http://o.example false /x?y=1']);
      assert.equal(await connected, 'http://o.example b string true');
      client.close();
      await once(client, 'close');
    });

    it('wss:// on an https server (the `server` option): the CA given connects, verifyClient sees secure', async (t) => {
      const server = https.createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') });
      const wss = new impl.WebSocketServer({ server, verifyClient: (info: Any) => info.secure === true });
      wss.on('connection', (s: Any) => s.on('message', (d: Buffer) => s.send(`echo ${d}`)));
      t.after(() => wss.close());
      const port = await httpServer(t, server);
      const client = new impl.WebSocket(`wss://localhost:${port}/`, { ca: fixture('cert.pem') });
      await once(client, 'open');
      client.send('over tls');
      const [data] = await once(client, 'message');
      assert.equal(String(data), 'echo over tls');
      assert.equal(typeof client._socket.getPeerCertificate, 'function');
      client.close(1000);
      assert.equal((await once(client, 'close'))[0], 1000);
      // Without the CA the certificate is refused: 'error', then 'close' 1006.
      const events = await failure(new impl.WebSocket(`wss://localhost:${port}/`));
      assert.equal(events.length, 2);
      assert.match(events[0]!, /^error Error .*self.signed|certificate/i);
      assert.equal(events[1], 'close 1006 3');
    });

    it("binaryType 'fragments': an array whose Buffers make the message", async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (s: Any) => {
        s.send(Buffer.from('ab'), { fin: false });
        s.send(Buffer.from('cd'), { fin: true });
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      client.binaryType = 'fragments';
      const [data, binary] = await once(client, 'message');
      assert.ok(Array.isArray(data));
      assert.deepEqual([String(Buffer.concat(data)), binary], ['abcd', true]);
      // ws gives one Buffer per frame; ws-stream/ws the whole message in one (doc/ws-compat.md).
      assert.equal(data.length, impl.name === 'ws' ? 2 : 1);
      client.terminate();
    });
  });
}
