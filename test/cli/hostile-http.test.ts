/**
 * `ws-stream serve` and `serve --pubsub` against hostile HTTP, with real sockets: slow and silent
 * connections, oversized and malformed heads, methods other than GET, upgrades to something else.
 * Both modes share one HTTP front and must answer alike; after each case the server still serves.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { RawClient, startServer } from '../conformance/raw-client.js';
import { parseFrames, requestHead, text as textFrame } from '../support/frames.js';
import { closedEvenIfReset, exchange as exchangeOn } from '../support/peer.js';

type Server = Awaited<ReturnType<typeof startServer>>;

/** Everything the server sends on a new connection after `request`, until it closes the connection. */
function exchange(port: number, request?: string | Buffer): Promise<string> {
  return exchangeOn(net.connect(port, '127.0.0.1'), request);
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1] ?? 0);
const bodyOf = (response: string): string => response.slice(response.indexOf('\r\n\r\n') + 4);

/** A WebSocket that works: echoes (echo mode) or answers a subscribe (pub/sub mode). */
async function stillServes(port: number, pubsub: boolean): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  const reply = once(ws, 'message');
  ws.send(pubsub ? JSON.stringify({ op: 'subscribe', topic: 'alive' }) : 'alive?');
  const [data] = (await reply) as [Buffer];
  if (pubsub) assert.equal(JSON.parse(data.toString()).op, 'subscribed');
  else assert.equal(data.toString(), 'alive?');
  ws.close();
  await once(ws, 'close');
}

