/**
 * Chromium (Debian's, driven by playwright-core) against each engine's WebSocketServer on a node:http server that
 * also serves the page: subprotocol choice by handleProtocols, text and binary echo, the page's close seen by the
 * server, and the server's close code and reason seen by the page.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { WebSocket as NodeWebSocket } from 'ws';
import { engines, listen, closeServer } from './engines.js';
import { addPageSockets, type PageSockets, useChromium } from '../support/browser.js';

const browser = useChromium();

for (const engine of engines) {
  describe(`Chromium → ${engine.name} server`, () => {
    let httpServer: http.Server;
    let port: number;
    /** What the server saw close each connection, in order. */
    const closes: { code: number; reason: string }[] = [];
    let closed: () => void = () => {};

    before(async () => {
      ({ server: httpServer, port } = await listen(
        http.createServer((_req, res) => res.end('<!doctype html><title>t</title>')),
      ));
      const wss = new engine.WebSocketServer({
        server: httpServer,
        handleProtocols: (offered) => (offered.has('chat') ? 'chat' : false),
      });
      wss.on('connection', (ws: NodeWebSocket) => {
        ws.on('message', (data, isBinary) => {
          if (!isBinary && String(data) === 'close me') ws.close(4002, 'server closes ✓');
          else ws.send(data, { binary: isBinary });
        });
        ws.on('close', (code, reason) => {
          closes.push({ code, reason: String(reason) });
          closed();
        });
      });
    });
    after(async () => {
      await closeServer(httpServer);
    });

    it('subprotocol, text and binary echo, the page closing and the server closing', async () => {
      const page = await browser().newPage();
      try {
        // A page of the same address (Chromium blocks a public page such as about:blank from loopback).
        await page.goto(`http://127.0.0.1:${port}/`);
        const serverSawBoth = new Promise<void>((resolve) => {
          closed = () => closes.length === 2 && resolve();
        });
        await addPageSockets(page);
        const result = await page.evaluate(async (port) => {
          const { sockets } = globalThis as unknown as { sockets: PageSockets };
          const open = () => sockets.open(`ws://127.0.0.1:${port}/`, ['superchat', 'chat']);
          const { next } = sockets;
          const closing = (ws: WebSocket) =>
            new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
              ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
            });
          const ws = await open();
          const out: Record<string, unknown> = { protocol: ws.protocol };
          const text = 'héllo wörld ✓ 𝄞';
          ws.send(text);
          out.text = await next(ws);
          const blob = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
          ws.send(blob);
          const back = new Uint8Array((await next(ws)) as ArrayBuffer);
          out.binary = back.length === blob.length && back.every((v, i) => v === blob[i]);
          const pageClosed = closing(ws);
          ws.close(4000, 'page leaves');
          const { reason: _echoed, ...pageClose } = await pageClosed; // the echoed reason: the next test
          out.pageClose = pageClose;
          const second = await open();
          const serverClosed = closing(second);
          second.send('close me');
          out.serverClose = await serverClosed;
          return out;
        }, port);
        assert.deepEqual(result, {
          protocol: 'chat',
          text: 'héllo wörld ✓ 𝄞',
          binary: true,
          pageClose: { code: 4000, wasClean: true },
          serverClose: { code: 4002, reason: 'server closes ✓', wasClean: true },
        });
        await serverSawBoth;
        assert.deepEqual(closes, [
          { code: 4000, reason: 'page leaves' },
          { code: 4002, reason: 'server closes ✓' },
        ]);
      } finally {
        await page.close();
      }
    });

    it("the page's close reason comes back in the server's echo, as ws echoes it", async () => {
      const page = await browser().newPage();
      try {
        await page.goto(`http://127.0.0.1:${port}/`);
        const seen = await page.evaluate(async (port) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['chat']);
          await new Promise((resolve) => {
            ws.onopen = resolve;
          });
          const closed = new Promise<{ code: number; reason: string }>((resolve) => {
            ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
          });
          ws.close(4005, 'page reason ✓');
          return closed;
        }, port);
        assert.deepEqual(seen, { code: 4005, reason: 'page reason ✓' });
      } finally {
        await page.close();
      }
    });
  });

  describe(`Chromium → ${engine.name} server with permessage-deflate`, () => {
    let httpServer: http.Server;
    let port: number;
    /** Called with the bytes the server's socket read, when the server's WebSocket closes. */
    let closedWith: (bytesRead: number) => void = () => {};

    before(async () => {
      ({ server: httpServer, port } = await listen(
        http.createServer((_req, res) => res.end('<!doctype html><title>t</title>')),
      ));
      const wss = new engine.WebSocketServer({ server: httpServer, perMessageDeflate: true });
      wss.on('connection', (ws: NodeWebSocket, req) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        ws.on('close', () => closedWith(req.socket.bytesRead));
      });
    });
    after(async () => {
      await closeServer(httpServer);
    });

    it('negotiates the extension; 200 KB of text echoed, compressed on the wire', async () => {
      const page = await browser().newPage();
      try {
        await page.goto(`http://127.0.0.1:${port}/`);
        const closedOnServer = new Promise<number>((resolve) => {
          closedWith = resolve;
        });
        const result = await page.evaluate(async (port) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
          await new Promise((resolve) => {
            ws.onopen = resolve;
          });
          const text = 'compress me '.repeat(200_000 / 12);
          ws.send(text);
          const back = await new Promise((resolve) => {
            ws.onmessage = (e) => resolve(e.data);
          });
          const closed = new Promise<number>((resolve) => {
            ws.onclose = (e) => resolve(e.code);
          });
          ws.close(1000);
          return { extensions: ws.extensions, same: back === text, code: await closed };
        }, port);
        assert.match(result.extensions, /^permessage-deflate/);
        assert.deepEqual({ same: result.same, code: result.code }, { same: true, code: 1000 });
        const bytesRead = await closedOnServer;
        assert.ok(bytesRead > 0 && bytesRead < 20_000, `the page's 200 KB arrived in ${bytesRead} bytes`);
      } finally {
        await page.close();
      }
    });
  });
}
