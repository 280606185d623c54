/**
 * A real browser: headless Chromium (Debian's, driven by playwright-core) talks to ws-stream. It
 * drives the page of `ws-stream serve` as a person would (type, send, read the echo, screenshot),
 * and runs the interop exchange against the ws-stream interop server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../conformance/raw-client.js';
import { startInteropServer } from './support.js';
import { addPageSockets, type PageSockets, useChromium } from '../support/browser.js';

const browser = useChromium(['--ignore-certificate-errors']);

describe('ws-stream ← Chromium', () => {
  it('the page of ws-stream serve: connects with a subprotocol, sends what is typed, shows the echo', async () => {
    const server = await startServer(['--protocols', 'chat,superchat']);
    try {
      const page = await browser().newPage();
      await page.goto(`http://127.0.0.1:${server.port}/?protocol=superchat&protocol=chat`);
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');
      assert.equal(await page.textContent('#protocol'), 'chat');
      await page.fill('#text', 'hello from Chromium ✓');
      await page.click('#send');
      await page.waitForFunction(() =>
        document.getElementById('log')?.textContent?.includes('echo: hello from Chromium ✓'),
      );
      const dir = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: `${dir}/serve-page.png` });
      await page.close();
    } finally {
      await server.stop();
    }
  });

  it('the interop exchange: subprotocol, UTF-8 text, 200 KB binary, our ping answered, close 1000 with a reason, a refused upgrade', async () => {
    const srv = await startInteropServer();
    try {
      const page = await browser().newPage();
      const consoleLines: string[] = [];
      page.on('console', (m) => consoleLines.push(m.text()));
      // A page of the same address (Chromium blocks a public page such as about:blank from loopback).
      await page.goto(`http://127.0.0.1:${srv.port}/`);
      const connection = srv.nextConnection();
      await addPageSockets(page);
      const result = await page.evaluate(async (port) => {
        const { open, next } = (globalThis as unknown as { sockets: PageSockets }).sockets;
        const ws = await open(`ws://127.0.0.1:${port}/`, ['superchat', 'chat']);
        (globalThis as unknown as { interop: WebSocket }).interop = ws;
        const out: Record<string, unknown> = { protocol: ws.protocol };
        const text = 'héllo wörld ✓ 𝄞';
        ws.send(text);
        out.text = (await next(ws)) === text;
        const blob = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
        ws.send(blob);
        const back = new Uint8Array((await next(ws)) as ArrayBuffer);
        out.binary = back.length === blob.length && back.every((v, i) => v === blob[i]);
        return out;
      }, srv.port);
      assert.deepEqual(result, { protocol: 'chat', text: true, binary: true });
      const rec = await connection;
      // Our server pinged on open: the browser's pong has arrived before we close.
      assert.equal(await rec.firstPong, 'from-ws-stream');
      const closeCode = await page.evaluate(async () => {
        const ws = (globalThis as unknown as { interop: WebSocket }).interop;
        const closed = new Promise<number>((resolve) => {
          ws.onclose = (e) => resolve(e.code);
        });
        ws.close(1000, 'bye');
        return closed;
      });
      assert.equal(closeCode, 1000);
      assert.deepEqual(await rec.closed, { initiatedBy: 'remote', code: 1000, reason: 'bye', wasClean: true });
      assert.deepEqual(rec.pongs, ['from-ws-stream']);

      // The refusal: the server saw the request and answered 403; the page saw an error and no open,
      // and Chromium reports the status it got.
      const refusal = srv.nextRefusal();
      const refused = await page.evaluate(
        (port) =>
          new Promise((resolve) => {
            const r = new WebSocket(`ws://127.0.0.1:${port}/forbidden`);
            let opened = false;
            let errored = false;
            r.onopen = () => {
              opened = true;
            };
            r.onerror = () => {
              errored = true;
            };
            r.onclose = (e) => resolve({ opened, errored, code: e.code, wasClean: e.wasClean });
          }),
        srv.port,
      );
      assert.deepEqual(refused, { opened: false, errored: true, code: 1006, wasClean: false });
      assert.deepEqual(await refusal, { path: '/forbidden', status: 403 }, 'the server refused it with 403');
      assert.ok(
        consoleLines.some((l) => /\/forbidden.*Unexpected response code: 403/.test(l)),
        `Chromium saw the 403: ${consoleLines.join(' | ')}`,
      );
      await page.close();
    } finally {
      srv.close();
    }
  });

  it('with permessage-deflate: the serve page shows it negotiated, and a 200 KB message echoes compressed', async () => {
    const server = await startServer(['--deflate']);
    try {
      const page = await browser().newPage();
      await page.goto(`http://127.0.0.1:${server.port}/`);
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');
      assert.match(String(await page.textContent('#extensions')), /^permessage-deflate/);
      const ok = await page.evaluate(async () => {
        const ws = new WebSocket(`ws://${location.host}/`);
        ws.binaryType = 'arraybuffer';
        await new Promise((r) => {
          ws.onopen = r;
        });
        const text = 'compress me '.repeat(20000);
        ws.send(text);
        const back = await new Promise((r) => {
          ws.onmessage = (e) => r(e.data);
        });
        ws.close(1000);
        return { same: back === text, extensions: ws.extensions };
      });
      assert.equal(ok.same, true);
      assert.match(ok.extensions, /^permessage-deflate/);
      await page.close();
    } finally {
      await server.stop();
    }
  });

  it('over HTTP/2: with the page loaded over HTTPS from ws-stream serve --tls, Chromium opens its WebSocket by extended CONNECT', async () => {
    const server = await startServer(['--tls', '--log']);
    let log = '';
    let onLog: () => void = () => {};
    server.proc.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      onLog();
    });
    const logged = (re: RegExp) =>
      new Promise<void>((resolve) => {
        onLog = () => re.test(log) && resolve();
        onLog();
      });
    const context = await browser().newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      await page.goto(`https://localhost:${server.port}/`);
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');
      await page.fill('#text', 'over h2');
      await page.click('#send');
      await page.waitForFunction(() => document.getElementById('log')?.textContent?.includes('echo: over h2'));
      await logged(/websocket open over/);
      console.log(
        `server saw: ${log
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('websocket'))
          .join('; ')}`,
      );
      assert.match(log, /websocket open over HTTP\/2/);
    } finally {
      await context.close();
      await server.stop();
    }
  });
});
