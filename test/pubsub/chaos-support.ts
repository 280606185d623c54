/**
 * The model-based check (test/pubsub/model-support.ts) with faults between its steps, for
 * test/pubsub/chaos-*.test.ts: the broker killed and started again, one process's link to the
 * broker cut (a TcpProxy between each process and the broker) and restored, one process SIGKILLed
 * and another started in its place, one `--workers` worker SIGKILLed. What the model requires
 * after each is in `ModelFaults`. Fixed seeds; `PUBSUB_SEED=N` replays one, `PUBSUB_STEPS=N` runs
 * longer, `PUBSUB_TRACE=1` prints every request, reply and wait.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { workerPid } from '../cli/cli-support.js';
import { startServer, teardownOrReport } from '../conformance/raw-client.js';
import { BrokerProcess, TcpProxy } from '../support/brokers.js';
import { type ModelDeployment, type ModelFaults, type ModelProgress, modelSeeds, runModel } from './model-support.js';
import type { Peer, Server } from './outside-support.js';

/** History per topic: a fault step publishes up to some tens of messages per topic, all of which it holds. */
const HISTORY = 64;
/** NATS's max_payload (1 MiB by default) less room for the broker's headers. */
const NATS_MAX_DATA = 1024 * 1024 - 200;

/** Steps per seed: `PUBSUB_STEPS`, else `fixed`. */
function chaosSteps(fixed: number): number {
  return Number(process.env.PUBSUB_STEPS ?? fixed);
}

/** SIGKILLs a child process and waits until it is gone. */
async function sigkill(proc: Server['proc']): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await gone;
}

/** One test per seed: the model run with `faults` on `deployment()`, its fault kinds each struck. */
function chaosSeedTests(
  fixed: number[],
  steps: number,
  deployment: () => ModelDeployment,
  opened: Peer[],
  kinds: string[],
): void {
  const struck = new Set<string>();
  for (const seed of modelSeeds(fixed)) {
    const progress: ModelProgress = { where: '', waiting: new Set() };
    let finished = false;
    after(() => {
      if (!finished) console.log(`seed ${seed} stopped at ${progress.where}; waiting for ${[...progress.waiting]}`);
    });
    it(`seed ${seed} (PUBSUB_SEED=${seed} to replay): every reply and message as the model says, through faults`, {
      timeout: 180_000,
    }, async () => {
      const d = deployment();
      const stats = await runModel(d, seed, chaosSteps(steps), opened, progress);
      finished = true;
      for (const k of Object.keys(stats.faults)) struck.add(k.split(' ')[0]!);
      console.log(`${d.name}, seed ${seed}: ${JSON.stringify(stats)}`);
    });
  }
  if (process.env.PUBSUB_SEED === undefined && process.env.PUBSUB_STEPS === undefined) {
    it('the fixed seeds strike every kind of fault', () => {
      assert.deepEqual([...struck].sort(), [...kinds].sort());
    });
  }
}

/**
 * `processes` `serve --pubsub` processes on one Redis (without persistence: a restart is a new
 * epoch) or NATS (JetStream file storage: a restart keeps every stream), each through its own
 * TcpProxy to the broker; faults: the broker restarted, one link cut, one process killed.
 */
export function describeChaosOnBroker(
  kind: 'redis' | 'nats',
  processes: number,
  run: { seeds: number[]; steps: number; rate: number },
): void {
  describe(`chaos: ${processes} serve --pubsub processes on one ${kind}, with faults between steps`, () => {
    let broker: BrokerProcess;
    const proxies: TcpProxy[] = [];
    const servers: Server[] = [];
    const opened: Peer[] = [];
    const start = (proxy: TcpProxy): Promise<Server> =>
      startServer(['--pubsub', '--broker', proxy.url(kind), '--history', String(HISTORY)]);
    const at = (port: number): number => servers.findIndex((s) => s.port === port);
    before(async () => {
      broker = await (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats());
      for (let i = 0; i < processes; i++) proxies.push(await TcpProxy.start(broker.port));
      servers.push(...(await Promise.all(proxies.map(start))));
    });
    after(() =>
      teardownOrReport(
        [
          () => {
            for (const p of opened) p.close();
          },
          () => Promise.all(servers.map((s) => s.stop())),
          async () => {
            for (const p of proxies) await p.close();
          },
          () => broker.stop(),
        ],
        () => servers.flatMap((s) => s.left()),
      ),
    );
    const faults: ModelFaults = {
      rate: run.rate,
      broker: { kill: () => broker.kill(), start: () => broker.start(), keeps: kind === 'nats' },
      link: { cut: (port) => proxies[at(port)]!.cut(), restore: (port) => proxies[at(port)]!.restore() },
      server: {
        kill: (port) => sigkill(servers[at(port)]!.proc),
        start: async (port) => {
          const i = at(port);
          servers[i] = await start(proxies[i]!);
          return servers[i]!.port;
        },
      },
    };
    chaosSeedTests(
      run.seeds,
      run.steps,
      () => ({
        name: `${processes} processes on ${kind}`,
        ports: servers.map((s) => s.port),
        workers: 1,
        history: HISTORY,
        orderAcrossTopics: kind === 'redis',
        brokerMaxData: kind === 'nats' ? NATS_MAX_DATA : undefined,
        faults,
      }),
      opened,
      ['broker', 'link', 'server'],
    );
  });
}

/**
 * `serve --pubsub --workers 2`, through the primary or on Redis (each worker its own broker
 * connections); faults: one worker SIGKILLed (the primary starts another), and on Redis the
 * broker restarted.
 */
export function describeChaosOnWorkers(run: { seeds: number[]; steps: number; rate: number }, on?: 'redis'): void {
  describe(`chaos: serve --pubsub --workers 2${on ? ' on one redis' : ''}, a worker killed between steps`, () => {
    let server: Server;
    let broker: BrokerProcess | undefined;
    const opened: Peer[] = [];
    before(async () => {
      if (on) broker = await BrokerProcess.redis();
      const where = broker ? ['--broker', broker.url] : [];
      server = await startServer(['--pubsub', '--history', String(HISTORY), '--workers', '2', ...where]);
    });
    after(() =>
      teardownOrReport(
        [
          () => {
            for (const p of opened) p.close();
          },
          () => server.stop(),
          () => broker?.stop(),
        ],
        () => server?.left() ?? [],
      ),
    );
    chaosSeedTests(
      run.seeds,
      run.steps,
      () => ({
        name: `--workers 2, ${broker ? 'on redis' : 'through the primary'}`,
        ports: [server.port],
        workers: 2,
        history: HISTORY,
        forgetsIdleTopics: !broker,
        orderAcrossTopics: true,
        faults: {
          rate: run.rate,
          // (its clients' connections closing tell that it is gone)
          worker: {
            kill: async (_port, worker) => void process.kill(workerPid(server.proc.pid!, worker), 'SIGKILL'),
            max: 1,
          },
          broker: broker && { kill: () => broker!.kill(), start: () => broker!.start(), keeps: false },
        },
      }),
      opened,
      on ? ['worker', 'broker'] : ['worker'],
    );
  });
}
