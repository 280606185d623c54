/**
 * `ws-stream` loads what a command runs only when it runs: a usage error, `--help` or `--version`
 * reads the command line and prints, without loading the stream, pub/sub, TLS or HTTP layers (each
 * short run paid ~0.07 s of CPU for them). The modules each run imports are recorded by a loader
 * hook (loaded-modules.ts); a server that starts, and a connect that runs, show the hook sees them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startCollecting } from './cli-support.js';

const dir = mkdtempSync(join(tmpdir(), 'ws-stream-loaded-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const PRELOAD = new URL('./loaded-modules.js', import.meta.url).href;
const SRC = new URL('../../src/', import.meta.url).href;

let runs = 0;
/**
 * Runs `ws-stream ARGS` with the loader hook; `stop` (given its stdout so far) says when to send it
 * SIGINT (a server). Resolves with its exit code, stdout, stderr, and the modules it loaded: files of
 * src/ relative to it (`cli/args.js`), built-ins as they are (`node:tls`).
 */
async function loadedBy(
  args: string[],
  stop?: (out: string) => boolean,
): Promise<{ code: number | null; out: string; err: string; loaded: string[] }> {
  const file = join(dir, `run-${runs++}`);
  const run = startCollecting(args, 'ignore', ['--import', PRELOAD], { WS_STREAM_TEST_LOADED: file });
  if (stop) {
    run.proc.stdout!.on('data', () => {
      if (stop(run.out())) run.proc.kill('SIGINT');
    });
  }
  const { code, out, err } = await run.exited;
  const loaded = readFileSync(file, 'utf8')
    .split('\n')
    .filter((url) => url !== '')
    .map((url) => (url.startsWith(SRC) ? url.slice(SRC.length) : url));
  return { code, out, err, loaded };
}

/** What a command's runs must not load before the command runs. */
function heavy(loaded: string[]): string[] {
  return loaded.filter(
    (m) =>
      /^(stream|codec|compat)\//.test(m) ||
      (m.startsWith('pubsub/') && m !== 'pubsub/broker-support.js') ||
      ['cli/serve.js', 'cli/echo-serve.js', 'cli/pubsub-serve.js', 'cli/connect.js', 'cli/workers.js'].includes(m) ||
      ['node:tls', 'node:http', 'node:http2', 'node:cluster', 'node:child_process'].includes(m),
  );
}

describe('what a short run loads', { concurrency: 4 }, () => {
  const cases: [string[], number, RegExp][] = [
    [['serve', '--bogus'], 2, /^ws-stream serve: Unknown option '--bogus'/],
    [['serve', '--port', '08'], 2, /^ws-stream serve: --port takes a whole number/],
    [['serve', '--pubsub', '--history', 'x'], 2, /^ws-stream serve: --history takes/],
    [['serve', '--help'], 0, /^$/],
    [['connect'], 2, /^ws-stream connect: give the URL/],
    [['connect', '--help'], 0, /^$/],
    [['--help'], 0, /^$/],
    [['--version'], 0, /^$/],
    [['bogus'], 2, /^ws-stream: unknown command "bogus"/],
  ];
  for (const [args, exitCode, stderr] of cases) {
    it(`ws-stream ${args.join(' ')}: exit ${exitCode}, without the layers a command runs`, async () => {
      const { code, err, loaded } = await loadedBy(args);
      assert.equal(code, exitCode, err);
      assert.match(err, stderr);
      assert.ok(loaded.includes('cli/args.js'), `the hook saw the modules loaded: ${loaded.join(' ')}`);
      assert.deepEqual(heavy(loaded), []);
    });
  }
});

describe('what a command that runs loads', () => {
  it('serve: the echo server, its stream and node:http (SIGINT once it listens)', async () => {
    const { code, out, loaded } = await loadedBy(['serve', '--port', '0'], (o) => o.includes('listening on'));
    assert.equal(code, 0);
    assert.match(out, /^ws-stream echo server listening on ws:\/\/127\.0\.0\.1:\d+\/\nshutting down\n$/);
    for (const m of [
      'cli/echo-serve.js',
      'cli/serve.js',
      'cli/workers.js',
      'stream/websocket-stream.js',
      'node:http',
    ]) {
      assert.ok(loaded.includes(m), `${m} among ${loaded.join(' ')}`);
    }
    assert.ok(!loaded.includes('cli/pubsub-serve.js'));
  });

  it('serve --pubsub: the pub/sub server over the echo server’s HTTP layer', async () => {
    const { code, loaded } = await loadedBy(['serve', '--pubsub', '--port', '0'], (o) => o.includes('listening on'));
    assert.equal(code, 0);
    for (const m of ['cli/pubsub-serve.js', 'pubsub/pubsub.js', 'cli/serve.js']) {
      assert.ok(loaded.includes(m), `${m} among ${loaded.join(' ')}`);
    }
    assert.ok(!loaded.includes('cli/echo-serve.js'));
  });

  it('connect to a port nobody listens on: the client is loaded, and fails with exit 1', async () => {
    const { code, err, loaded } = await loadedBy(['connect', 'ws://127.0.0.1:1/']);
    assert.equal(code, 1);
    assert.match(err, /ECONNREFUSED/);
    for (const m of ['cli/connect.js', 'stream/connect.js'])
      assert.ok(loaded.includes(m), `${m} among ${loaded.join(' ')}`);
  });
});
