/**
 * chrome-remote-interface (a DevTools Protocol client whose transport is ws 7's WebSocket, which it requires itself)
 * against Debian's Chromium started here with `--remote-debugging-port=0`, run by chrome-remote-interface.test.ts
 * with `ws` as installed or aliased to ws-stream/ws: the CLIENT role against Chromium's own WebSocket server. Written
 * as its README shows: `CDP.List`, `CDP({ port })`, domains' methods and events, `CDP.New`/`CDP.Close`, `close()`.
 * Prints what it saw.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aliased, ours, report } from './peer.js';

const require = createRequire(import.meta.url);

/** The parts of chrome-remote-interface used here (it ships no types). */
interface Client {
  Page: {
    enable(): Promise<unknown>;
    navigate(p: { url: string }): Promise<{ frameId: string }>;
    loadEventFired(): Promise<unknown>;
  };
  Runtime: {
    enable(): Promise<unknown>;
    evaluate(p: { expression: string; returnByValue?: boolean; awaitPromise?: boolean }): Promise<{
      result: { type: string; value?: unknown };
      exceptionDetails?: { text: string };
    }>;
  };
  Target: { getTargets(): Promise<{ targetInfos: { type: string }[] }> };
  send(method: string, params?: object): Promise<unknown>;
  on(event: string, f: (...args: never[]) => void): void;
  once(event: string, f: (...args: never[]) => void): void;
  close(): Promise<void>;
  webSocketUrl: string;
}
interface Target {
  id: string;
  type: string;
  url: string;
  webSocketDebuggerUrl: string;
}
interface CDPModule {
  (options: { host: string; port: number; target?: string | ((targets: Target[]) => Target) }): Promise<Client>;
  List(options: { host: string; port: number }): Promise<Target[]>;
  Version(options: { host: string; port: number }): Promise<{ webSocketDebuggerUrl: string; Browser: string }>;
  New(options: { host: string; port: number; url: string }): Promise<Target>;
  Close(options: { host: string; port: number; id: string }): Promise<void>;
}
const CDP = require('chrome-remote-interface') as CDPModule;

// Frames sent through ws-stream/ws's client in this process (none when ws is not aliased).
let sentThroughOurs = 0;
const send = ours.WebSocket.prototype.send;
ours.WebSocket.prototype.send = function (this: InstanceType<typeof ours.WebSocket>, ...args: Parameters<typeof send>) {
  sentThroughOurs++;
  return send.apply(this, args);
};

const page = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(
    `<!doctype html><title>cdp ${req.url === '/second' ? 'second' : 'first'} ✓</title>` +
      `<script>console.log('héllo from the page', 42)</script><h1>héllo</h1>`,
  );
});
await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;

/** Starts Chromium with a DevTools port of its choosing; resolves with that port once it listens. */
function startChromium(profile: string): Promise<{ chromium: ChildProcess; port: number }> {
  const chromium = spawn(
    '/usr/bin/chromium',
    [
      '--headless',
      '--remote-debugging-port=0',
      '--remote-debugging-address=127.0.0.1',
      `--user-data-dir=${profile}`,
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    chromium.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
      if (m) resolve({ chromium, port: Number(m[1]) });
    });
    chromium.once('exit', (code) => reject(new Error(`chromium exited ${code}:\n${err}`)));
    chromium.once('error', reject);
  });
}

