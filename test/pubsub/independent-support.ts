/**
 * The independent checker of `ws-stream serve --pubsub`: a Python `websockets` client
 * (test/pubsub/independent_client.py) written from issue 13's protocol and the README only, run
 * against real servers (child processes) with each broker. This file starts the servers and the
 * broker, runs one check per test, and does what a check asks of it (`CONTROL kill-broker`,
 * `start-broker`, `sigterm`), answering `OK` on the checker's stdin.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { workerPid } from '../cli/cli-support.js';
import { type ProcessLeft, startServer, teardownOrReport } from '../conformance/raw-client.js';
import { PYTHON } from '../interop/support.js';
import type { BrokerProcess } from '../support/brokers.js';

const SCRIPT = fileURLToPath(new URL('../../../test/pubsub/independent_client.py', import.meta.url));
/** `--history` of the servers under test (the checker is told the same). */
const HISTORY = 200;
/**
 * `--history` of the servers of the check that kills the broker while publishers keep publishing:
 * what they publish while one process is back and another not yet. Each process tries again on the
 * clock's multiples (src/pubsub/broker-support.ts), so they come back together, unless the server
 * comes up between their attempts at one multiple (each process's timer, a few ms apart): then one
 * comes back a step later, up to 1 s (RedisBroker's `reconnectMaxDelayMs`; NATS's 250 ms), a loss
 * past history that `PubSub` tells (doc/pubsub.md, *Skipped offsets are told*). At ~1,500
 * publishes/s on an idle machine, history 200 made it fail 1 run in 24 (processes 1 s apart, 950
 * offsets skipped); this holds 3 s of them.
 */
const OUTAGE_HISTORY = 5000;

type Server = Awaited<ReturnType<typeof startServer>>;

/**
 * Runs the checker's `check` against `urls`, acting on its CONTROL requests with `control`; fails
 * with the checker's whole output unless it printed `PASS check` and exited 0.
 */
export async function runCheck(
  urls: string[],
  check: string,
  control: (what: string) => Promise<void> = async (what) => assert.fail(`unexpected CONTROL ${what}`),
  extra: string[] = [],
  history = HISTORY,
): Promise<string> {
  const args = [SCRIPT, '--urls', urls.join(','), '--check', check, '--history', String(history), ...extra];
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const controls: Promise<void>[] = [];
  try {
    for await (const line of createInterface({ input: child.stdout! })) {
      output += `${line}\n`;
      if (line.startsWith('CONTROL ')) {
        controls.push(
          control(line.slice('CONTROL '.length)).then(
            () => void child.stdin!.write('OK\n'),
            (err) => {
              child.stdin!.write(`FAILED ${String(err).replace(/\n/g, ' ')}\n`);
              throw err;
            },
          ),
        );
      }
    }
    await Promise.all(controls);
    const code = await exited;
    assert.ok(output.includes(`PASS ${check}\n`) && code === 0, `the independent checker (exit ${code}):\n${output}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  return output;
}

/**
 * The checker run once for many checks (`--checks-from-stdin`), each named on its stdin in turn (a
 * Python start-up per check cost more than most checks). `run` is `runCheck` for one check.
 */
class Checker {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  readonly #exited: Promise<number | null>;
  #stderr = '';
  /** The check it runs, until its DONE. */
  #running: string | null = null;

  constructor(urls: string[], extra: string[]) {
    const args = [SCRIPT, '--urls', urls.join(','), '--checks-from-stdin', '--history', String(HISTORY), ...extra];
    this.#child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (d: Buffer) => {
      this.#stderr += d.toString();
    });
    this.#child.stdin.on('error', () => {}); // (written after it exited: that check fails on the exit)
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  async run(
    check: string,
    control: (what: string) => Promise<void> = async (what) => assert.fail(`unexpected CONTROL ${what}`),
  ): Promise<string> {
    this.#running = check;
    this.#child.stdin.write(`${check}\n`);
    let output = '';
    const controls: Promise<void>[] = [];
    for (;;) {
      const { value: line, done } = await this.#lines.next();
      if (done) {
        const code = await this.#exited;
        assert.fail(`the independent checker exited (${code}) during ${check}:\n${output}${this.#stderr}`);
      }
      if (line === `DONE ${check}`) {
        this.#running = null;
        break;
      }
      output += `${line}\n`;
      if (line.startsWith('CONTROL ')) {
        controls.push(
          control(line.slice('CONTROL '.length)).then(
            () => void this.#child.stdin.write('OK\n'),
            (err) => {
              this.#child.stdin.write(`FAILED ${String(err).replace(/\n/g, ' ')}\n`);
              throw err;
            },
          ),
        );
      }
    }
    await Promise.all(controls);
    assert.ok(output.includes(`PASS ${check}\n`), `the independent checker:\n${output}${this.#stderr}`);
    return output;
  }

  /** The checker's process, if it is still running. */
  left(): ProcessLeft[] {
    const { pid, exitCode, signalCode } = this.#child;
    return exitCode === null && signalCode === null ? [{ pid: pid!, line: `pid ${pid}: the Python checker` }] : [];
  }

  /** Ends its input, and it exits; killed if a check never finished (its test failed already). */
  async close(): Promise<void> {
    if (this.#running !== null) {
      this.#child.kill('SIGKILL');
      return;
    }
    this.#child.stdin.end();
    const code = await this.#exited;
    assert.equal(code, 0, `the independent checker exited with ${code}:\n${this.#stderr}`);
  }
}

