/**
 * Chromium against the ws-stream server's permessage-deflate configurations and close codes. Chromium offers
 * `permessage-deflate; client_max_window_bits` and fails the connection on any answer it cannot honour, so
 * each server configuration (window bits 8–15 each side, no context takeover each side) is checked by what
 * it accepts, then by messages at the length boundaries and a repeated message, compared in the page.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import type { DeflateOptions } from '../../src/index.js';
import { addPageSockets, type PageSockets, useChromium } from '../support/browser.js';
import { startEchoServer, startStreamingEcho } from './edge.js';

const browser = useChromium();

/**
 * One page for every test here, loaded from a loopback origin of its own (Chromium lets a loopback
 * page reach the echo servers on other loopback ports); each test opens its own WebSocket from it.
 * (A page per test cost a page and a load each, most of a test's time.)
 */
let shared: Promise<Page> | undefined;
let origin: http.Server | undefined;
/** The page, opened by the first test that asks for it (Chromium is launched in a `before` hook). */
function sharedPage(): Promise<Page> {
  shared ??= (async () => {
    origin = http.createServer((_req, res) => res.end('page\n'));
    await new Promise<void>((resolve) => origin!.listen(0, '127.0.0.1', resolve));
    const page = await browser().newPage();
    await page.goto(`http://127.0.0.1:${(origin.address() as AddressInfo).port}/`);
    await addPageSockets(page);
    return page;
  })();
  return shared;
}
after(async () => {
  await (await shared)?.close();
  origin?.close();
});

/** In the page: messages of these sizes, binary and text, then one message twice; whether each echo matched. */
async function exchangeInPage(port: number): Promise<{ extensions: string; echoes: boolean[]; code: number }> {
  const page = await sharedPage();
  return await page.evaluate(async (port) => {
    const { open, next } = (globalThis as unknown as { sockets: PageSockets }).sockets;
    const ws = await open(`ws://127.0.0.1:${port}/`);
    // Each 600-octet block is a 300-octet pattern twice: matches 300 back, past a 256-octet window.
    const make = (size: number, seed: number): Uint8Array => {
      const out = new Uint8Array(size);
      let x = seed >>> 0;
      for (let i = 0; i < size; i++) {
        if (i % 600 === 0) x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        out[i] = ((x >>> ((i % 300) % 24)) + (i % 300)) & 0xff;
      }
      return out;
    };
    const echoes: boolean[] = [];
    const messages: (Uint8Array | string)[] = [];
    for (const [i, size] of [0, 1, 125, 126, 65535, 65536].entries()) {
      messages.push(make(size, i));
      messages.push(Array.from(make(size, i), (b) => String.fromCharCode(0x61 + (b % 26))).join(''));
    }
    messages.push(make(4000, 99), make(4000, 99));
    for (const m of messages) {
      ws.send(m);
      const back = await next(ws);
      echoes.push(
        typeof m === 'string'
          ? back === m
          : back instanceof ArrayBuffer &&
              back.byteLength === m.length &&
              new Uint8Array(back).every((v, i) => v === m[i]),
      );
    }
    const closed = new Promise<number>((resolve) => {
      ws.onclose = (e) => resolve(e.code);
    });
    ws.close(1000);
    return { extensions: ws.extensions, echoes, code: await closed };
  }, port);
}

const configs: [DeflateOptions | boolean, string][] = [
  [false, ''],
  [true, 'permessage-deflate'],
  ...[8, 9, 10, 11, 12, 13, 14].map((b): [DeflateOptions, string] => [
    { serverMaxWindowBits: b },
    `permessage-deflate; server_max_window_bits=${b}`,
  ]),
  ...[8, 9, 10, 11, 12, 13, 14].map((b): [DeflateOptions, string] => [
    { clientMaxWindowBits: b },
    `permessage-deflate; client_max_window_bits=${b}`,
  ]),
  [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
  [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
  [
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
  ],
];

describe('Chromium ← the ws-stream server, permessage-deflate configurations', () => {
  for (const [config, expected] of configs) {
    it(`${JSON.stringify(config)} → ${expected}`, async () => {
      const srv = await startEchoServer({ perMessageDeflate: config });
      const record = srv.next();
      const result = await exchangeInPage(srv.port);
      const rec = await record;
      assert.equal(result.extensions, expected);
      assert.equal(rec.extensions, expected);
      assert.equal(rec.offered, 'permessage-deflate; client_max_window_bits');
      assert.deepEqual(
        result.echoes,
        result.echoes.map(() => true),
      );
      assert.equal(result.echoes.length, 14);
      assert.equal(result.code, 1000);
      assert.deepEqual([rec.closeInfo.code, rec.closeInfo.wasClean], [1000, true]);
    });
  }
});

describe('Chromium ← the ws-stream server closes', () => {
  const LONGEST = `${'é'.repeat(20)}${'✓'.repeat(10)}${'𝄞'.repeat(10)}${'x'.repeat(13)}`;
  for (const [code, reason] of [
    ...[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999].map(
      (c) => [c, `code ${c}`] as const,
    ),
    [4000, LONGEST] as const,
  ]) {
    it(`with ${code} and a reason of ${Buffer.byteLength(reason)} octets: the page sees both`, async () => {
      const srv = await startEchoServer({});
      const record = srv.next();
      const page = await sharedPage();
      const seen = await page.evaluate(
        async ([port, command]) => {
          const { open } = (globalThis as unknown as { sockets: PageSockets }).sockets;
          const ws = await open(`ws://127.0.0.1:${port}/`);
          const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
            ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
          });
          ws.send(command);
          return closed;
        },
        [srv.port, `cmd:close ${code} ${Buffer.from(reason).toString('hex')}`] as const,
      );
      assert.deepEqual(seen, { code, reason, wasClean: true });
      const rec = await record;
      assert.deepEqual([rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.wasClean], ['local', code, true]);
      assert.deepEqual(rec.peerClose, { code, reason }, 'Chromium echoed the code and the reason');
    });
  }
});

