/** Shared by test/cli: running `ws-stream` as a child process and watching what it prints and how it exits. */
import { type ChildProcess, spawn } from 'node:child_process';
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
    p.once('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

/** Runs `node [NODE-ARGS] ws-stream ARGS` with no input to its exit: what it printed and how it ended. */
export function runToExit(args: string[], nodeArgs: string[] = []): Promise<Run> {
  const p = spawn(process.execPath, [...nodeArgs, MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal, out, err })));
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