export interface IndependentSuiteOptions {
  name: string;
  /** What the servers run on (the checker's `--broker`: what the docs say differs by it). */
  kind: 'memory' | 'workers' | 'redis' | 'nats';
  /** Server processes on one broker (each gets its own URL); 1 for the in-memory broker or --workers. */
  processes: number;
  /** Extra `serve` arguments (`--workers 2`). */
  args?: string[];
  /** Servers with `--deflate`, clients offering permessage-deflate. */
  deflate?: boolean;
  /** Starts the broker (when there is one). */
  broker?: () => Promise<BrokerProcess>;
}

/** Every check of the independent checker against one kind of `serve --pubsub`. */
export function independentSuite(options: IndependentSuiteOptions): void {
  describe(`independent Python client: ${options.name}`, () => {
    let broker: BrokerProcess | undefined;
    let servers: Server[] = [];
    let urls: string[] = [];
    const serverArgs = (history = HISTORY): string[] => [
      '--pubsub',
      '--history',
      String(history),
      ...(options.args ?? []),
      ...(options.deflate ? ['--deflate'] : []),
      ...(broker ? ['--broker', broker.url] : []),
    ];
    const checkerArgs = ['--broker', options.kind, ...(options.deflate ? ['--deflate'] : [])];
    let checker: Checker;
    before(async () => {
      broker = await options.broker?.();
      servers = await Promise.all(Array.from({ length: options.processes }, () => startServer(serverArgs())));
      urls = servers.map((s) => `ws://127.0.0.1:${s.port}/`);
      checker = new Checker(urls, checkerArgs);
    });
    after(() =>
      teardownOrReport(
        [() => checker?.close(), () => Promise.all(servers.map((s) => s.stop())), () => broker?.stop()],
        () => [...(checker?.left() ?? []), ...servers.flatMap((s) => s.left())],
      ),
    );
    const alive = (): void => {
      for (const s of servers) assert.equal(s.proc.exitCode ?? s.proc.signalCode, null, 'a server exited');
    };

    for (const check of [
      'shapes',
      'bad-input',
      'extra-fields',
      'order',
      'recovery',
      'history',
      'edges',
      'http',
      'topic-chars',
      'recover-live',
      'churn',
      'pipelined',
      'big',
      'join-race',
      ...(options.broker ? [] : ['max-topics']),
    ]) {
      it(check, async () => {
        await checker.run(check);
        alive();
      });
    }
    it('slow subscriber', async () => {
      await checker.run('slow');
      alive();
    });
    if (options.broker) {
      const brokerControl = async (what: string): Promise<void> => {
        if (what === 'kill-broker') return broker!.kill();
        if (what === 'start-broker') return broker!.start();
        assert.fail(`unexpected CONTROL ${what}`);
      };
      it('broker killed and restarted', async () => {
        await checker.run('outage', brokerControl);
        alive();
      });
      it('broker killed and restarted while publishers keep publishing', async (t) => {
        // Servers of their own, whose history holds what is published while one comes back a
        // reconnection step after another (OUTAGE_HISTORY).
        const own = await Promise.all(
          Array.from({ length: options.processes }, () => startServer(serverArgs(OUTAGE_HISTORY))),
        );
        t.after(() => Promise.all(own.map((s) => s.stop())));
        const ownUrls = own.map((s) => `ws://127.0.0.1:${s.port}/`);
        await runCheck(ownUrls, 'outage-live', brokerControl, checkerArgs, OUTAGE_HISTORY);
        for (const s of own) assert.equal(s.proc.exitCode ?? s.proc.signalCode, null, 'a server exited');
        alive();
      });
    }
    if (options.kind === 'workers') {
      it('a worker killed: only its clients lose their connection; the others go on; recovery', async () => {
        await checker.run('worker-death', async (what) => {
          const [verb, id] = what.split(' ');
          assert.equal(verb, 'kill-worker');
          process.kill(workerPid(servers[0]!.proc.pid!, id!), 'SIGKILL');
        });
        alive();
      });
    }
    it('SIGTERM closes every client with 1001 and exits 0', async (t) => {
      // A server of its own, so that the others stay up for the checks above.
      const server = await startServer(serverArgs());
      t.after(() => server.stop());
      const exit = new Promise<[number | null, string | null]>((resolve) =>
        server.proc.once('exit', (code, signal) => resolve([code, signal])),
      );
      await runCheck([`ws://127.0.0.1:${server.port}/`], 'sigterm', async (what) => {
        assert.equal(what, 'sigterm');
        server.proc.kill('SIGTERM');
      });
      assert.deepEqual(await exit, [0, null]);
    });
  });
}
