/**
 * The memory a `serve --pubsub` process holds for clients recovering with `since` (doc/pubsub.md,
 * *Many recovering at once*). After `npx tsc -p .`:
 *
 *   node bench/tools/recovery-memory.mjs CLIENTS MODE READ [MSG_SIZE] [redis|nats] ["SERVE FLAGS"]
 *
 * MODE `since`: one topic of 16 MiB, client i recovering from offset i; `topics`: a topic of 16 MiB
 * per client, each recovered from its start. READ `none`: the clients read nothing; `slow`: a
 * little now and then; `none+reader`: they read nothing, then one more client that reads recovers
 * topic t0 from its start, and the time until it has all of it is printed (or that it still waits
 * after 60 s: what clients that stop reading mid-recovery did to those behind them before
 * `--recovery-stall-timeout`). Prints the server's peak RSS and ArrayBuffers (reported by the
 * server itself every 250 ms through a preloaded module), and what is left once the clients are gone.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const W = fileURLToPath(new URL('../../dist', import.meta.url));
const preload = fileURLToPath(new URL('./memory-report.mjs', import.meta.url));
const { BrokerProcess } = await import(`${W}/test/support/brokers.js`);
const { JsonClient } = await import(`${W}/test/pubsub/pubsub-support.js`);
const [clients = 200, mode = 'since', readArg = 'none', size = 16 * 1024, kind = 'redis', extra = ''] =
  process.argv.slice(2);
const reader = readArg === 'none+reader';
const read = reader ? 'none' : readArg;
const N = Number(clients),
  SIZE = Number(size);
const broker = kind === 'nats' ? await BrokerProcess.nats() : await BrokerProcess.redis();
const proc = spawn(
  process.execPath,
  [
    '--import',
    preload,
    `${W}/src/cli/main.js`,
    'serve',
    '--pubsub',
    '--port',
    '0',
    '--quiet',
    '--broker',
    broker.url,
    ...(extra ? extra.split(' ') : []),
  ],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let peak = { rss: 0, ab: 0 };
let last = null;
let errBuf = '';
proc.stderr.on('data', (d) => {
  errBuf += d;
  let i;
  while ((i = errBuf.indexOf('\n')) >= 0) {
    const line = errBuf.slice(0, i);
    errBuf = errBuf.slice(i + 1);
    if (line.startsWith('MEM ')) {
      last = JSON.parse(line.slice(4));
      peak.rss = Math.max(peak.rss, last.rss);
      peak.ab = Math.max(peak.ab, last.ab);
    } else process.stderr.write(`server: ${line}\n`);
  }
});
const port = await new Promise((resolve) => {
  let out = '';
  proc.stdout.on('data', (d) => {
    out += d;
    const m = /:(\d+)\//.exec(out);
    if (m) resolve(Number(m[1]));
  });
});
const MB = (b) => (b / 1048576).toFixed(0);
const topics = mode === 'topics' ? N : 1;
const perTopic = Math.min(1000, Math.floor((16 * 1024 * 1024) / SIZE)); // up to 16 MiB of history each
const { RedisBroker } = await import(`${W}/src/pubsub/redis-broker.js`);
const { NatsBroker } = await import(`${W}/src/pubsub/nats-broker.js`);
const feeder = kind === 'nats' ? new NatsBroker({ url: broker.url }) : new RedisBroker({ url: broker.url });
await feeder.open(new (await import(`${W}/test/support/brokers.js`)).BrokerRecorder(), {
  size: 1000,
  ttlSeconds: 300,
  bytes: 16 * 1024 * 1024,
});
const epochs = [];
const t0 = Date.now();
const data = Buffer.from(JSON.stringify('x'.repeat(SIZE - 20)));
for (let t = 0; t < topics; t++) {
  let at;
  for (let i = 0; i < perTopic; i += 4)
    at = await Promise.all(
      Array.from({ length: Math.min(4, perTopic - i) }, () => feeder.publish(`t${t}`, data, false)),
    );
  epochs.push(at[0].epoch);
}
await feeder.close();
console.log(
  `published ${topics} topic(s) × ${perTopic} × ${SIZE} B in ${Date.now() - t0} ms; server before: rss ${MB(last.rss)} MB ab ${MB(last.ab)} MB`,
);
peak = { rss: 0, ab: 0 };
const subs = [];
for (let i = 0; i < N; i++) {
  const c = await JsonClient.connect(port);
  c.send({
    op: 'subscribe',
    topic: mode === 'topics' ? `t${i}` : 't0',
    since: { offset: mode === 'topics' ? 0 : i, epoch: epochs[mode === 'topics' ? i : 0] },
  });
  if (read === 'none') c.sock.pause();
  if (i === 0) {
    c.sock.resume();
    const r = await c.next();
    console.log(JSON.stringify(r).slice(0, 200));
    if (read === 'none') c.sock.pause();
  }
  subs.push(c);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (read === 'slow') {
  // each client reads 64 KiB/s-ish: resume 10 ms in every 500 ms
  for (const c of subs) c.sock.pause();
  const end = Date.now() + 20000;
  while (Date.now() < end) {
    for (const c of subs) c.sock.resume();
    await sleep(10);
    for (const c of subs) c.sock.pause();
    await sleep(490);
  }
} else if (reader) {
  const c = await JsonClient.connect(port);
  const t1 = Date.now();
  c.send({ op: 'subscribe', topic: 't0', since: { offset: 0, epoch: epochs[0] } });
  const all = (async () => {
    for (let i = 0; i <= perTopic; i++) await c.next(); // its reply, then every message
    return `the reader behind them recovered all ${perTopic} messages in ${Date.now() - t1} ms`;
  })();
  console.log(await Promise.race([all, sleep(60000).then(() => 'the reader behind them still waits after 60 s')]));
  subs.push(c);
} else {
  await sleep(15000);
}
console.log(
  `${N} clients mode=${mode} read=${read}: server peak rss ${MB(peak.rss)} MB, arrayBuffers ${MB(peak.ab)} MB; now rss ${MB(last.rss)} ab ${MB(last.ab)}`,
);
for (const c of subs) c.close();
await sleep(3000);
console.log(`after clients left: rss ${MB(last.rss)} MB ab ${MB(last.ab)} MB`);
proc.kill('SIGINT');
await new Promise((r) => proc.once('exit', r));
await broker.stop();
