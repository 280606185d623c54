/**
 * Empty lines before the request line (RFC 9112 §2.2: a server SHOULD ignore at least one; a bare
 * LF may be taken as a line end). The library's own request parser skips any number of CRLF or
 * bare-LF lines there, as node:http does, but counts them towards `maxHeaderBytes`, so that a peer
 * sending empty lines without end is answered 431; a bare CR there is refused (400). Checked on the
 * pure reader, split at every byte, and with bytes on the wire against `accept()` and
 * `readRequest()` over `net`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { readRequest, WebSocketStream } from '../../src/index.js';
import {
  HeadError,
  HeadReader,
  type ParsedRequest,
  parseRequestHead,
  parseResponseHead,
} from '../../src/proto/http.js';
import { attack, netServer } from '../support/hostile.js';
import { requestHead } from '../support/frames.js';

const limits = { maxHeaderBytes: 16 * 1024, maxHeaders: 64 };
const REQUEST = requestHead();

/** Feeds `bytes` in pieces cut at `cuts`; the parsed request and the bytes after it, or the error's status. */
function read(bytes: Buffer, cuts: number[] = []): { request: ParsedRequest; rest: string } | number {
  const reader = new HeadReader(limits, parseRequestHead);
  let at = 0;
  try {
    for (const end of [...cuts, bytes.length]) {
      const r = reader.push(bytes.subarray(at, end));
      at = end;
      // The bytes after the head: those of this piece, and those not fed yet.
      if (r.done) return { request: r.head, rest: r.rest.toString('latin1') + bytes.toString('latin1', end) };
    }
  } catch (e) {
    assert.ok(e instanceof HeadError, String(e));
    return e.status;
  }
  return 0; // unfinished
}

const accepted: [string, string][] = [
  ['one CRLF', '\r\n'],
  ['three CRLF', '\r\n\r\n\r\n'],
  ['a bare LF', '\n'],
  ['bare LFs and CRLFs mixed', '\n\r\n\n\r\n'],
  ['1,000 CRLF', '\r\n'.repeat(1000)],
];

describe('HeadReader: empty lines before the request line', () => {
  for (const [name, prefix] of accepted) {
    it(`${name}: skipped, whole or split at every byte`, () => {
      const bytes = Buffer.from(`${prefix}${REQUEST}tail`, 'latin1');
      const step = Math.max(1, Math.floor(bytes.length / 300));
      let checked = 0;
      for (let cut = 0; cut <= bytes.length; cut += step) {
        const r = read(bytes, cut === 0 ? [] : [cut]);
        assert.ok(typeof r === 'object', `cut at ${cut}: ${r}`);
        assert.equal(r.request.method, 'GET');
        assert.equal(r.request.target, '/chat');
        assert.equal(r.request.headers['sec-websocket-version'], '13');
        assert.equal(r.rest, 'tail');
        checked++;
      }
      assert.ok(checked > 100);
      // One byte at a time.
      const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
      const r = read(bytes, cuts);
      assert.ok(typeof r === 'object');
      assert.equal(r.rest, 'tail');
    });
  }

  it('empty lines without end are cut by maxHeaderBytes (431), whole or in small pieces', () => {
    assert.equal(read(Buffer.from('\r\n'.repeat(limits.maxHeaderBytes))), 431);
    const reader = new HeadReader(limits, parseRequestHead);
    let status = 0;
    let pushed = 0;
    try {
      for (;;) {
        assert.equal(reader.push(Buffer.from('\r\n\n')).done, false);
        pushed += 3;
        assert.ok(pushed <= limits.maxHeaderBytes, 'cut by the limit');
      }
    } catch (e) {
      status = (e as HeadError).status;
    }
    assert.equal(status, 431);
    // The empty lines count: a request that would fit alone does not fit behind them.
    assert.equal(
      read(Buffer.from(`${'\r\n'.repeat((limits.maxHeaderBytes - REQUEST.length) / 2 + 1)}${REQUEST}`)),
      431,
    );
    assert.equal(
      typeof read(Buffer.from(`${'\r\n'.repeat((limits.maxHeaderBytes - REQUEST.length) / 2 - 1)}${REQUEST}`)),
      'object',
    );
  });

  it('a head not yet ended waits up to maxHeaderBytes bytes; one byte more is 431', () => {
    const start = 'GET / HTTP/1.1\r\nX-A: ';
    const unfinished = (n: number): Buffer => Buffer.from(start + 'a'.repeat(n - start.length));
    assert.equal(read(unfinished(limits.maxHeaderBytes)), 0);
    assert.equal(read(unfinished(limits.maxHeaderBytes + 1)), 431);
  });

  it('RFC 9110 §15.5.15: a request line alone over maxHeaderBytes is 414, whole or in pieces; a long field stays 431', () => {
    const longLine = `GET /${'a'.repeat(limits.maxHeaderBytes)} HTTP/1.1\r\n`;
    const cuts = (bytes: Buffer, size: number): number[] =>
      Array.from({ length: Math.ceil(bytes.length / size) - 1 }, (_, i) => (i + 1) * size);
    for (const bytes of [
      Buffer.from(`${longLine}Host: h\r\n\r\n`), // whole: its line ends past the limit
      Buffer.from(longLine.slice(0, limits.maxHeaderBytes + 1)), // not ended when the limit passes
      Buffer.from(`\r\n${longLine}`), // behind an empty line (skipped)
    ]) {
      assert.equal(read(bytes), 414, JSON.stringify(bytes.toString('latin1', 0, 20)));
      assert.equal(read(bytes, cuts(bytes, 1000)), 414, 'in pieces of 1,000 bytes');
    }
    // A request line that ends within the limit, then a field that does not: the head is too large.
    const longField = Buffer.from(
      `GET /${'a'.repeat(limits.maxHeaderBytes / 2)} HTTP/1.1\r\nX-A: ${'b'.repeat(limits.maxHeaderBytes)}`,
    );
    assert.equal(read(longField), 431);
    assert.equal(read(longField, cuts(longField, 1000)), 431);
    // The empty lines before it count towards the head, not towards the request line.
    const behindEmptyLines = Buffer.from(
      `${'\r\n'.repeat(limits.maxHeaderBytes / 2)}GET /${'a'.repeat(limits.maxHeaderBytes / 2)}`,
    );
    assert.equal(read(behindEmptyLines), 431);
    // A response's status line is no request line: 431 as before (the client's reader).
    const response = new HeadReader(limits, parseResponseHead);
    assert.throws(() => response.push(Buffer.from(`HTTP/1.1 101 ${'a'.repeat(limits.maxHeaderBytes)}`)), {
      status: 431,
    });
  });

  it('a bare CR, or white space, before the request line: 400', () => {
    assert.equal(read(Buffer.from(`\r${REQUEST}`)), 400);
    assert.equal(read(Buffer.from(`\r\n\r\r\n${REQUEST}`)), 400);
    assert.equal(read(Buffer.from(` \r\n${REQUEST}`)), 400);
    // A CR at the end of a piece waits for the next one.
    assert.equal(read(Buffer.from(`\r\r${REQUEST}`), [1]), 400);
    assert.equal(typeof read(Buffer.from(`\r\n${REQUEST}`), [1]), 'object');
  });

  it('a response is not a request: an empty line before the status line is not skipped', () => {
    const reader = new HeadReader(limits, parseResponseHead);
    assert.throws(() => reader.push(Buffer.from('\r\nHTTP/1.1 101 Switching Protocols\r\nA: b\r\n\r\n')), HeadError);
  });
});