describe('Chromium closes the ws-stream server', () => {
  const LONGEST = `${'é'.repeat(20)}${'✓'.repeat(10)}${'𝄞'.repeat(10)}${'x'.repeat(13)}`;
  for (const [code, reason] of [
    [undefined, undefined],
    [1000, undefined],
    [3000, 'three thousand'],
    [4999, LONGEST],
  ] as const) {
    const what =
      code === undefined
        ? 'without a code (an empty close frame)'
        : `with ${code}${reason ? ` and a reason of ${Buffer.byteLength(reason)} octets` : ''}`;
    it(`${what}: the server sees it and echoes it`, async () => {
      const srv = await startEchoServer({});
      const record = srv.next();
      const page = await sharedPage();
      const seen = await page.evaluate(
        async ([port, code, reason]) => {
          const { open } = (globalThis as unknown as { sockets: PageSockets }).sockets;
          const ws = await open(`ws://127.0.0.1:${port}/`);
          const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
            ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
          });
          if (code === null) ws.close();
          else if (reason === null) ws.close(code);
          else ws.close(code, reason);
          return closed;
        },
        [srv.port, code ?? null, reason ?? null] as const,
      );
      const expected = { code: code ?? 1005, reason: reason ?? '' };
      assert.deepEqual(seen, { ...expected, wasClean: true });
      const rec = await record;
      assert.deepEqual(rec.peerClose, expected);
      assert.deepEqual(
        [rec.closeInfo.initiatedBy, rec.closeInfo.code, rec.closeInfo.wasClean],
        ['remote', expected.code, true],
      );
    });
  }
});

describe('Chromium reads messages the ws-stream server streams back in fragments', () => {
  for (const deflate of [false, true]) {
    it(`each opened by an empty fragment, a ping after every fragment but the last${deflate ? ', compressed' : ''}`, async () => {
      const srv = await startStreamingEcho(deflate, true);
      const end = srv.next();
      const page = await sharedPage();
      const result = await page.evaluate(async (port) => {
        const { open, next } = (globalThis as unknown as { sockets: PageSockets }).sockets;
        const ws = await open(`ws://127.0.0.1:${port}/`);
        const echoes: boolean[] = [];
        // Noise (which compresses little), large enough to arrive in several reads: echoed in several fragments.
        let x = 1;
        const noise = (): number => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return x >>> 16;
        };
        for (const size of [0, 1, 200_000, 1_000_000]) {
          const m = new Uint8Array(size).map(() => noise() & 0xff);
          ws.send(m);
          const back = new Uint8Array((await next(ws)) as ArrayBuffer);
          echoes.push(back.length === m.length && back.every((v, i) => v === m[i]));
          const text = Array.from({ length: size }, () => String.fromCharCode(0x21 + (noise() % 94))).join('');
          ws.send(text);
          echoes.push((await next(ws)) === text);
        }
        const closed = new Promise<number>((resolve) => {
          ws.onclose = (e) => resolve(e.code);
        });
        ws.close(1000);
        return { extensions: ws.extensions, echoes, code: await closed };
      }, srv.port);
      assert.equal(result.extensions, deflate ? 'permessage-deflate' : '');
      assert.deepEqual(result.echoes, [true, true, true, true, true, true, true, true]);
      assert.equal(result.code, 1000);
      const { pieces, pongs, code } = await end;
      assert.equal(code, 1000);
      assert.ok(pieces > 8, `${pieces} pieces: some messages came in several`);
      assert.ok(pongs > 0, 'Chromium answered the pings between fragments');
    });
  }
});
