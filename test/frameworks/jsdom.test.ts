/**
 * jsdom 29: a page's own script, run by jsdom (`runScripts: 'dangerously'`), uses the page's WebSocket against a
 * WebSocketServer on each engine. (jsdom 29's WebSocket is undici's client, no longer ws: what differs between the
 * engines here is the server a browser-like client meets.) The page: the subprotocol the server picks from two offered,
 * the Origin it sends, text both ways, binary as ArrayBuffer and as Blob both ways, a close the server starts (code,
 * reason, wasClean), a close the page starts (what the server got), a refused connection (error then close 1006), an
 * upgrade the server refuses (verifyClient), and a subprotocol the server does not pick. Then permessage-deflate, which
 * undici offers: 200 KB of text and 1 MiB of binary echoed, a clean close.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { JSDOM } from 'jsdom';
import { closeServer, engines, listen } from './engines.js';

/** The page's script: each step reports what the page saw through `report(name, value)`; 'done' ends it. */
const pageScript = `
const base = document.body.dataset.url;
const opened = (ws) => new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = () => reject(new Error('error before open'));
});
const closed = (ws) => new Promise((resolve) => {
  ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
});
const next = (ws) => new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
const bytes = async (data) => [...new Uint8Array(data instanceof Blob ? await data.arrayBuffer() : data)];
(async () => {
  const ws = new WebSocket(base + '/chat', ['chat.v1', 'chat.v2']);
  report('initial', { readyState: ws.readyState, binaryType: ws.binaryType, protocol: ws.protocol });
  await opened(ws);
  report('open', { readyState: ws.readyState, protocol: ws.protocol, url: ws.url });

  ws.send('héllo ✓');
  report('text', await next(ws));

  ws.binaryType = 'arraybuffer';
  ws.send(new Uint8Array([1, 2, 3]).buffer);
  const ab = await next(ws);
  report('arraybuffer', { isArrayBuffer: ab instanceof ArrayBuffer, bytes: await bytes(ab) });
  ws.send(new Blob([new Uint8Array([9, 8]), 'blob']));
  report('blob sent', await bytes(await next(ws)));

  ws.binaryType = 'blob';
  ws.send(new Uint8Array([4, 5, 6]));
  const blob = await next(ws);
  report('blob', { isBlob: blob instanceof Blob, size: blob.size, bytes: await bytes(blob) });
  ws.send(new Uint8Array(100000).fill(7));
  const big = await next(ws);
  report('big', { size: big.size, last: (await bytes(big))[99999] });

  const serverClosed = closed(ws);
  ws.send('close me');
  report('server close', await serverClosed);
  report('after close', { readyState: ws.readyState });

  const ws2 = new WebSocket(base + '/chat', 'chat.v2');
  await opened(ws2);
  const pageClosed = closed(ws2);
  ws2.close(3001, 'bye from the page');
  report('page close', await pageClosed);

  const events = [];
  const refused = new WebSocket(document.body.dataset.refused);
  refused.onerror = (e) => events.push(e.type);
  report('refused', await new Promise((resolve) => {
    refused.onclose = (e) => { events.push(e.type); resolve({ events, code: e.code, wasClean: e.wasClean }); };
  }));

  const denied = new WebSocket(base + '/deny', 'chat.v2');
  const deniedEvents = [];
  denied.onerror = (e) => deniedEvents.push(e.type);
  report('denied', await new Promise((resolve) => {
    denied.onclose = (e) => { deniedEvents.push(e.type); resolve({ events: deniedEvents, code: e.code }); };
  }));

  // The server accepts without a subprotocol when none it knows is offered; undici's client (jsdom's) then fails the
  // connection, as the WHATWG algorithm has it when protocols were requested and none came back.
  const unpicked = new WebSocket(base + '/chat', 'chat.v9');
  const unpickedEvents = [];
  unpicked.onerror = (e) => unpickedEvents.push(e.type);
  unpicked.onopen = (e) => unpickedEvents.push(e.type);
  report('unpicked', await new Promise((resolve) => {
    unpicked.onclose = (e) => { unpickedEvents.push(e.type); resolve({ events: unpickedEvents, code: e.code }); };
  }));
  report('done', true);
})().catch((e) => report('failed', String(e)));
`;