const profile = mkdtempSync(join(tmpdir(), 'ws-stream-cdp-'));
const { chromium, port } = await startChromium(profile);
const exited = new Promise((resolve) => chromium.once('exit', resolve));
const host = '127.0.0.1';
const result: Record<string, unknown> = { aliased: aliased(require.resolve('chrome-remote-interface')) };
try {
  const version = await CDP.Version({ host, port });
  result.version = /^(Headless)?Chrome\//.test(version.Browser);
  result.pages = (await CDP.List({ host, port })).filter((t) => t.type === 'page').length;

  // The default target (the first page), its domains, events and methods.
  const client = await CDP({ host, port });
  result.connectedTo = /^ws:\/\/127\.0\.0\.1:\d+\/devtools\/page\//.test(client.webSocketUrl);
  const { Page, Runtime } = client;
  const console: unknown[] = [];
  client.on('Runtime.consoleAPICalled', ((params: { type: string; args: { value: unknown }[] }) => {
    console.push([params.type, ...params.args.map((a) => a.value)]);
  }) as never);
  await Promise.all([Page.enable(), Runtime.enable()]);
  const loaded = Page.loadEventFired();
  const navigated = await Page.navigate({ url: `${pageUrl}/` });
  result.frameId = typeof navigated.frameId;
  await loaded;
  result.console = console;
  result.title = (await Runtime.evaluate({ expression: 'document.title' })).result.value;
  result.sum = (
    await Runtime.evaluate({ expression: 'new Promise(r => queueMicrotask(() => r(40 + 2)))', awaitPromise: true })
  ).result.value;

  // A few MiB each way: a 3 MiB string made in the page comes back in one CDP message; a 2 MiB literal goes in one.
  const big = (await Runtime.evaluate({ expression: `'x€'.repeat(1.5 * 1024 * 1024)`, returnByValue: true })).result
    .value as string;
  result.bigBack = `${big.length}:${big.slice(-2)}:${big === 'x€'.repeat(1.5 * 1024 * 1024)}`;
  const literal = 'é'.repeat(2 * 1024 * 1024);
  result.bigIn = (await Runtime.evaluate({ expression: `'${literal}'.length` })).result.value;

  // Commands in flight together come back to their callers; a thrown exception; an unknown method's error.
  const many = await Promise.all(
    Array.from({ length: 50 }, (_, i) => Runtime.evaluate({ expression: `${i} * 2` }).then((r) => r.result.value)),
  );
  result.many = many.every((v, i) => v === i * 2);
  result.exception = (await Runtime.evaluate({ expression: 'throw new Error("boom")' })).exceptionDetails?.text;
  result.unknownMethod = await client.send('No.such').then(
    () => 'resolved',
    (err: Error & { response?: { code: number } }) => [err.name, err.response?.code],
  );

  // A second tab by the HTTP endpoint, a client on it by its id, its 'disconnect' when the tab is closed (Chromium
  // closes the WebSocket).
  const tab = await CDP.New({ host, port, url: `${pageUrl}/second` });
  const second = await CDP({ host, port, target: tab.id });
  await second.Page.enable();
  const secondTitle = async () => (await second.Runtime.evaluate({ expression: 'document.title' })).result.value;
  let title = await secondTitle();
  while (title !== 'cdp second ✓') {
    await second.Page.loadEventFired();
    title = await secondTitle();
  }
  result.secondTitle = title;
  const disconnected = new Promise<string>((resolve) => second.once('disconnect', () => resolve('disconnect')));
  // Its socket (a member it does not document) tells the close code Chromium sent.
  const secondSocket = (second as unknown as { _ws: { once(e: 'close', f: (code: number) => void): void } })._ws;
  const secondCode = new Promise<number>((resolve) => secondSocket.once('close', resolve));
  await CDP.Close({ host, port, id: tab.id });
  result.secondClosed = [await disconnected, await secondCode];
  result.afterDisconnect = await second.send('Runtime.evaluate', { expression: '1' }).then(
    () => 'resolved',
    (err: Error) => err.message,
  );

  // The browser target, by its WebSocket URL.
  const browser = await CDP({ host, port, target: version.webSocketDebuggerUrl });
  result.browserTargets = (await browser.Target.getTargets()).targetInfos.filter((t) => t.type === 'page').length;

  // close(): the first client's close handshake; a command after it fails.
  const clientSocket = (client as unknown as { _ws: { readyState: number } })._ws;
  await client.close();
  result.closedState = clientSocket.readyState;
  result.afterClose = await Runtime.evaluate({ expression: '1' }).then(
    () => 'resolved',
    (err: Error) => err.message,
  );

  // Browser.close on the browser target: Chromium exits, the connection drops.
  const browserGone = new Promise<string>((resolve) => browser.once('disconnect', () => resolve('disconnect')));
  await browser.send('Browser.close');
  result.browserClosed = await browserGone;
  await exited;
  result.usedOurs = sentThroughOurs > 0;
} finally {
  if (chromium.exitCode === null && chromium.signalCode === null) chromium.kill('SIGTERM');
  await exited;
  // Chromium's helper processes may still be writing to the profile for a moment after it exits.
  rmSync(profile, { recursive: true, force: true, maxRetries: 20 });
  await new Promise<void>((resolve) => page.close(() => resolve()));
}
report(result);
