/**
 * Load for the Socket.IO cell (the C load generator speaks WebSocket, not Engine.IO/Socket.IO): socket.io-client
 * connections over the websocket transport, each a closed loop of `echo` events with acknowledgement.
 *
 *   node dist/bench/socketio-load.js --port P [--conns 50] [--seconds 3] [--size 1024]
 *     drives a running server (bench/servers/socketio-echo.js) and prints `acks= rate= p50_us= p99_us= cpu_pct=`
 *     (cpu_pct: this client's own CPU, to tell when the client rather than the server is the limit).
 *   node dist/bench/socketio-load.js --compare [--rounds 3] [--conns 50] [--seconds 3] [--size 1024]
 *     starts the echo server on each engine, measures them in interleaved rounds (A B, B A, …) and prints the
 *     median acks/s, the server's CPU per ack, and the ratio ws-stream/ws engine ÷ default engine.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { io as connect, type Socket } from 'socket.io-client';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const CONNS = opt('conns', 50);
const SECONDS = opt('seconds', 3);
const SIZE = opt('size', 1024);
const ROUNDS = opt('rounds', 3);
const WARMUP_MS = 500;

interface Sample {
  acks: number;
  rate: number;
  p50: number;
  p99: number;
  cpuPct: number;
  /** The server's CPU per acknowledged echo (when its pid is known). */
  serverCpuUsPerAck: number;
}

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
};

async function drive(port: number, serverPid?: number): Promise<Sample> {
  const payload = 'x'.repeat(SIZE);
  const sockets: Socket[] = await Promise.all(
    Array.from(
      { length: CONNS },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(`http://127.0.0.1:${port}`, {
            transports: ['websocket'],
            forceNew: true,
            reconnection: false,
          });
          s.once('connect', () => resolve(s));
          s.once('connect_error', reject);
        }),
    ),
  );
  let measuring = false;
  let stopped = false;
  let acks = 0;
  const latencies: number[] = [];
  const loop = (s: Socket) => {
    const t0 = process.hrtime.bigint();
    s.emit('echo', payload, () => {
      if (measuring) {
        acks++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      if (!stopped) loop(s);
    });
  };
  for (const s of sockets) loop(s);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const cpu0 = process.cpuUsage();
  const server0 = serverPid ? cpuSeconds(serverPid) : 0;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const serverCpu = serverPid ? cpuSeconds(serverPid) - server0 : NaN;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  stopped = true;
  for (const s of sockets) s.disconnect();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    acks,
    rate: acks / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    cpuPct: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
    serverCpuUsPerAck: (serverCpu / acks) * 1e6,
  };
}

function startServer(engine: 'ws' | 'ws-stream'): Promise<{ proc: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL('./servers/socketio-echo.js', import.meta.url));
  const proc = spawn(process.execPath, [script, '0', '--engine', engine], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
    proc.once('exit', (code) => reject(new Error(`socketio-echo --engine ${engine} exited with ${code}`)));
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

if (argv.includes('--compare')) {
  const engines = ['ws-stream', 'ws'] as const;
  const servers = new Map(await Promise.all(engines.map(async (e) => [e, await startServer(e)] as const)));
  const samples = new Map(engines.map((e) => [e, [] as Sample[]]));
  try {
    for (let r = 0; r < ROUNDS; r++)
      for (let i = 0; i < engines.length; i++) {
        const e = engines[(r + i) % engines.length]!;
        const { proc, port } = servers.get(e)!;
        const s = await drive(port, proc.pid);
        samples.get(e)!.push(s);
        console.log(
          `round ${r + 1} ${e}: ${fmt(s.rate)} acks/s p50 ${fmt(s.p50)} µs p99 ${fmt(s.p99)} µs, client CPU ${fmt(s.cpuPct)}%`,
        );
      }
  } finally {
    for (const { proc } of servers.values()) proc.kill('SIGKILL');
  }
  const med = (e: (typeof engines)[number], k: 'rate' | 'p50' | 'serverCpuUsPerAck') =>
    median(samples.get(e)!.map((s) => s[k]));
  console.log(
    `\nSocket.IO echo with ack, ${CONNS} connections, ${SIZE} B strings, ${ROUNDS} rounds of ${SECONDS} s (medians):`,
  );
  console.log('| engine | acks/s | p50 µs | server CPU µs/ack |\n|---|---|---|---|');
  for (const e of engines)
    console.log(
      `| ${e === 'ws' ? 'ws (default)' : 'ws-stream/ws'} | ${fmt(med(e, 'rate'))} | ${fmt(med(e, 'p50'))} | ${fmt(med(e, 'serverCpuUsPerAck'))} |`,
    );
  console.log(`ratio ws-stream/ws ÷ ws: ${fmt(med('ws-stream', 'rate') / med('ws', 'rate'))}× acks/s`);
} else {
  const port = opt('port', NaN);
  if (!Number.isFinite(port)) throw new Error('--port P (a running bench/servers/socketio-echo.js), or --compare');
  const s = await drive(port);
  console.log(
    `acks=${s.acks} rate=${s.rate.toFixed(0)} p50_us=${s.p50.toFixed(0)} p99_us=${s.p99.toFixed(0)} cpu_pct=${s.cpuPct.toFixed(0)}`,
  );
}
