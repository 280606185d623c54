/**
 * `npm run bench`: ws-stream against `ws` (with bufferutil) and a raw node:net echo, in one run,
 * driven by the same C load generator (bench/loadgen.c) in interleaved rounds, each starting with the next server (A B C, B C A, C A B, …).
 * Prints medians and same-round ratios, server CPU per message and the generator's own CPU.
 *
 * Environment: BENCH_ROUNDS (default 3), BENCH_SECONDS per measurement (default 3), BENCH_CELLS (comma list of cell
 * names to run, default all; fanout8p is the fan-out cell with 8 publishing connections), BENCH_IDLE_CONNS (default 10000).
 *
 * Cells whose server programs are not there (a partner's file not yet merged) are skipped with the
 * reason printed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import os from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const loadgen = join(root, 'dist', 'bench', 'loadgen');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const IDLE_CONNS = Number(process.env.BENCH_IDLE_CONNS ?? 10000);
const ONLY = process.env.BENCH_CELLS ? new Set(process.env.BENCH_CELLS.split(',')) : null;
const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

type ServerName =
  | 'ws-stream'
  | 'ws'
  | 'raw'
  | 'raw-hs'
  | 'ws-stream-net'
  | 'ws-stream-deflate'
  | 'ws-deflate'
  | 'compat'
  | 'socketio-ws-stream'
  | 'socketio-default'
  | 'fanout-pubsub'
  | 'fanout-ws'
  | 'fanout-compat'
  | 'fanout-raw';

/** Each server's program and arguments (node runs them); the port (0) is chosen by the system. */
const programs: Record<ServerName, string[]> = {
  'ws-stream': [join(root, 'dist', 'src', 'cli', 'main.js'), 'serve', '--port', '0', '--quiet'],
  'ws-stream-net': [join(here, 'servers', 'net-accept-echo.js'), '0'],
  'ws-stream-deflate': [join(root, 'dist', 'src', 'cli', 'main.js'), 'serve', '--port', '0', '--quiet', '--deflate'],
  'ws-deflate': [join(here, 'servers', 'ws-echo.js'), '0', 'deflate'],
  ws: [join(here, 'servers', 'ws-echo.js'), '0'],
  raw: [join(here, 'servers', 'raw-echo.js'), '0'],
  'raw-hs': [join(here, 'servers', 'raw-handshake.js'), '0'],
  // ws-stream's ws-compatible API (src/compat) running the same echo as servers/ws-echo.ts.
  compat: [join(here, 'servers', 'compat-echo.js'), '0'],
  // Socket.IO with ws-stream's ws-compatible server as its engine, and with its default (ws).
  'socketio-ws-stream': [join(here, 'servers', 'socketio-echo.js'), '0', '--engine', 'ws-stream'],
  'socketio-default': [join(here, 'servers', 'socketio-echo.js'), '0', '--engine', 'ws'],
  // Fan-out: every message a client sends goes to every client (1,000), itself included.
  'fanout-pubsub': [join(here, 'servers', 'fanout-pubsub.js'), '0'],
  'fanout-ws': [join(here, 'servers', 'fanout-ws.js'), '0'],
  // The same program as fanout-ws.ts on ws-stream's ws-compatible API (src/compat).
  'fanout-compat': [join(here, 'servers', 'fanout-compat.js'), '0'],
  'fanout-raw': [join(here, 'servers', 'fanout-raw.js'), '0'],
};

/** The load generator of the Socket.IO cell (Socket.IO's own client, in Node). */
const socketioLoad = join(here, 'socketio-load.js');

interface Server {
  name: ServerName;
  proc: ChildProcess;
  port: number;
}

function build(): void {
  mkdirSync(dirname(loadgen), { recursive: true });
  const src = join(root, 'bench', 'loadgen.c');
  execFileSync('cc', ['-O2', '-o', loadgen, src], { stdio: 'inherit' });
}

/** Why `name` cannot run here (its program is missing), or null. */
function missing(name: ServerName): string | null {
  const script = programs[name][0]!;
  return existsSync(script) ? null : `${script.slice(root.length + 1)} is not there`;
}

