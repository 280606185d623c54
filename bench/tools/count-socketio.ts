/**
 * Drives the Socket.IO echo (servers/socketio-echo.ts) running under callgrind for a fixed number of acknowledged
 * echoes, and prints its instructions per ack: `bench/tools/count-socketio.sh` starts the server and runs this. After
 * two warm-up batches of WARM (instrumentation off), one batch of N1 and one of N2 are counted apart, each a dump;
 * prints (Ir2 − Ir1) / (N2 − N1) over every thread and over the main thread, and the main thread's Ir2 / N2.
 *   node dist/bench/tools/count-socketio.js PORT PID OUT CONNS SIZE WARM N1 N2
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { io as connect, type Socket } from 'socket.io-client';

const [port, pid, out] = process.argv.slice(2, 5) as [string, string, string];
const [conns, size, warm, n1, n2] = process.argv.slice(5, 10).map(Number) as [number, number, number, number, number];
const payload = 'x'.repeat(size);

const sockets = await Promise.all(
  Array.from(
    { length: conns },
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

/** `n` echoes in all, each connection sending its next once its previous was acknowledged. */
function batch(n: number): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let acked = 0;
    const next = (s: Socket): void => {
      if (sent === n) return;
      sent++;
      s.emit('echo', payload, () => {
        if (++acked === n) resolve();
        else next(s);
      });
    };
    for (const s of sockets) next(s);
  });
}

const callgrind = (...args: string[]): void => {
  execFileSync('callgrind_control', [...args, pid], { stdio: 'ignore' });
};
const dumps = (): string[] => readdirSync(out).filter((f) => f.startsWith('callgrind.out.'));
/** Instructions in the dumps on disk: every thread's, or the main thread's (file name ending -01). */
const counted = (mainOnly: boolean): number =>
  dumps()
    .filter((f) => !mainOnly || f.endsWith('-01'))
    .reduce((sum, f) => sum + Number(/^summary: (\d+)/m.exec(readFileSync(`${out}/${f}`, 'utf8'))?.[1] ?? 0), 0);
const clear = (): void => {
  for (const f of dumps()) rmSync(`${out}/${f}`);
};

await batch(warm);
await batch(warm);
callgrind('-i', 'on');
callgrind('-z');
clear();
await batch(n1);
callgrind('-d');
const all1 = counted(false);
const main1 = counted(true);
clear();
await batch(n2);
callgrind('-d');
const all2 = counted(false);
const main2 = counted(true);
const per = (a: number, b: number): number => Math.round((b - a) / (n2 - n1));
console.log(
  `n1=${n1} n2=${n2} per-ack=${per(all1, all2)} per-ack-main=${per(main1, main2)} main Ir2/N2=${Math.round(main2 / n2)}`,
);
for (const s of sockets) s.close();
