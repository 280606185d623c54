/**
 * What the framework apps share: the real ws as their fixed peer (loaded by path, so the alias leaves it alone),
 * whether `ws` means ws-stream/ws in this process, waiting for events, and printing the result.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type WsDefault from 'ws';
import type { WebSocketServer as WsServer } from 'ws';
import * as wsStream from 'ws-stream/ws';

const require = createRequire(import.meta.url);

/** The installed ws package, whatever `ws` resolves to here. */
export const RealWebSocket = require(process.env.REAL_WS as string) as typeof WsDefault & {
  WebSocketServer: typeof WsServer;
};

/** ws-stream/ws's classes, to tell which engine a package got. */
export const ours = wsStream;

/** Whether `require('ws')` from a package's own folder gives ws-stream/ws (the alias is on). */
export function aliased(fromPackageFile: string): boolean {
  return createRequire(fromPackageFile)('ws') === wsStream.default;
}

/** A client of the real ws, with what it received and its close recorded from the start. */
export interface Client {
  ws: WsDefault;
  /** Every message, from the first (which may come with the 101). */
  got: Collected;
  /** Its 'close' (code and reason). */
  closed: Promise<{ code: number; reason: string }>;
  /** Settles when it opens, or rejects with the status and body of a refused upgrade (or the error). */
  opened: Promise<void>;
}

export function client(url: string, options: WsDefault.ClientOptions = {}): Client {
  const ws = new RealWebSocket(url, options);
  const got = collect(ws);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: String(reason) })),
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => {
        body += s;
      });
      res.on('end', () =>
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body })),
      );
    });
    ws.once('error', reject);
  });
  opened.catch(() => {});
  return { ws, got, closed, opened };
}

/** Every message of a WebSocket from now on (as text, or `bin:<length>:<first byte>`), and a wait for a count. */
export interface Collected {
  messages: string[];
  /** Resolves once `count` messages are in (in all). */
  until(count: number): Promise<string[]>;
}

export function collect(ws: { on(e: 'message', f: (data: Buffer, isBinary: boolean) => void): unknown }): Collected {
  const messages: string[] = [];
  let waiting: { count: number; resolve: (m: string[]) => void } | undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push(isBinary ? `bin:${data.length}:${data[0]}` : String(data));
    if (waiting && messages.length >= waiting.count) waiting.resolve(messages);
  });
  return {
    messages,
    until: (count) =>
      messages.length >= count ? Promise.resolve(messages) : new Promise((resolve) => (waiting = { count, resolve })),
  };
}

/** The code and reason of the next 'close' of a WebSocket (call before the close can happen). */
export function closed(ws: { once(e: 'close', f: (code: number, reason: Buffer) => void): unknown }): Promise<{
  code: number;
  reason: string;
}> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

/** Prints the result for the parent test (one JSON line, the last). */
export function report(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Values pushed by callbacks, awaited one at a time in order. */
export function queue<T>() {
  const items: T[] = [];
  const waiters: ((item: T) => void)[] = [];
  return {
    push(item: T) {
      const w = waiters.shift();
      if (w) w(item);
      else items.push(item);
    },
    next(): Promise<T> {
      const item = items.shift();
      return item !== undefined ? Promise.resolve(item) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** An agent of the app's own, counting the connections it makes: what a package passes to the engine as ws's `agent`. */
export class CountingAgent extends http.Agent {
  connections = 0;
  override createConnection(...args: Parameters<http.Agent['createConnection']>) {
    this.connections++;
    return super.createConnection(...args);
  }
}
