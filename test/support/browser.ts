/** Headless Chromium (Debian's, driven by playwright-core) for the tests that need a real browser. */
import { after, before } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';

/**
 * Launches Chromium before the calling file's (or suite's) tests, with `extraArgs` after the usual
 * flags, and closes it after them. Returns the running browser, to be called inside a test.
 */
export function useChromium(extraArgs: string[] = []): () => Browser {
  let browser: Browser | undefined;
  before(async () => {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        ...extraArgs,
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    console.log(`peer: Chromium ${browser.version()}`);
  });
  after(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Chromium is not running: call the browser inside a test');
    return browser;
  };
}

/** WebSocket helpers for page code (which cannot import), found on `globalThis.sockets` after `addPageSockets`. */
export interface PageSockets {
  /** Opens a WebSocket that delivers binary messages as ArrayBuffers; rejects on its error event. */
  open(url: string, protocols?: string[]): Promise<WebSocket>;
  /** The data of the next message on `ws` (its `onmessage` handler, one wait at a time). */
  next(ws: WebSocket): Promise<unknown>;
}

/** Defines `globalThis.sockets` (a `PageSockets`) in the page as it is now (again after each navigation). */
export async function addPageSockets(page: Page): Promise<void> {
  await page.evaluate(() => {
    const sockets: PageSockets = {
      open: (url, protocols) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(url, protocols);
          ws.binaryType = 'arraybuffer';
          ws.onopen = () => resolve(ws);
          ws.onerror = () => reject(new Error('error'));
        }),
      next: (ws) =>
        new Promise<unknown>((resolve) => {
          ws.onmessage = (e) => resolve(e.data);
        }),
    };
    (globalThis as unknown as { sockets: PageSockets }).sockets = sockets;
  });
}