function start(name: ServerName, nodeArgs: string[] = []): Promise<Server> {
  const script = programs[name];
  // Each server gets the same Node and enough file descriptors for the idle cell.
  const proc = spawn(
    'bash',
    ['-c', 'ulimit -n $(ulimit -Hn) 2>/dev/null; exec "$0" "$@"', process.execPath, ...nodeArgs, ...script],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(?:listening |:)(\d+)\/?\s*$/m.exec(out);
      if (m) resolve({ name, proc, port: Number(m[1]) });
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) return resolve();
    s.proc.once('exit', () => resolve());
    s.proc.kill('SIGKILL');
  });
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** The node process behind `bash -c exec`: the same pid after exec. */
function pidOf(s: Server): number {
  return s.proc.pid!;
}

interface Sample {
  rate: number;
  p50: number;
  p99: number;
  cpuPerMsgUs: number;
  genCpu: number;
}

function runGen(args: string[], env: Record<string, string> = {}): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    // The Socket.IO cell's generator is a Node program (socket.io-client): socketio HOST PORT CONNS SIZE SECONDS.
    const p =
      args[0] === 'socketio'
        ? spawn(
            process.execPath,
            [socketioLoad, '--port', args[2]!, '--conns', args[3]!, '--size', args[4]!, '--seconds', args[5]!],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          )
        : spawn(loadgen, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`loadgen ${args.join(' ')} exited with ${code}`));
      const kv: Record<string, number> = {};
      for (const m of out.matchAll(/(\w+)=([\d.]+)/g)) kv[m[1]!] = Number(m[2]);
      kv.msgs ??= kv.acks!; // the Socket.IO load counts acknowledged echoes
      resolve(kv);
    });
  });
}

