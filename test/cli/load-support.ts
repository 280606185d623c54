/**
 * Shared by test/cli/load-*: `ws-stream serve` in a child process whose memory and descriptors the
 * test reads (the JS heap after a full GC by SIGUSR2, bench/servers/heap-report.ts; the descriptor
 * count from /proc), and clients opened many at a time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { binary, closeFrame, requestHead } from '../support/frames.js';
import { MAIN } from './cli-support.js';

const HEAP_REPORT = new URL('../../bench/servers/heap-report.js', import.meta.url).href;

export interface ProbedServer {
  proc: ChildProcess;
  url: string;
  port: number;
  /** The JS heap in use after a full GC, in bytes. */
  heap(): Promise<number>;
  /** The next line of output that matches `re` (after what earlier calls took). */
  line(re: RegExp): Promise<RegExpExecArray>;
  /** Open file descriptors of the server process. */
  fds(): number;
  /** SIGTERM, and its exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * V8 without its optimising tiers: their compiled code and dependency lists grow the heap by up to
 * ~300 KB a cycle while they warm up, which hides a leak of a few hundred bytes per connection and
 * made a step of the heap's level fail on a loaded machine. Interpreted, a clean cycle moves the
 * heap by tens of KB at most.
 */
export const STEADY_HEAP = ['--no-opt', '--no-maglev', '--no-sparkplug'];

/**
 * Starts `ws-stream serve --port 0 --quiet ARGS` with `--expose-gc`, `nodeArgs` (by default
 * STEADY_HEAP) and the heap report; with `program`, that ES module source instead (run with
 * `--input-type=module -e`), which must print `listening on ws://HOST:PORT/`.
 */
export async function startProbed(
  args: string[],
  program?: string,
  nodeArgs: string[] = STEADY_HEAP,
): Promise<ProbedServer> {
  const run =
    program === undefined ? [MAIN, 'serve', '--port', '0', '--quiet', ...args] : ['--input-type=module', '-e', program];
  // Without V8's coverage: `npm test` runs under c8, whose NODE_V8_COVERAGE reaches every child, and
  // its counters grow the heap as code first runs (a TLS cycle's closed heap jumped by 200–700 KB,
  // against the ~700 KB its 150 connections hold while open): the heap measured is the server's.
  // Empty, not deleted: node's spawn puts a missing NODE_V8_COVERAGE back from its own environment.
  const env = { ...process.env, NODE_V8_COVERAGE: '' };
  const proc = spawn(process.execPath, ['--expose-gc', ...nodeArgs, '--import', HEAP_REPORT, ...run], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let out = '';
  const waiters: (() => void)[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  const next = (re: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(out);
        if (m) {
          out = out.slice(m.index + m[0].length);
          return resolve(m);
        }
        if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`the server exited: ${out}`));
        waiters.push(check);
      };
      check();
    });
  proc.once('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  const url = (await next(/listening on (wss?:\/\/\S+)/))[1]!;
  return {
    proc,
    url,
    port: Number(new URL(url).port),
    line: next,
    heap: async () => {
      const line = next(/heap (\d+) before/);
      proc.kill('SIGUSR2');
      return Number((await line)[1]);
    },
    fds: () => readdirSync(`/proc/${proc.pid}/fd`).length,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * A leak grows the heap in every cycle; the noise of a loaded machine (code the JIT still makes,
 * caches filled once) jumps in one and not the next. So, over three or more measurements taken
 * after a warm-up, this fails when EVERY step grew by more than `perStep` bytes.
 */
export function assertNoSteadyGrowth(heaps: number[], perStep: number, what: string): void {
  assert.ok(heaps.length >= 3, `${heaps.length} measurements`);
  const steps = heaps.slice(1).map((h, i) => h - heaps[i]!);
  assert.ok(
    steps.some((d) => d <= perStep),
    `heap after each ${what}: ${heaps.join(', ')}: every step grew by more than ${perStep} bytes`,
  );
}

/**
 * Cycles 1–3 of a run (cycle 0 warms up): the heap after the clients left may not grow in every
 * cycle by more than a quarter of what `n` open connections held in the first (a connection
 * kept, or a quarter of one, shows in every cycle).
 */
export function assertHeapReturns(open: number[], closed: number[], n: number): void {
  const perCycle = open[0]! - closed[0]!; // what the open connections held
  assert.ok(perCycle > 0, `open ${open[0]}, closed ${closed[0]}`);
  assertNoSteadyGrowth(closed, perCycle / 4, `cycle of ${n} connections (they held ${perCycle} while open)`);
}

/**
 * Re-checks `f` on a short period (up to ~60 s: a loaded machine can take long to release what
 * a burst held) until it holds; returns whether it did.
 */
export async function eventually(f: () => boolean): Promise<boolean> {
  for (let i = 0; i < 3000; i++) {
    if (f()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return f();
}

/** Opens `n` ws clients, `par` handshakes at a time; rejects on the first that fails. */
export async function openClients(
  url: string,
  n: number,
  par = 100,
  options: WebSocket.ClientOptions = {},
): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i += par) {
    const batch = Array.from({ length: Math.min(par, n - i) }, async () => {
      const ws = new WebSocket(url, options);
      await once(ws, 'open');
      return ws;
    });
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Closes every client (close 1000) and waits until each is closed. */
export async function closeClients(clients: WebSocket[]): Promise<void> {
  await Promise.all(
    clients.map((ws) => {
      if (ws.readyState === WebSocket.CLOSED) return undefined;
      const closed = once(ws, 'close');
      ws.close(1000);
      return closed;
    }),
  );
}

/** One connection that ends one of six ways. */
export async function churnOne(port: number, kind: number): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, 'connect');
  const upgraded = async (): Promise<void> => {
    sock.write(requestHead({ Host: `127.0.0.1:${port}` }));
    let head = '';
    while (!head.includes('\r\n\r\n')) head += String((await once(sock, 'data'))[0]);
    assert.match(head, /^HTTP\/1\.1 101 /);
  };
  const closed = once(sock, 'close');
  switch (kind) {
    case 0: // the close handshake, then the server's FIN
      await upgraded();
      sock.write(closeFrame(1000));
      sock.on('data', () => {});
      sock.once('end', () => sock.end());
      break;
    case 1: // a message, then a reset
      await upgraded();
      sock.write(binary(Buffer.alloc(200, 1)));
      sock.resetAndDestroy();
      break;
    case 2: // FIN without a close frame
      await upgraded();
      sock.on('data', () => {});
      sock.end();
      break;
    case 3: // half a request head, then a reset
      sock.write(requestHead().slice(0, 60));
      sock.resetAndDestroy();
      break;
    case 4: // the request, closed before the answer is read
      sock.write(requestHead({ Host: `127.0.0.1:${port}` }));
      sock.destroy();
      break;
    case 5: // a reset in the middle of a frame
      await upgraded();
      sock.write(binary(Buffer.alloc(5000, 2)).subarray(0, 1000));
      sock.resetAndDestroy();
      break;
  }
  await closed;
}
