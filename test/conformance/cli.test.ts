/** `ws-stream serve` as a person runs it: the URL printed, the page, and Ctrl-C closing connections with 1001. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startServer } from './raw-client.js';

it('prints its URL, serves the page at GET /, and on SIGINT sends close 1001 and exits 0', async () => {
  const server = await startServer();
  const page = await fetch(`http://127.0.0.1:${server.port}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>ws-stream echo<\/title>/);
  const c = await RawClient.connect(server.port);
  const exited = new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
  server.proc.kill('SIGINT');
  assert.equal(await c.expectClose(), 1001);
  assert.equal(await exited, 0);
  c.destroy();
});

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startInteropServer } from '../interop/support.js';

function runCli(args: string[], input: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const p = spawn(process.execPath, [main, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    // Type the lines once connected.
    if (/connected to/.test(out) && input.length > 0) {
      const line = input.shift()!;
      p.stdin.write(`${line}\n`);
      if (input.length === 0) setTimeout(() => p.stdin.end(), 200);
    }
  });
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => p.once('exit', (code) => resolve({ code, out, err })));
}

it('ws-stream connect: a typed line is sent and its echo printed; end of input closes with 1000', async () => {
  const server = await startServer();
  try {
    const { code, out } = await runCli(['connect', `ws://127.0.0.1:${server.port}/`], ['hello there ✓']);
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
    const { code, err } = await runCli(['connect', `ws://127.0.0.1:${srv.port}/forbidden`], []);
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
    assert.equal(await c.expectClose(), 1001);
    c.destroy();
  } finally {
    await server.stop();
  }
});

it('ws-stream serve applies backpressure end to end: a client that sends fast and never reads is no longer read from', async () => {
  const server = await startServer();
  try {
    const c = await RawClient.connect(server.port);
    c.sock.pause();
    const { text: textFrame } = await import('../support/frames.js');
    const batch = Buffer.concat(Array.from({ length: 256 }, () => textFrame('x'.repeat(1024))));
    let sent = 0;
    while (sent < 400 && c.sock.writableLength < 4 * 1024 * 1024) {
      c.sock.write(batch);
      sent++;
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(c.sock.writableLength >= 4 * 1024 * 1024, `the server kept reading: ${sent} batches of 264 KB went out`);
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
          setTimeout(() => {
            if (i % 2) s.destroy();
            else s.end();
            resolve();
          }, 1);
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