for (const mode of [[], ['--pubsub']]) {
  const pubsub = mode.length > 0;
  describe(`ws-stream serve ${mode.join(' ')} --handshake-timeout 0.5 against hostile HTTP`, {
    timeout: 60_000,
  }, () => {
    let server: Server;
    before(async () => {
      server = await startServer([...mode, '--handshake-timeout', '0.5']);
    });
    after(async () => {
      await server.stop();
    });

    it('a connection that sends nothing is dropped, with no response', async () => {
      assert.equal(await exchange(server.port), '');
    });

    it('a request head trickled a byte at a time is dropped before it is done', async () => {
      const socket = net.connect(server.port, '127.0.0.1');
      const head = requestHead();
      let sent = 0;
      // exchange() ends on a reset as on a close: the server's drop can meet a trickled byte on its
      // way, and its kernel answers that with a reset (once(socket, 'close') rejects on it).
      const answered = exchangeOn(socket);
      const timer = setInterval(() => {
        if (sent < head.length) socket.write(head[sent++]!);
      }, 200);
      const got = await answered;
      clearInterval(timer);
      assert.equal(got, '');
      assert.ok(sent < head.length, `the whole head went out (${sent} bytes)`);
    });

    it('many silent connections at once are all dropped, and the server serves meanwhile', async () => {
      const silent = Array.from({ length: 200 }, () => exchange(server.port));
      await stillServes(server.port, pubsub);
      assert.deepEqual(new Set(await Promise.all(silent)), new Set(['']));
    });

    it('a head over 16 KiB: 431; 101 header fields: 431; on an upgrade and on a plain GET', async () => {
      const big = { 'X-Big': 'x'.repeat(100_000) };
      const fields: Record<string, string> = {};
      for (let i = 0; i < 101; i++) fields[`X-F${i}`] = 'v';
      for (const request of [
        requestHead(big),
        requestHead({ Upgrade: null, Connection: null, 'Sec-WebSocket-Key': null, ...big }, 'GET / HTTP/1.1'),
        requestHead(fields),
        `GET / HTTP/1.1\r\nHost: h\r\n${Object.keys(fields)
          .map((k) => `${k}: v\r\n`)
          .join('')}\r\n`,
      ]) {
        const response = await exchange(server.port, request);
        assert.equal(statusOf(response), 431, response.slice(0, 200));
        assert.match(response, /^Server: ws-stream$/m);
      }
    });

    it('RFC 9110 §15.5.15: a request line over 16 KiB is 414 URI Too Long (upgrade, page, behind a pipelined request); one that ended before the limit with a long field after it is 431', async () => {
      const target = `/${'a'.repeat(17_000)}`;
      const page = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
      const cases: [string, string[]][] = [
        [requestHead({}, `GET ${target} HTTP/1.1`), ['414']],
        [`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, ['414']],
        [`GET ${target}`, ['414']], // no end in sight
        [`\r\nGET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, ['414']], // behind an empty line
        [`${page}GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, ['200', '414']],
        [`GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: h\r\nX-A: ${'b'.repeat(9000)}\r\n\r\n`, ['431']],
        [`${page}GET / HTTP/1.1\r\nHost: h\r\nX-A: ${'b'.repeat(17_000)}\r\n\r\n`, ['200', '431']],
      ];
      for (const [request, statuses] of cases) {
        const response = await exchange(server.port, request);
        const got = [...response.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
        assert.deepEqual(got, statuses, `${JSON.stringify(request.slice(0, 40))}: ${response.slice(0, 200)}`);
        if (statuses.at(-1) === '414') {
          assert.match(response, /^HTTP\/1\.1 414 URI Too Long\r\n/m);
          assert.match(
            bodyOf(response.slice(response.lastIndexOf('HTTP/1.1 414'))),
            /: request line over 16384 bytes\n$/,
          );
        }
      }
    });

    it('RFC 9112 §3.2, RFC 6455 §3: a request target with a fragment is 400, on an upgrade and on a page request', async () => {
      for (const request of [
        requestHead({}, 'GET /#room HTTP/1.1'),
        requestHead({}, 'GET /chat# HTTP/1.1'),
        'GET /#top HTTP/1.1\r\nHost: h\r\n\r\n',
        'GET /index.html?x=1#top HTTP/1.1\r\nHost: h\r\n\r\n',
        'HEAD /# HTTP/1.1\r\nHost: h\r\n\r\n',
      ]) {
        // (RawClient.refused: an upgrade answered 101 fails at once, not when the WebSocket ends.)
        const response = await RawClient.refused(server.port, request);
        assert.equal(response.status, 400, `${request.split('\r\n')[0]}: ${response.head}`);
        if (request.startsWith('HEAD')) assert.equal(response.body, '');
        else assert.match(response.body, /the request target has a fragment/);
      }
    });

    it('bytes that are no HTTP, a bad request line, a bad header: 400', async () => {
      for (const request of [
        Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]),
        'GARBAGE\r\n\r\n',
        'GET / HTTP/9.9\r\nHost: h\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: h\r\nBad Header: v\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
        'GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n',
      ]) {
        const response = await exchange(server.port, request);
        assert.equal(statusOf(response), 400, `${JSON.stringify(String(request))}: ${response.slice(0, 200)}`);
      }
    });

    it('WebSocket headers on no valid upgrade: 400 with the reason; a wrong version: 426; HTTP/1.0: 400', async () => {
      const cases: [string, number, RegExp][] = [
        [requestHead({ Upgrade: null }), 400, /missing Upgrade header/],
        [requestHead({ Connection: 'keep-alive' }), 400, /Connection header lacks the "upgrade" token/],
        [requestHead({ 'Sec-WebSocket-Key': 'short' }), 400, /Sec-WebSocket-Key/],
        [requestHead({ 'Sec-WebSocket-Key': null }), 400, /missing Sec-WebSocket-Key/],
        [requestHead({ 'Sec-WebSocket-Version': '8' }), 426, /Sec-WebSocket-Version must be 13/],
        [requestHead({ Host: null }), 400, /Host/],
        [requestHead({}, 'POST / HTTP/1.1'), 400, /method must be GET/],
        [requestHead({}, 'GET / HTTP/1.0'), 400, /HTTP version/],
      ];
      for (const [request, status, reason] of cases) {
        const response = await exchange(server.port, request);
        assert.equal(statusOf(response), status, `${request.split('\r\n')[0]}: ${response.slice(0, 300)}`);
        assert.match(bodyOf(response), reason);
      }
    });

    it('RFC 9110 §9.3.2: a HEAD with the upgrade fields is refused with no content (400; 431 over 100 fields)', async () => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < 101; i++) fields[`X-F${i}`] = 'v';
      for (const [request, status, reason] of [
        [requestHead({}, 'HEAD / HTTP/1.1'), 400, 'method must be GET: HEAD\n'],
        [requestHead(fields, 'HEAD / HTTP/1.1'), 431, /^HTTP head too large or too many header fields/],
      ] as const) {
        const response = await exchange(server.port, request);
        assert.equal(statusOf(response), status, response.slice(0, 200));
        assert.equal(bodyOf(response), '', `${status}: content in the answer to a HEAD`);
        // Its fields are those of the same refusal with its reason: the reason's length.
        const length = Number(/\r\nContent-Length: (\d+)\r\n/i.exec(response)?.[1]);
        if (typeof reason === 'string') assert.equal(length, reason.length);
        else {
          const get = await exchange(server.port, request.replace('HEAD', 'GET'));
          assert.match(bodyOf(get), reason);
          assert.equal(length, bodyOf(get).length);
        }
      }
    });

    it('RFC 9112 §9.6: nothing is answered after an answer that closed the connection; a broken request behind pipelined ones is answered after them', async () => {
      const page = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
      const fields = Array.from({ length: 101 }, (_, i) => `X-F${i}: v\r\n`).join('');
      const cases: [string, string[]][] = [
        // The client asked for the close (a pipelined request behind it is not read), HTTP/1.0 too.
        [`GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n${page}`, ['200']],
        ['GET / HTTP/1.0\r\n\r\nJUNK\r\n\r\n', ['200']],
        // Our refusals say "Connection: close" themselves.
        [`${requestHead({ Connection: 'keep-alive' })}JUNK\r\n\r\n`, ['400']],
        [`GET / HTTP/1.1\r\nHost: h\r\n${fields}\r\nJUNK\r\n\r\n`, ['431']],
        // Five answers kept alive, then the 400 for what follows them, not in their place.
        [`${page.repeat(5)}JUNK\r\n\r\n`, ['200', '200', '200', '200', '200', '400']],
      ];
      for (const [request, statuses] of cases) {
        const response = await exchange(server.port, request);
        const got = [...response.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
        assert.deepEqual(got, statuses, `${JSON.stringify(request.slice(0, 80))}: ${response.slice(0, 200)}`);
      }
    });

    it('an upgrade to another protocol (h2c, TLS) is refused with 400, not switched', async () => {
      for (const upgrade of ['h2c', 'TLS/1.2', 'websocket2']) {
        const response = await exchange(
          server.port,
          `GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: ${upgrade}\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`,
        );
        assert.equal(statusOf(response), 400, `${upgrade}: ${response.slice(0, 200)}`);
      }
    });

    it('other methods on the page path: 405 with Allow: GET, HEAD; other paths: 404; HEAD / has no body; CONNECT is hung up', async () => {
      const requests: [string, number][] = [
        ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world', 405],
        ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 405],
        ['PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n', 404],
        ['DELETE / HTTP/1.1\r\nHost: h\r\n\r\n', 405],
        ['OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n', 404],
        ['PATCH /index.html?x=1 HTTP/1.1\r\nHost: h\r\n\r\n', 405],
        ['GET /nope HTTP/1.1\r\nHost: h\r\n\r\n', 404],
        ['GET /../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n', 404],
        ['GET http://evil.example/ HTTP/1.1\r\nHost: h\r\n\r\n', 404],
      ];
      // (Each on its own connection, all at once: each answer then waits for its deadline together.)
      const [[head, get, connect], responses] = await Promise.all([
        Promise.all([
          exchange(server.port, 'HEAD / HTTP/1.1\r\nHost: h\r\n\r\n'),
          exchange(server.port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n'),
          exchange(server.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
        ]),
        Promise.all(requests.map(([request]) => exchange(server.port, request))),
      ]);
      for (const [i, [request, status]] of requests.entries()) {
        const response = responses[i]!;
        const line = `${request.split('\r\n')[0]}: ${response.slice(0, 200)}`;
        assert.equal(statusOf(response), status, line);
        const body = status === 405 ? 'method not allowed\n' : 'not found\n';
        assert.equal(bodyOf(response), body);
        assert.match(response, new RegExp(`\r\nContent-Length: ${body.length}\r\n`, 'i'), line);
        if (status === 405) assert.match(response, /\r\nAllow: GET, HEAD\r\n/i, line);
        else assert.doesNotMatch(response, /\r\nAllow:/i, line);
      }
      assert.equal(statusOf(head), 200);
      assert.equal(bodyOf(head), '');
      // HEAD has GET's headers: the page's length, not 0.
      const length = /\r\nContent-Length: (\d+)\r\n/i.exec(head)?.[1];
      assert.equal(length, String(bodyOf(get).length)); // latin1: one char per byte
      assert.notEqual(length, '0');
      assert.doesNotMatch(connect, /^HTTP\/1\.1 200/, 'no tunnel');
    });

    it('a POST with a body larger than the server would keep, sent slowly, is cut off at the deadline', async () => {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
      });
      socket.write('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000\r\n\r\n');
      const timer = setInterval(() => socket.write('x'.repeat(1024)), 100);
      // (Not events.once, which rejects on 'error': cut while the client still writes, the
      // connection may end in a reset, ECONNRESET here, and that is this test's expected end.)
      await new Promise((resolve) => socket.once('close', resolve));
      clearInterval(timer);
      assert.equal(statusOf(got), 405);
    });

    it('RFC 9112 §9.3.2: an upgrade pipelined behind page requests is answered after them, and not behind a refusal that closed the connection', async () => {
      const pages = ['/a', '/b', '/c', '/d', '/'].map((p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n\r\n`).join('');
      const message = pubsub ? JSON.stringify({ op: 'subscribe', topic: 'behind-pages' }) : 'behind pages';
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      let got = Buffer.alloc(0);
      let closed = false;
      let wake = (): void => {};
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        wake();
      });
      socket.on('close', () => {
        closed = true;
        wake();
      });
      const switched = (): number => got.indexOf('HTTP/1.1 101 ');
      const afterSwitch = (): Buffer => got.subarray(got.indexOf('\r\n\r\n', switched()) + 4);
      // All in one write: node:http reads the six requests and the frame from one chunk.
      socket.write(Buffer.concat([Buffer.from(pages + requestHead()), textFrame(message)]));
      while (!closed && (switched() < 0 || parseFrames(afterSwitch()).frames.length === 0))
        await new Promise<void>((r) => {
          wake = r;
        });
      socket.destroy();
      const heads = got.subarray(0, switched() < 0 ? got.length : switched() + 12).toString('latin1');
      assert.deepEqual(heads.match(/^HTTP\/1\.1 \d{3}/gm), [
        ...Array(4).fill('HTTP/1.1 404'),
        'HTTP/1.1 200',
        'HTTP/1.1 101',
      ]);
      // After the 101 only frames: the reply to ours, no answer to a page request.
      const { frames, rest } = parseFrames(afterSwitch());
      assert.equal(frames.length, 1, afterSwitch().toString('latin1').slice(0, 200));
      assert.equal(rest.length, 0);
      if (pubsub) assert.equal(JSON.parse(frames[0]!.payload.toString()).op, 'subscribed');
      else assert.equal(frames[0]!.payload.toString(), message);
      // Behind our refusal, which says "Connection: close", the upgrade is not read.
      const refused = await exchange(server.port, `${requestHead({ Connection: 'keep-alive' })}${requestHead()}`);
      assert.deepEqual(refused.match(/^HTTP\/1\.1 \d{3}/gm), ['HTTP/1.1 400']);
    });

    it('a client that pipelines page requests and reads no answer is dropped at the deadline', async () => {
      const stalled = net.connect(server.port, '127.0.0.1');
      stalled.pause(); // reads nothing: the answers back up until the server stops reading requests
      const closed = closedEvenIfReset(stalled);
      let ended = false;
      void closed.then(() => {
        ended = true;
      });
      await once(stalled, 'connect');
      const requests = Buffer.from('GET / HTTP/1.1\r\nHost: h\r\n\r\n'.repeat(100));
      // Written as fast as the server takes them, until it drops the connection (the test's own
      // timeout is the failure: a connection kept forever never ends this loop).
      while (!ended) {
        if (!stalled.write(requests)) await Promise.race([new Promise((r) => stalled.once('drain', r)), closed]);
      }
      assert.equal(stalled.destroyed, true);
    });

    it('an upgrade pipelined behind page requests opens a WebSocket that outlives the HTTP deadline', async () => {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      let got = Buffer.alloc(0);
      let closed = false;
      const waiters: (() => void)[] = [];
      socket.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        for (const w of waiters.splice(0)) w();
      });
      socket.on('close', () => {
        closed = true;
        for (const w of waiters.splice(0)) w();
      });
      const until = async (cond: () => boolean): Promise<void> => {
        while (!cond()) await new Promise<void>((r) => waiters.push(r));
      };
      const frames = (): ReturnType<typeof parseFrames>['frames'] => {
        const at = got.indexOf('\r\n\r\n', got.indexOf('HTTP/1.1 101 '));
        return at < 0 || got.indexOf('HTTP/1.1 101 ') < 0 ? [] : parseFrames(got.subarray(at + 4)).frames;
      };
      // All in one write: node:http reads the three requests from one chunk.
      socket.write(`GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /x HTTP/1.1\r\nHost: h\r\n\r\n${requestHead()}`);
      await until(() => closed || got.includes('HTTP/1.1 101 '));
      const heads = got.toString('latin1').match(/^HTTP\/1\.1 \d{3}/gm);
      assert.deepEqual(heads, ['HTTP/1.1 200', 'HTTP/1.1 404', 'HTTP/1.1 101']);
      // A connection made now meets its deadline after the ones armed before it: once it is
      // dropped, a deadline wrongly left on the upgraded socket would have passed too.
      assert.equal(await exchange(server.port), '');
      assert.equal(closed, false, 'the WebSocket was cut at the HTTP deadline');
      socket.write(textFrame(pubsub ? JSON.stringify({ op: 'subscribe', topic: 'pipelined' }) : 'pipelined'));
      await until(() => closed || frames().length > 0);
      const [reply] = frames();
      assert.ok(reply, 'no reply: the connection closed');
      if (pubsub) assert.equal(JSON.parse(reply.payload.toString()).op, 'subscribed');
      else assert.equal(reply.payload.toString(), 'pipelined');
      socket.destroy();
    });

    it('after all of it the process still runs and serves WebSockets', async () => {
      assert.equal(server.proc.exitCode, null);
      await stillServes(server.port, pubsub);
    });
  });
}

