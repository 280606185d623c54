/** Shared by test/cli: running `ws-stream` as a child process and watching what it prints and how it exits. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/**
 * Runs `ws-stream serve ARGS` (on port 0, unless ARGS name one) that must NOT start: resolves when
 * it exits. If it prints that it listens, it is killed and the promise rejects: a bad command line
 * must never start a server, even briefly.
 */
export function runRefused(args: string[]): Promise<Run> {
  const p = spawn(process.execPath, [MAIN, 'serve', ...(args.includes('--port') ? [] : ['--port', '0']), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on/.test(out)) {
        p.kill('SIGKILL');
        reject(new Error(`ws-stream serve ${args.join(' ')} started: ${out}`));
      }
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    // 'close', not 'exit': the process may be gone before its last output has been read from the pipes.
    p.once('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

/** A running `node [NODE-ARGS] ws-stream ARGS` whose output is collected as it comes. */
export interface Started {
  proc: ChildProcess;
  /** What it printed on stdout so far. */
  out(): string;
  /** Resolves once it exited and its output is all read: all it printed and how it ended. */
  exited: Promise<Run>;
}

/**
 * Starts `node [NODE-ARGS] ws-stream ARGS` (its stdin a pipe when `stdin` is 'pipe', `env` added to
 * this process's environment), collecting what it prints.
 */
export function startCollecting(
  args: string[],
  stdin: 'pipe' | 'ignore' = 'ignore',
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Started {
  const proc = spawn(process.execPath, [...nodeArgs, MAIN, ...args], {
    stdio: [stdin, 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  // (At 'close': all it printed has been read.)
  const exited = new Promise<Run>((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { proc, out: () => out, exited };
}

/** Runs `node [NODE-ARGS] ws-stream ARGS` with no input (`env` added) to its exit: what it printed and how it ended. */
export function runToExit(args: string[], nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  return startCollecting(args, 'ignore', nodeArgs, env).exited;
}

/** Waits for a child process to exit; resolves with its code and signal. */
export function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  }
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The pids of a process's children (Linux: /proc/PID/task/PID/children). */
export async function childrenOf(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text
    .split(' ')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/** Whether process `pid` is there (signal 0 only asks). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of cluster worker `id` (NODE_UNIQUE_ID in its environment) among the children of `primary`. */
export function workerPid(primary: number, id: string): number {
  for (const task of readdirSync(`/proc/${primary}/task`)) {
    for (const child of readFileSync(`/proc/${primary}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
      const env = readFileSync(`/proc/${child}/environ`, 'latin1').split('\0');
      if (env.includes(`NODE_UNIQUE_ID=${id}`)) return Number(child);
    }
  }
  assert.fail(`no worker ${id} among the children of ${primary}`);
}

/**
 * Runs `ws-stream connect ARGS` as a person would: once it prints `connected to`, types `line`; once
 * the echo of it is printed, ends the input (Ctrl-D), so that it closes with 1000. Without a
 * connection it just runs to its exit. No timer: each step waits for what it printed.
 */
export function runConnectEcho(args: string[], line: string): Promise<Run> {
  const p = spawn(process.execPath, [MAIN, 'connect', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let typed = false;
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!typed && /^connected to /m.test(out)) {
      typed = true;
      p.stdin.write(`${line}\n`);
    }
    if (typed && out.includes(`\n< ${line}\n`) && !p.stdin.writableEnded) p.stdin.end();
  });
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  p.stdin.on('error', () => {}); // (it may exit before reading, when it cannot connect)
  return new Promise((resolve) => p.once('close', (code, signal) => resolve({ code, signal, out, err })));
}

/**
 * A `serve` child process (killed after the test) with its stderr kept: run without `--quiet`, it
 * tells outages and skipped offsets there.
 */
export interface Served {
  port: number;
  readonly stderr: () => string;
  /** Waits until stderr holds `text`. */
  told(text: string): Promise<void>;
  /** SIGINT, then its exit: stderr is then all it ever printed. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function serveTelling(t: TestContext, args: string[]): Promise<Served> {
  const proc: ChildProcess = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = exitOf(proc);
  t.after(async () => {
    proc.kill('SIGINT');
    await exited;
  });
  let out = '';
  let err = '';
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    wake();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    wake();
  });
  void exited.then(wake);
  const until = (cond: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (cond()) resolve();
        else if (proc.exitCode !== null || proc.signalCode !== null)
          reject(new Error(`serve exited before ${what}: ${err}`));
        else waiters.push(check);
      };
      check();
    });
  const listening = /listening on ws:\/\/\S+:(\d+)\//;
  await until(() => listening.test(out), 'it listened');
  return {
    port: Number(listening.exec(out)![1]),
    stderr: () => err,
    told: (text) => until(() => err.includes(text), JSON.stringify(text)),
    stop: () => {
      proc.kill('SIGINT');
      return exited;
    },
  };
}
