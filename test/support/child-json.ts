/**
 * Runs a script of the test tree in a child process of its own (for what must not happen in the test runner's
 * process: uncaught exceptions on purpose) and returns the one JSON object it printed; fails unless it exited 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export async function runJsonChild<T>(script: URL, args: string[]): Promise<T> {
  const child = spawn(process.execPath, [fileURLToPath(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d;
  });
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, out);
  return JSON.parse(out) as T;
}