for (const engine of engines) {
  describe(`jsdom's WebSocket against a server on ${engine.name}`, () => {
    it('a page script: subprotocols, text, ArrayBuffer and Blob, closes both ways, refusals', async (t) => {
      const { server, port } = await listen();
      const refusedPort = (await listen()).server;
      const freePort = (refusedPort.address() as { port: number }).port;
      await closeServer(refusedPort);
      const wss = new engine.WebSocketServer({
        server,
        // Picks chat.v2 when offered; otherwise accepts with no subprotocol (false), as ws documents.
        handleProtocols: (protocols: Set<string>) => (protocols.has('chat.v2') ? 'chat.v2' : false),
        verifyClient: (info: { req: IncomingMessage }) => info.req.url !== '/deny',
      });
      t.after(async () => {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await closeServer(server);
      });
      const seen: Record<string, unknown>[] = [];
      wss.on('connection', (ws, req) => {
        const conn: Record<string, unknown> = {
          origin: req.headers.origin,
          offered: req.headers['sec-websocket-protocol'],
          protocol: ws.protocol,
          got: [],
        };
        seen.push(conn);
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          (conn.got as unknown[]).push(isBinary ? [...data].slice(0, 8) : String(data));
          if (!isBinary && String(data) === 'close me') ws.close(4000, 'done here');
          else ws.send(data, { binary: isBinary });
        });
        ws.on('close', (code: number, reason: Buffer) => {
          conn.closed = { code, reason: String(reason) };
        });
      });

      const reports: [string, unknown][] = [];
      const done = new Promise<void>((resolve) => {
        const urls = `data-url="ws://127.0.0.1:${port}" data-refused="ws://127.0.0.1:${freePort}/"`;
        const html = `<!doctype html><body ${urls}>`;
        const dom = new JSDOM(`${html}<script>${pageScript}</script></body>`, {
          url: `http://127.0.0.1:${port}/page.html`,
          runScripts: 'dangerously',
          beforeParse(window) {
            (window as unknown as { report(name: string, value: unknown): void }).report = (name, value) => {
              // Through JSON: the page's objects are of its window's realm, which deepStrictEqual tells apart.
              reports.push([name, JSON.parse(JSON.stringify(value))]);
              if (name === 'done' || name === 'failed') resolve();
            };
          },
        });
        t.after(() => dom.window.close());
      });
      await done;
      // The server's side of a close may land after the page's. (Of the connection undici failed for want of a
      // subprotocol, the server sees nothing: undici leaves the TCP connection open, on either engine.)
      await new Promise<void>((resolve) => {
        const check = () => (seen[0]?.closed && seen[1]?.closed ? resolve() : setImmediate(check));
        check();
      });
      delete seen[2]?.closed;

      assert.deepEqual(reports, [
        ['initial', { readyState: 0, binaryType: 'blob', protocol: '' }],
        ['open', { readyState: 1, protocol: 'chat.v2', url: `ws://127.0.0.1:${port}/chat` }],
        ['text', 'héllo ✓'],
        ['arraybuffer', { isArrayBuffer: true, bytes: [1, 2, 3] }],
        ['blob sent', [9, 8, 98, 108, 111, 98]],
        ['blob', { isBlob: true, size: 3, bytes: [4, 5, 6] }],
        ['big', { size: 100000, last: 7 }],
        ['server close', { code: 4000, reason: 'done here', wasClean: true }],
        ['after close', { readyState: 3 }],
        ['page close', { code: 3001, reason: 'bye from the page', wasClean: true }],
        ['refused', { events: ['error', 'close'], code: 1006, wasClean: false }],
        ['denied', { events: ['error', 'close'], code: 1006 }],
        ['unpicked', { events: ['error', 'close'], code: 1006 }],
        ['done', true],
      ]);
      const origin = `http://127.0.0.1:${port}`;
      assert.deepEqual(seen, [
        {
          origin,
          offered: 'chat.v1, chat.v2',
          protocol: 'chat.v2',
          got: ['héllo ✓', [1, 2, 3], [9, 8, 98, 108, 111, 98], [4, 5, 6], [7, 7, 7, 7, 7, 7, 7, 7], 'close me'],
          // undici's client answers a close with the code alone.
          closed: { code: 4000, reason: '' },
        },
        {
          origin,
          offered: 'chat.v2',
          protocol: 'chat.v2',
          got: [],
          closed: { code: 3001, reason: 'bye from the page' },
        },
        { origin, offered: 'chat.v9', protocol: '', got: [] },
      ]);
    });

    it('permessage-deflate (undici offers it): 200 KB text and 1 MiB binary both ways, a clean close', async (t) => {
      const { server, port } = await listen();
      const wss = new engine.WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
      t.after(async () => {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await closeServer(server);
      });
      const serverSide: Record<string, unknown> = {};
      wss.on('connection', (ws, req) => {
        serverSide.offer = req.headers['sec-websocket-extensions'];
        serverSide.agreed = ws.extensions;
        const got: unknown[] = [];
        serverSide.got = got;
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          got.push(isBinary ? { binary: data.length, sum: data.reduce((a, b) => (a + b) % 65521, 0) } : data.length);
          ws.send(data, { binary: isBinary });
        });
        serverSide.closed = new Promise((resolve) => ws.on('close', (code: number) => resolve(code)));
      });
      const script = `
        const ws = new WebSocket(document.body.dataset.url);
        ws.binaryType = 'arraybuffer';
        const got = [];
        ws.onopen = () => {
          ws.send('abc é✓ '.repeat(25000));
          const bytes = new Uint8Array(1 << 20);
          for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 251;
          ws.send(bytes);
        };
        ws.onmessage = (e) => {
          if (typeof e.data === 'string') got.push(e.data === 'abc é✓ '.repeat(25000));
          else got.push(new Uint8Array(e.data).every((b, i) => b === (i * 7) % 251) && e.data.byteLength);
          if (got.length === 2) ws.close(1000, 'enough');
        };
        ws.onclose = (e) => report({ extensions: ws.extensions, got, code: e.code, wasClean: e.wasClean });
      `;
      const report = await new Promise<unknown>((resolve) => {
        const dom = new JSDOM(`<body data-url="ws://127.0.0.1:${port}/"><script>${script}</script></body>`, {
          url: `http://127.0.0.1:${port}/`,
          runScripts: 'dangerously',
          beforeParse(window) {
            (window as unknown as { report(v: unknown): void }).report = (v) => resolve(JSON.parse(JSON.stringify(v)));
          },
        });
        t.after(() => dom.window.close());
      });
      assert.deepEqual(report, { extensions: 'permessage-deflate', got: [true, 1 << 20], code: 1000, wasClean: true });
      let sum = 0;
      for (let i = 0; i < 1 << 20; i++) sum = (sum + ((i * 7) % 251)) % 65521;
      assert.deepEqual(serverSide, {
        offer: 'permessage-deflate; client_max_window_bits',
        agreed: 'permessage-deflate',
        got: [Buffer.byteLength('abc é✓ '.repeat(25000)), { binary: 1 << 20, sum }],
        closed: serverSide.closed,
      });
      assert.equal(await serverSide.closed, 1000);
    });
  });
}
