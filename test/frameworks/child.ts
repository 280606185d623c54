/**
 * Runs a framework app (a script under test/frameworks/apps/) in a child process on each engine: with `ws` as
 * installed (the control) and with `ws` resolved to ws-stream/ws by test/support/ws-alias.ts, as a user runs a package
 * that requires ws internally. The app prints one JSON line of what it observed and exits; the test compares it with
 * the same expectations on both engines. FRAMEWORKS_ENGINE=ws or FRAMEWORKS_ENGINE=ws-stream/ws runs one alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { TestContext } from 'node:test';

export interface AliasEngine {
  name: 'ws' | 'ws-stream/ws';
  /** node's flags for the child. */
  flags: string[];
}

const all: AliasEngine[] = [
  { name: 'ws', flags: [] },
  { name: 'ws-stream/ws', flags: ['--import', new URL('../support/ws-alias.js', import.meta.url).href] },
];
const only = process.env.FRAMEWORKS_ENGINE;
export const aliasEngines: AliasEngine[] = only ? all.filter((e) => e.name === only) : all;
if (aliasEngines.length === 0) throw new Error(`FRAMEWORKS_ENGINE=${only}: no such engine (ws, ws-stream/ws)`);

/** The real ws (the apps' fixed peer), by its file path, which the alias leaves alone. */
const realWs = createRequire(import.meta.url).resolve('ws');

/**
 * Stops a child still running after its test: SIGTERM first (puppeteer closes the Chromium it launched on it), SIGKILL
 * if it has not exited 5 s later.
 */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Runs a package's own `node:test` files (paths relative to its folder, which is the working directory) on `engine`,
 * one file at a time; returns the runner's counts. The child is killed after the test if it is still running.
 */
export function runPackageTests(
  t: TestContext,
  packageDir: string,
  files: string[],
  engine: AliasEngine,
): Promise<{ code: number | null; tests: number; pass: number; fail: number; output: string; failures: string }> {
  // Its own runner reports in text: not as a child of ours (which sets NODE_TEST_CONTEXT for its children).
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [...engine.flags, '--test', '--test-concurrency=1', ...files], {
    cwd: packageDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => stop(child));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    output += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    output += s;
  });
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? Number.NaN);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      // Each failing test's report (from its `not ok` line to the next test), for the assertion's message.
      const failures = output.match(/^ *not ok [\s\S]*?(?=^ *# Subtest|^ *ok |^# tests)/gm)?.join('') ?? '';
      resolve({ code, tests: count('tests'), pass: count('pass'), fail: count('fail'), output, failures });
    });
  });
}

/**
 * Runs `apps/<app>.js` on `engine` and returns the JSON it printed last. The child is killed after the test if it is
 * still running; its stderr is in the error when it exits otherwise than with 0.
 */
export function runApp<T>(t: TestContext, app: string, engine: AliasEngine, env: NodeJS.ProcessEnv = {}): Promise<T> {
  const script = new URL(`./apps/${app}.js`, import.meta.url);
  const child = spawn(process.execPath, [...engine.flags, script.pathname], {
    env: { ...process.env, ...env, REAL_WS: realWs, APP_ENGINE: engine.name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => stop(child));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`${app} on ${engine.name} exited ${code ?? signal}:\n${err}\n${out}`));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${app} on ${engine.name} printed no result:\n${out}\n${err}`));
      }
    });
  });
}
