/**
 * puppeteer-core driving Debian's Chromium over CDP, whose WebSocket client is ws's (puppeteer imports ws itself), run
 * by puppeteer.test.ts with `ws` as installed or aliased to ws-stream/ws: the CLIENT role against a real peer. It
 * navigates to a page served here, evaluates, takes a screenshot, moves 4 MB through one CDP message, attaches a
 * second client with `puppeteer.connect`, disconnects it and closes the browser. Prints what it saw.
 */
import http from 'node:http';
import puppeteer from 'puppeteer-core';
import { ours, report } from './peer.js';

// Frames sent through ws-stream/ws's client in this process (none when ws is not aliased).
let sentThroughOurs = 0;
const send = ours.WebSocket.prototype.send;
ours.WebSocket.prototype.send = function (this: InstanceType<typeof ours.WebSocket>, ...args: Parameters<typeof send>) {
  sentThroughOurs++;
  return send.apply(this, args);
};

const server = http.createServer((_req, res) => {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(
    '<!doctype html><title>ws-stream ✓</title><body style="margin:0;background:#3060c0">' +
      '<h1 id="h" style="color:white">héllo</h1></body>',
  );
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
});
const result: Record<string, unknown> = {};
const page = await browser.newPage();
await page.setViewport({ width: 200, height: 100 });
const response = await page.goto(`http://127.0.0.1:${port}/`);
result.status = response?.status();
result.title = await page.title();
result.heading = await page.$eval('#h', (e) => e.textContent);
result.sum = await page.evaluate((a: number, b: number) => a + b, 40, 2);
// One large CDP message each way: 4 MB of text into the page and back.
const big = 'x€'.repeat(2 * 1024 * 1024);
result.bigBack = await page.evaluate((s: string) => `${s.length}:${s.slice(-2)}`, big);
const png = Buffer.from(await page.screenshot({ type: 'png' }));
// The PNG signature, and the width and height of its IHDR chunk.
result.screenshot = {
  png: png.subarray(1, 4).toString('latin1'),
  width: png.readUInt32BE(16),
  height: png.readUInt32BE(20),
};
result.pixel = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);

// A second client on the same browser, then its disconnect (the browser stays).
const second = await puppeteer.connect({ browserWSEndpoint: browser.wsEndpoint() });
result.secondPages = (await second.pages()).length >= 1;
const secondGone = new Promise<void>((resolve) => second.once('disconnected', () => resolve()));
await second.disconnect();
await secondGone;
result.secondConnected = second.connected;
result.firstStillWorks = await page.evaluate(() => document.title);

const gone = new Promise<void>((resolve) => browser.once('disconnected', () => resolve()));
await browser.close();
await gone;
result.connectedAfterClose = browser.connected;
await new Promise<void>((resolve) => server.close(() => resolve()));
result.usedOurs = sentThroughOurs > 0;
report(result);
