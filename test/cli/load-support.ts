/**
 * Shared by test/cli/load-*: `ws-stream serve` in a child process whose memory and descriptors the
 * test reads (the JS heap after a full GC by SIGUSR2, bench/servers/heap-report.ts; the descriptor
 * count from /proc), and clients opened many at a time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import WebSocket from 'ws';
import { MAIN } from './cli-support.js';

const HEAP_REPORT = new URL('../../bench/servers/heap-report.js', import.meta.url).href;

export interface ProbedServer {
  proc: ChildProcess;
  url: string;
  port: number;
  /** The JS heap in use after a full GC, in bytes. */
  heap(): Promise<number>;
  /** Open file descriptors of the server process. */
  fds(): number;
  /** SIGTERM, and its exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `ws-stream serve --port 0 --quiet ARGS` with `--expose-gc` and the heap report. */
export async function startProbed(args: string[]): Promise<ProbedServer> {
  const proc = spawn(
    process.execPath,
    ['--expose-gc', '--import', HEAP_REPORT, MAIN, 'serve', '--port', '0', '--quiet', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
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

/** Re-checks `f` on a short period (up to ~10 s) until it holds; returns whether it did. */
export async function eventually(f: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
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