for (const mode of [[], ['--pubsub']]) {
  const pubsub = mode.length > 0;
  it(`serve ${mode.join(' ')}: 300 WebSockets opened at once are all served, then all closed cleanly`, async () => {
    const server = await startServer(mode);
    try {
      const clients = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
          await once(ws, 'open');
          const reply = once(ws, 'message');
          ws.send(pubsub ? JSON.stringify({ op: 'subscribe', topic: `c${i % 10}` }) : `hello ${i}`);
          const [data] = (await reply) as [Buffer];
          if (pubsub) assert.equal(JSON.parse(data.toString()).topic, `c${i % 10}`);
          else assert.equal(data.toString(), `hello ${i}`);
          return ws;
        }),
      );
      const codes = clients.map((ws) => once(ws, 'close').then(([code]) => code as number));
      for (const ws of clients) ws.close(1000);
      assert.deepEqual(new Set(await Promise.all(codes)), new Set([1000]));
      await stillServes(server.port, pubsub);
    } finally {
      await server.stop();
    }
  });

  // Across processes only the order shows (a ping, then the close): where they fall in the idle
  // time is checked on a mocked clock in test/stream/idle-window. One second, not less: the live
  // client's pong must reach the server within the half of it after the ping, on a loaded machine too.
  it(`serve ${mode.join(' ')} --idle-timeout 1: a silent WebSocket gets a keep-alive ping, then close 1001; one that answers pings stays`, async () => {
    const server = await startServer([...mode, '--idle-timeout', '1']);
    try {
      // ws answers pings by itself: it is never idle. A raw client that does not answer is.
      const live = new WebSocket(`ws://127.0.0.1:${server.port}/`);
      await once(live, 'open');
      let pings = 0;
      const twoPings = new Promise<string>((resolve) => {
        live.on('ping', () => ++pings === 2 && resolve('two pings'));
        live.once('close', (code: number) => resolve(`closed ${code} after ${pings} ping(s)`));
      });
      const silent = await RawClient.connect(server.port);
      const first = await silent.next('a keep-alive ping');
      assert.equal(first.opcode, 9);
      assert.deepEqual(await silent.expectClose(), { code: 1001, before: [] });
      silent.destroy();
      // `live` was pinged too (the same timer) and answered: still open and served.
      assert.equal(await twoPings, 'two pings');
      assert.equal(live.readyState, WebSocket.OPEN);
      const reply = once(live, 'message');
      live.send(pubsub ? JSON.stringify({ op: 'subscribe', topic: 'idle' }) : 'still here');
      assert.ok(((await reply) as [Buffer])[0].length > 0);
      live.close();
      await once(live, 'close');
    } finally {
      await server.stop();
    }
  });
}
