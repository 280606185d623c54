/** `ws-stream serve` as a person runs it: the URL printed, the page, and Ctrl-C closing connections with 1001. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startServer } from './raw-client.js';
import { floodUntilServerStopsReading, serverTurns } from '../support/hostile.js';

it('prints its URL, serves the page at GET /, and on SIGINT says "shutting down", sends close 1001 and exits 0', async () => {
  const server = await startServer();
  let printedAfterStart = '';
  server.proc.stdout!.on('data', (d: Buffer) => {
    printedAfterStart += d.toString();
  });
  const page = await fetch(`http://127.0.0.1:${server.port}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>ws-stream echo<\/title>/);
  const c = await RawClient.connect(server.port);
  const exited = new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
  server.proc.kill('SIGINT');
  assert.deepEqual(await c.expectClose(), { code: 1001, before: [] });
  assert.equal(await exited, 0);
  await server.stop(); // (gone already: this waits for the end of its stdout)
  assert.equal(printedAfterStart, 'shutting down\n');
  c.destroy();
});

import { fileURLToPath } from 'node:url';
import { runConnectEcho } from '../cli/cli-support.js';
import { startInteropServer } from '../interop/support.js';

it('ws-stream connect: a typed line is sent and its echo printed; end of input closes with 1000', async () => {
  const server = await startServer();
  try {
    const { code, out } = await runConnectEcho([`ws://127.0.0.1:${server.port}/`], 'hello there ✓');
    assert.equal(code, 0);
    assert.match(out, /^connected to ws:\/\/127\.0\.0\.1:\d+\//m);
    assert.match(out, /^< hello there ✓$/m);
    assert.match(out, /^closed by local: 1000$/m);
  } finally {
    await server.stop();
  }
});

it('ws-stream connect: a refused upgrade prints the status line and body, and exits 1', async () => {
  const srv = await startInteropServer();
  try {
    const { code, err } = await runConnectEcho([`ws://127.0.0.1:${srv.port}/forbidden`], 'unsent');
    assert.equal(code, 1);
    assert.match(err, /refused the upgrade: HTTP 403 Forbidden/);
    assert.match(err, /^forbidden$/m);
  } finally {
    srv.close();
  }
});

it('ws-stream serve --idle-timeout: a silent client gets a keep-alive ping at half the time, then close 1001', async () => {
  const server = await startServer(['--idle-timeout', '0.3']);
  try {
    const c = await RawClient.connect(server.port);
    const first = await c.next('a keep-alive ping');
    assert.equal(first.opcode, 9);
    assert.deepEqual(await c.expectClose(), { code: 1001, before: [] });
    c.destroy();
  } finally {
    await server.stop();
  }
});

// (0.0001 s is 0.1 ms: rounded to the nearest ms it would be 0, which means no idle timeout at all)
it('ws-stream serve --idle-timeout 0.0001: a time under 1 ms is 1 ms, not none: a silent client is closed with 1001', {
  timeout: 60_000,
}, async () => {
  const server = await startServer(['--idle-timeout', '0.0001']);
  try {
    const c = await RawClient.connect(server.port);
    const { code, before } = await c.expectClose();
    assert.equal(code, 1001);
    // (at 1 ms its keep-alive ping, due at half of it, may or may not come first)
    assert.deepEqual(
      before.map((f) => f.opcode).filter((op) => op !== 9),
      [],
    );
    c.destroy();
  } finally {
    await server.stop();
  }
});

it('ws-stream serve applies backpressure end to end: a client that sends fast and never reads is no longer read from', async () => {
  const server = await startServer();
  try {
    const c = await RawClient.connect(server.port);
    const turns = await serverTurns(server.port);
    c.sock.pause();
    const { text: textFrame } = await import('../support/frames.js');
    const batch = Buffer.concat(Array.from({ length: 256 }, () => textFrame('x'.repeat(1024))));
    // Until the server's end of the connection takes nothing while bytes wait there and it answers
    // pings on another connection (not "our side has 4 MiB queued", which a server slower than us shows too).
    const { written, stopped } = await floodUntilServerStopsReading(
      c.sock as import('node:net').Socket,
      batch,
      turns,
      64 * 1024 * 1024,
    );
    assert.ok(stopped, `the server kept reading: ${written} bytes went out and were taken`);
    turns.close();
    c.destroy();
  } finally {
    await server.stop();
  }
});

it('ws-stream serve --deflate survives 200 connections of random bytes (before and after the handshake) and still echoes', async () => {
  const net = await import('node:net');
  const { randomBytes } = await import('node:crypto');
  const { requestHead, text: textFrame } = await import('../support/frames.js');
  const server = await startServer(['--deflate']);
  try {
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(server.port, '127.0.0.1');
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.on('connect', () => {
          if (i % 3) s.write(requestHead(i % 2 ? { 'Sec-WebSocket-Extensions': 'permessage-deflate' } : {}));
          const junk = randomBytes(1 + ((i * 37) % 3000));
          if (i % 4 === 0) {
            junk[0] = 0xc1;
            junk[1] = 0x80 | (junk[1]! & 0x7d);
          } // RSV1 text frames, masked
          s.write(junk);
          setImmediate(() => {
            if (i % 2) s.destroy();
            else s.end();
            resolve();
          });
        });
      });
    }
    assert.equal(server.proc.exitCode, null, 'the server is alive');
    const c = await RawClient.connect(server.port);
    c.send(textFrame('still echoing'));
    assert.equal((await c.nextMessage()).payload.toString(), 'still echoing');
    c.destroy();
  } finally {
    await server.stop();
  }
});

// ---------------------------------------------------------------- serve against hostile clients

import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import { once } from 'node:events';
import { after, before, describe } from 'node:test';
import type { Duplex } from 'node:stream';
import { requestHead } from '../support/frames.js';
import { closedEvenIfReset, exchange } from '../support/peer.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));

/** Connects, and once connected writes `text` a byte at a time, one every `ms`, until the connection closes. */
function trickle(socket: Duplex, text: string, ms: number): { sent(): number } {
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < text.length) socket.write(text[sent++]!);
  }, ms);
  socket.once('close', () => clearInterval(timer));
  return { sent: () => sent };
}