/** A server of `net` + `readRequest()`: resolves each connection's request method, or its error code. */
async function readRequestServer(t: TestContext): Promise<{ port: number; next: () => Promise<string> }> {
  const results: Promise<string>[] = [];
  const waiting: ((p: Promise<string>) => void)[] = [];
  const server = net.createServer((socket) => {
    const p = readRequest(socket).then(
      (r) => `${r.request.method} ${r.request.target} rest=${JSON.stringify(r.head.toString())}`,
      (e: { code: string }) => e.code,
    );
    p.finally(() => socket.destroy());
    const w = waiting.shift();
    if (w) w(p);
    else results.push(p);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return {
    port: (server.address() as net.AddressInfo).port,
    next: () => results.shift() ?? new Promise<Promise<string>>((r) => waiting.push(r)).then((p) => p),
  };
}

describe('accept() and readRequest() over net: empty lines before the request line', () => {
  it('CRLF and bare-LF lines before the request: 101, and the echo works; a bare CR: 400', async (t) => {
    const server = await netServer(t);
    for (const [name, prefix] of accepted) {
      for (const perByte of [false, true]) {
        if (perByte && prefix.length > 20) continue;
        const ex = await attack(server.port, [prefix, REQUEST], { closeIfOpened: true, perByte });
        assert.equal(ex.status, 101, `${name}${perByte ? ' (one byte per write)' : ''}: ${ex.head}`);
        const outcome = await server.next();
        assert.equal(outcome.accept, 'ok', name);
        assert.equal(outcome.info?.code, 1000, name);
      }
    }
    const ex = await attack(server.port, [`\r${REQUEST}`]);
    assert.equal(ex.status, 400);
    assert.equal((await server.next()).accept, 'ERR_WS_BAD_REQUEST');
  });

  it('endless empty lines are answered 431 by accept() once past maxHeaderBytes (16 KiB)', async (t) => {
    const server = await netServer(t);
    // 64 KiB of empty lines, then a request: the server answers 431 before the request.
    const ex = await attack(server.port, ['\r\n'.repeat(32 * 1024), REQUEST]);
    assert.equal(ex.status, 431, ex.head);
    assert.equal((await server.next()).accept, 'ERR_WS_HEADER_LIMIT');
  });

  it('readRequest(): the request behind empty lines, and the bytes after it', async (t) => {
    const server = await readRequestServer(t);
    const socket = net.connect(server.port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    socket.write(`\n\r\n${REQUEST}abc`);
    assert.equal(await server.next(), 'GET /chat rest="abc"');
    const bad = net.connect(server.port, '127.0.0.1');
    t.after(() => bad.destroy());
    bad.on('error', () => {});
    bad.write(`\r\n\rx${REQUEST}`);
    assert.equal(await server.next(), 'ERR_WS_BAD_REQUEST');
  });

  it('a WebSocketStream given the empty lines as `head` skips them too', async (t) => {
    const server = net.createServer();
    const accepted = new Promise<string>((resolve) => {
      server.on('connection', (socket) => {
        const ws = new WebSocketStream(socket);
        ws.accept({ head: Buffer.from('\r\n\n') }).then(
          () => {
            resolve('ok');
            ws.read().catch(() => {}); // reads the client's close frame and answers it
          },
          (e: { code: string }) => resolve(e.code),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const ex = await attack((server.address() as net.AddressInfo).port, [REQUEST], { closeIfOpened: true });
    assert.equal(ex.status, 101);
    assert.equal(await accepted, 'ok');
  });
});
