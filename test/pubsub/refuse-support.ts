/** Shared by test/pubsub/refuse-*.test.ts and test/cli/pubsub-broker-auth.test.ts: `ws-stream serve --pubsub --broker URL` run to its exit. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `serve --pubsub --broker url` run to its exit: the code and what it wrote (killed if it ever listens). */
export function serveToExit(url: string): Promise<{ code: number | null; out: string; err: string }> {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const proc = spawn(process.execPath, [main, 'serve', '--port', '0', '--pubsub', '--broker', url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    // (listening is the fault this guards against: stop it so the test fails, not hangs)
    if (out.includes('listening')) proc.kill('SIGINT');
  });
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out, err })));
}