/** `count` header fields of its own, to add to requestHead()'s five. */
function extraFields(count: number): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i < count; i++) h[`X-Field-${i}`] = 'v';
  return h;
}

const bodyOf = (response: string): string => response.slice(response.indexOf('\r\n\r\n') + 4);

describe('ws-stream serve --handshake-timeout 0.5 (HTTP/1.1): the deadline counts from the TCP connection', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer(['--handshake-timeout', '0.5']);
  });
  after(() => server.stop());

  it('a client that connects and sends nothing is dropped, with no response', { timeout: 30000 }, async () => {
    assert.equal(await exchange(net.connect(server.port, '127.0.0.1')), '');
  });

  it('a client that trickles its request head, a byte every 0.1 s, is dropped before it is done', {
    timeout: 30000,
  }, async () => {
    const s = net.connect(server.port, '127.0.0.1');
    const head = requestHead();
    const t = trickle(s, head, 100);
    assert.equal(await exchange(s), '');
    assert.ok(t.sent() < head.length, `the whole head went out (${t.sent()} bytes)`);
  });

  it('after a page, a trickled next request on the same connection is dropped too', { timeout: 30000 }, async () => {
    const s = net.connect(server.port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
    });
    s.on('error', () => {});
    s.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (got.includes('</html>')) {
          s.off('data', check);
          resolve();
        }
      };
      s.on('data', check);
    });
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    // Taken by exchange(), which also ends on a reset: the server's drop may meet a trickled byte on
    // its way, and its kernel answers that with a reset (once(s, 'close') failed on that ECONNRESET).
    const afterPage = exchange(s);
    const next = requestHead();
    const t = trickle(s, next, 100);
    assert.equal(await afterPage, '', 'nothing answered the trickled request');
    assert.ok(t.sent() < next.length);
  });

  it('a WebSocket opened in time stays open after the deadline passed', { timeout: 30000 }, async () => {
    const c = await RawClient.connect(server.port);
    // A silent connection made after it is dropped: the deadline has passed for the WebSocket too.
    assert.equal(await exchange(net.connect(server.port, '127.0.0.1')), '');
    const { text: textFrame } = await import('../support/frames.js');
    c.send(textFrame('still here'));
    assert.equal((await c.nextMessage()).payload.toString(), 'still here');
    c.destroy();
  });
});