async function measure(s: Server, args: string[], env?: Record<string, string>): Promise<Sample> {
  args = [...args];
  const pid = pidOf(s);
  const t0 = cpuTicks(pid);
  // The raw servers get the same bytes, with no handshake.
  const mode =
    s.name === 'raw' && args[0]!.startsWith('echo') ? 'raw' : s.name === 'fanout-raw' ? 'fanoutraw' : args[0]!;
  if (mode === 'raw' && args[0] === 'echoz')
    args = ['raw', args[1]!, args[2]!, String(readFileSync(args[3]!).length + 0), args[4]!];
  const r = await runGen([mode, '127.0.0.1', String(s.port), ...args.slice(1)], env);
  const t1 = cpuTicks(pid);
  const cpuUs = ((t1 - t0) / TICK) * 1e6;
  return {
    rate: r.rate!,
    p50: r.p50_us!,
    p99: r.p99_us!,
    cpuPerMsgUs: r.msgs ? cpuUs / r.msgs : 0,
    genCpu: r.cpu_pct!,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

interface Cell {
  name: string;
  title: string;
  servers: ServerName[];
  args: string[];
  /** Environment of the load generator (LOADGEN_PUBLISHERS, say). */
  env?: Record<string, string>;
  /** Which number is compared: throughput (higher is better) or latency (lower is better). */
  metric: 'rate' | 'p50' | 'p99';
  goal: string;
}

const S = String(SECONDS);
/** The compressed payload the deflate cell sends: 16 KiB of JSON-like text, deflated without context takeover. */
const COMPRESSED = join(root, 'dist', 'bench', 'payload.deflate');
function writeCompressedPayload(): void {
  const text = Buffer.from(
    JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}`, ok: i % 3 === 0 }))).slice(
      0,
      16384,
    ),
  );
  const z = zlib.deflateRawSync(text, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  writeFileSync(COMPRESSED, z.subarray(0, z.length - 4));
}
const cells: Cell[] = [
  {
    name: 'small1k',
    title: 'echo 1 KiB, 100 conns × 16 in flight (msg/s)',
    servers: ['ws-stream', 'ws', 'raw'],
    args: ['echo', '100', '16', '1024', S],
    metric: 'rate',
    goal: '≥ 5× ws, ≥ 0.75× raw',
  },
  {
    name: 'small16',
    title: 'echo 16 B, 100 conns × 16 in flight (msg/s)',
    servers: ['ws-stream', 'ws', 'raw'],
    args: ['echo', '100', '16', '16', S],
    metric: 'rate',
    goal: '≥ 5× ws',
  },
  {
    name: 'large64k',
    title: 'echo 64 KiB, 1 conn × 16 in flight (msg/s)',
    servers: ['ws-stream', 'ws', 'raw'],
    args: ['echo', '1', '16', '65536', S],
    metric: 'rate',
    goal: '≥ 1.0× ws, ≥ 0.95× raw',
  },
  {
    name: 'large1m',
    title: 'echo 1 MiB, 1 conn × 4 in flight (msg/s)',
    servers: ['ws-stream', 'ws', 'raw'],
    args: ['echo', '1', '4', '1048576', S],
    metric: 'rate',
    goal: '≥ 1.0× ws in every round',
  },
  {
    name: 'latency',
    title: 'round trip, 1 KiB, 1 conn × 1 in flight: p50 (µs)',
    servers: ['ws-stream', 'ws', 'raw'],
    args: ['echo', '1', '1', '1024', S],
    metric: 'p50',
    goal: '≤ ws',
  },
  {
    name: 'latency',
    title: 'round trip, 1 KiB, 1 conn × 1 in flight: p99 (µs)',
    servers: ['ws-stream', 'ws', 'raw'],
    args: ['echo', '1', '1', '1024', S],
    metric: 'p99',
    goal: '≤ ws',
  },
  {
    name: 'deflate',
    title: 'echo 16 KiB text, permessage-deflate, 10 conns × 4 in flight (msg/s)',
    servers: ['ws-stream-deflate', 'ws-deflate', 'raw'],
    args: ['echoz', '10', '4', COMPRESSED, S],
    metric: 'rate',
    goal: 'ratio to ws (issue 5)',
  },
  {
    name: 'hs-http',
    title: 'handshakes/s, node:http upgrade + accept(req, {head})',
    servers: ['ws-stream', 'ws', 'raw-hs'],
    args: ['handshake', '50', S],
    metric: 'rate',
    goal: '≥ 1.2× ws',
  },
  {
    name: 'hs-net',
    title: 'handshakes/s, net + accept() (own parser)',
    servers: ['ws-stream-net', 'ws', 'raw-hs'],
    args: ['handshake', '50', S],
    metric: 'rate',
    goal: '≥ 1.6× ws',
  },
  {
    name: 'compat1k',
    title: 'echo 1 KiB, ws-compatible API (ws-stream/ws), 100 conns × 16 in flight (msg/s)',
    servers: ['compat', 'ws', 'raw'],
    args: ['echo', '100', '16', '1024', S],
    metric: 'rate',
    goal: '≥ 4× ws',
  },
  {
    name: 'socketio',
    title: 'Socket.IO echo with ack, 1 KiB, 50 conns × 1: engine ws-stream/ws vs default (acks/s)',
    servers: ['socketio-ws-stream', 'socketio-default'],
    args: ['socketio', '50', '1024', S],
    metric: 'rate',
    goal: '> 1× default',
  },
  {
    name: 'fanout',
    title: 'fan-out, 1 KiB to 1,000 subscribers, 8 in flight (deliveries/s)',
    servers: ['fanout-pubsub', 'fanout-ws', 'fanout-raw'],
    args: ['fanout', '1000', '8', '1024', S],
    metric: 'rate',
    goal: 'ratio to ws and raw',
  },
  {
    // ws's broadcast loop (servers/fanout-ws.ts) on ws-stream/ws: the fan-out cell's load.
    name: 'compatfanout',
    title: 'fan-out, 1 KiB to 1,000 clients, 8 in flight, ws-compatible API (ws-stream/ws) loop (deliveries/s)',
    servers: ['fanout-compat', 'fanout-ws', 'fanout-raw'],
    args: ['fanout', '1000', '8', '1024', S],
    metric: 'rate',
    goal: 'ratio to ws and raw',
  },
  {
    // The same, each message from the next of 8 publishing connections: the server reads them from
    // 8 sockets, and the raw server writes each read to every socket.
    name: 'fanout8p',
    title: 'fan-out, 1 KiB to 1,000 subscribers, 8 in flight from 8 publishers (deliveries/s)',
    servers: ['fanout-pubsub', 'fanout-ws', 'fanout-raw'],
    args: ['fanout', '1000', '8', '1024', S],
    env: { LOADGEN_PUBLISHERS: '8' },
    metric: 'rate',
    goal: 'ratio to ws and raw',
  },
];

interface HeapReport {
  /** JS heap in use after a full GC. */
  heap: number;
  /** JS heap in use before it (garbage included), and reserved (what RSS sees of it). */
  before: number;
  total: number;
  /** Buffers' backing stores (outside the JS heap), before the GC. */
  buffers: number;
}

/** The JS heap in use, as the server reports it (servers/heap-report.ts). */
function heapUsed(s: Server): Promise<HeapReport> {
  return new Promise((resolve) => {
    const onData = (d: Buffer): void => {
      const m = /heap (\d+) before (\d+) total (\d+) buffers (\d+)/.exec(d.toString());
      if (!m) return;
      s.proc.stdout!.off('data', onData);
      resolve({ heap: Number(m[1]), before: Number(m[2]), total: Number(m[3]), buffers: Number(m[4]) });
    };
    s.proc.stdout!.on('data', onData);
    s.proc.kill('SIGUSR2');
  });
}

/** RSS and JS heap (after GC) per idle connection, with IDLE_CONNS connections open. */
async function idleMemory(name: ServerName): Promise<{ rss: number; heap: number }> {
  // BENCH_IDLE_NODE_ARGS: extra Node flags for this cell's servers (e.g. `--max-semi-space-size=1`, to
  // see how much of the RSS is the young generation V8 grew during the handshakes).
  const extra = process.env.BENCH_IDLE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const s = await start(name, [...extra, '--expose-gc', '--import', join(here, 'servers', 'heap-report.js')]);
  await new Promise((r) => setTimeout(r, 500));
  const rss0 = rssBytes(pidOf(s));
  const heap0 = await heapUsed(s);
  const gen = spawn(loadgen, ['idle', '127.0.0.1', String(s.port), String(IDLE_CONNS), '6'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    gen.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    gen.once('exit', (code) => reject(new Error(`idle loadgen exited ${code}`)));
  });
  await new Promise((r) => setTimeout(r, 2000));
  const rss1 = rssBytes(pidOf(s)); // before the GC below, as the connections left it
  const heap1 = await heapUsed(s);
  gen.kill();
  await stop(s);
  const per = (k: keyof HeapReport): number => (heap1[k] - heap0[k]) / IDLE_CONNS;
  if (process.env.BENCH_VERBOSE)
    console.log(
      `${name}: per connection: RSS ${fmt((rss1 - rss0) / IDLE_CONNS)}, heap after GC ${fmt(per('heap'))}, before ${fmt(per('before'))}, reserved ${fmt(per('total'))}, buffers ${fmt(per('buffers'))}`,
    );
  return { rss: (rss1 - rss0) / IDLE_CONNS, heap: per('heap') };
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);
}

async function main(): Promise<void> {
  if (!existsSync(loadgen) || process.env.REBUILD) build();
  writeCompressedPayload();
  // Servers start when a cell first needs them and stay up for the cells after it.
  const servers = new Map<ServerName, Server>();
  const server = async (n: ServerName): Promise<Server> => {
    let s = servers.get(n);
    if (!s) servers.set(n, (s = await start(n)));
    return s;
  };
  const rows: string[] = [];
  const lines: string[] = [];
  console.log(
    `# ws-stream benchmark — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${ROUNDS} rounds × ${SECONDS} s`,
  );
  const ran = new Map<string, Map<ServerName, Sample[]>>();
  for (const cell of cells) {
    if (ONLY && !ONLY.has(cell.name)) continue;
    const absent = cell.servers.map(missing).find((m) => m !== null);
    const noLoad =
      cell.args[0] === 'socketio' && !existsSync(socketioLoad) ? 'bench/socketio-load.ts is not built' : null;
    if (absent || noLoad) {
      console.log(`skipped: ${cell.title}: ${absent ?? noLoad}`);
      continue;
    }
    let samples = ran.get(cell.name);
    if (!samples) {
      samples = new Map(cell.servers.map((n) => [n, []]));
      for (let r = 0; r < ROUNDS; r++) {
        // Each round starts with the next server (A B C, B C A, C A B, …): no server always goes first.
        const k = cell.servers.length;
        for (let i = 0; i < k; i++) {
          const n = cell.servers[(r + i) % k]!;
          samples.get(n)!.push(await measure(await server(n), cell.args, cell.env));
        }
      }
      ran.set(cell.name, samples);
    }
    const [a, b, c] = cell.servers;
    const val = (n: ServerName, i: number): number => samples!.get(n)![i]![cell.metric];
    const ratios = (x: ServerName, y: ServerName): number[] =>
      Array.from({ length: ROUNDS }, (_, i) => val(x, i) / val(y, i));
    // The median of same-round ratios, and their range over the rounds (the spread).
    const ratio = (x: ServerName, y: ServerName): string => {
      const r = ratios(x, y);
      return ROUNDS > 1 ? `${fmt(median(r))} (${fmt(Math.min(...r))}–${fmt(Math.max(...r))})` : fmt(median(r));
    };
    const med = (n: ServerName): number => median(samples!.get(n)!.map((s) => s[cell.metric]));
    const cpu = (n: ServerName): number => median(samples!.get(n)!.map((s) => s.cpuPerMsgUs));
    const gen = Math.max(...[...samples.values()].flat().map((s) => s.genCpu));
    rows.push(
      `| ${cell.title} | ${fmt(med(a!))} | ${fmt(med(b!))} | ${c ? fmt(med(c)) : '–'} | ${ratio(a!, b!)} | ${c ? ratio(a!, c) : '–'} | ${cell.goal} | ${cell.metric === 'rate' ? cell.servers.map((n) => fmt(cpu(n))).join(' / ') : '–'} | ${fmt(gen)}% |`,
    );
    lines.push(rows.at(-1)!);
    console.log(rows.at(-1));
  }
  for (const s of servers.values()) await stop(s);
  if (!ONLY || ONLY.has('idle')) {
    const per: Partial<Record<ServerName, { rss: number; heap: number }>> = {};
    for (const n of ['ws-stream', 'ws', 'raw-hs'] as ServerName[]) per[n] = await idleMemory(n);
    const [a, b, c] = [per['ws-stream']!, per.ws!, per['raw-hs']!];
    const conns = IDLE_CONNS.toLocaleString('en-US');
    rows.push(
      `| RSS per idle connection at ${conns} conns (bytes) | ${fmt(a.rss)} | ${fmt(b.rss)} | ${fmt(c.rss)} | ${fmt(a.rss / b.rss)} | ${fmt(a.rss / c.rss)} | ≤ 0.8× ws | – | – |`,
    );
    console.log(rows.at(-1));
    rows.push(
      `| JS heap per idle connection after GC, same run (bytes) | ${fmt(a.heap)} | ${fmt(b.heap)} | ${fmt(c.heap)} | ${fmt(a.heap / b.heap)} | ${fmt(a.heap / c.heap)} | – | – | – |`,
    );
    console.log(rows.at(-1));
  }
  console.log(
    '\n| cell | ws-stream | ws | raw TCP | ws-stream / ws | ws-stream / raw | goal | server CPU µs/msg (ws-stream / ws / raw) | load generator CPU (max) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(
    "\nRatios are medians of same-round ratios, with their range over the rounds in brackets; for the latency rows a ratio below 1 is better. The handshake rows compare ws-stream against ws on its node:http path; their raw column (and the idle row's) is a bare node:net socket answering a fixed 101 (servers/raw-handshake.ts): the floor any Node server pays per connection.",
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