describe('ws-stream serve --tls --handshake-timeout 0.5: the TLS handshake and HTTP/2 sessions count too', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer([
      '--tls',
      '--cert',
      fixture('cert.pem'),
      '--key',
      fixture('key.pem'),
      '--handshake-timeout',
      '0.5',
    ]);
  });
  after(() => server.stop());
  const tlsConnect = (): tls.TLSSocket =>
    tls.connect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });

  it('over TLS, HTTP/1.1 requests meet the same rules: 431 for a 100 KB header, 400 for WebSocket headers on no upgrade', {
    timeout: 30000,
  }, async () => {
    const big = await exchange(tlsConnect(), requestHead({ 'X-Big': 'a'.repeat(100 * 1024) }, 'GET / HTTP/1.1'));
    assert.match(big, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const broken = await exchange(tlsConnect(), requestHead({ Connection: 'keep-alive' }, 'GET / HTTP/1.1'));
    assert.match(broken, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(bodyOf(broken), 'Connection header lacks the "upgrade" token\n');
  });

  it('a TCP connection that never starts the TLS handshake is dropped', { timeout: 30000 }, async () => {
    assert.equal(await exchange(net.connect(server.port, '127.0.0.1')), '');
  });

  it('a TLS connection that sends no request is dropped', { timeout: 30000 }, async () => {
    const s = tlsConnect();
    const closed = exchange(s);
    await once(s, 'secureConnect');
    assert.equal(s.alpnProtocol, 'http/1.1');
    assert.equal(await closed, '');
  });

  it('a TLS connection that trickles its request head is dropped', { timeout: 30000 }, async () => {
    const s = tlsConnect();
    const closed = exchange(s);
    const head = requestHead();
    // On a loaded machine the deadline may already pass during the TLS handshake: dropped as well.
    let t = null as { sent(): number } | null;
    s.once('secureConnect', () => {
      t = trickle(s, head, 100);
    });
    assert.equal(await closed, '');
    assert.ok((t?.sent() ?? 0) < head.length);
  });

  it('an HTTP/2 session that opens no stream is dropped', { timeout: 30000 }, async () => {
    const session = http2.connect(`https://127.0.0.1:${server.port}`, { rejectUnauthorized: false });
    // Not once(session, 'close'): it rejects on the reset the server's drop may meet (our SETTINGS ack
    // on its way), and the drop is what this checks.
    const closed = closedEvenIfReset(session);
    await once(session, 'connect');
    await closed;
    assert.equal(session.destroyed, true);
  });

  it('a WebSocket opened in time over HTTP/2 stays open after the deadline', {
    timeout: 30000,
  }, async () => {
    const h2 = await RawClient.connectH2(server.port);
    assert.equal(await exchange(net.connect(server.port, '127.0.0.1')), '');
    const { text: textFrame } = await import('../support/frames.js');
    h2.send(textFrame('over HTTP/2'));
    assert.equal((await h2.nextMessage()).payload.toString(), 'over HTTP/2');
    h2.destroy();
  });
});

describe('ws-stream serve refuses broken and oversized requests with a status and a one-line reason', {
  timeout: 30000,
}, () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());
  const ask = (request: string): Promise<string> => exchange(net.connect(server.port, '127.0.0.1'), request);

  for (const [name, over, reason] of [
    ['no Upgrade', { Upgrade: null }, 'missing Upgrade header'],
    ['no Connection', { Connection: null }, 'missing Connection header'],
    [
      'Connection: keep-alive without upgrade',
      { Connection: 'keep-alive' },
      'Connection header lacks the "upgrade" token',
    ],
    [
      'only Sec-WebSocket-Version',
      { Upgrade: null, Connection: null, 'Sec-WebSocket-Key': null },
      'missing Connection header',
    ],
  ] as const) {
    it(`WebSocket handshake headers with ${name}: 400`, async () => {
      const response = await ask(requestHead(over, 'GET / HTTP/1.1'));
      assert.match(response, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(response, /\r\nConnection: close\r\n/i);
      assert.equal(bodyOf(response), `${reason}\n`);
    });
  }

  it("a browser's plain GET / still gets the page", async () => {
    const response = await ask(
      'GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\nUpgrade-Insecure-Requests: 1\r\nConnection: close\r\n\r\n',
    );
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(response, /<title>ws-stream echo<\/title>/);
  });

  it('a 100 KB header: 431', async () => {
    const response = await ask(requestHead({ 'X-Big': 'a'.repeat(100 * 1024) }, 'GET / HTTP/1.1'));
    assert.match(response, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.match(bodyOf(response), /^[^\n]*HTTP head over 16384 bytes\n$/);
  });

  it('101 header fields: 431, on an upgrade and on a plain GET; 100 fields: 101', async () => {
    const upgrade = await ask(requestHead(extraFields(96), 'GET / HTTP/1.1'));
    assert.match(upgrade, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.match(bodyOf(upgrade), /^[^\n]*more than 100 header fields\n$/);
    const fields = Object.entries(extraFields(100))
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const plain = await ask(`GET / HTTP/1.1\r\nHost: localhost\r\n${fields}\r\n`);
    assert.match(plain, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const c = await RawClient.connect(server.port, extraFields(95)); // throws unless 101
    c.destroy();
  });
});

it('ws-stream serve --tls without --cert serves a certificate for localhost, 127.0.0.1 and ::1 made with openssl', async () => {
  const server = await startServer(['--tls']);
  try {
    const s = tls.connect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' });
    s.on('error', () => {});
    await once(s, 'secureConnect');
    const cert = s.getPeerCertificate();
    s.destroy();
    assert.equal(cert.subject.CN, 'localhost');
    assert.equal(cert.subjectaltname, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(cert.issuer.CN, 'localhost', 'self-signed');
    const c = await RawClient.connectH2(server.port);
    const { text: textFrame } = await import('../support/frames.js');
    c.send(textFrame('over a certificate of our own'));
    assert.equal((await c.nextMessage()).payload.toString(), 'over a certificate of our own');
    c.destroy();
  } finally {
    await server.stop();
  }
});
