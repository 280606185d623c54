/**
 * `ws-stream serve --workers 2` (the echo server): two node:cluster workers accept on one port,
 * each echoing (told apart by X-Ws-Stream-Worker); a worker killed is replaced while the other's
 * clients go on; SIGTERM to the primary closes every client of every worker with 1001 and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import http from 'node:http';
import { after, it } from 'node:test';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { poll } from '../support/brokers.js';
import { ipv6LoopbackMissing, NO_IPV6_CODES } from '../support/ipv6.js';
import { childrenOf, exitOf, MAIN, workerPid } from './cli-support.js';

const procs: ReturnType<typeof spawn>[] = [];
const clients: JsonClient[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

async function start(args: string[]) {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--port', '0', '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  procs.push(proc);
  let out = '';
  const { url, port } = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /echo server listening on (wss?:\/\/\S+:(\d+)\/) \(2 workers\)/.exec(out);
      if (m) resolve({ url: m[1]!, port: Number(m[2]) });
    });
    proc.once('exit', (code) => reject(new Error(`ws-stream serve exited with ${code}: ${out}`)));
  });
  return { proc, url, port, out: () => out };
}

/** Clients connected until each of the two workers accepted one (connections opened ten at a time). */
async function oneOnEachWorker(port: number): Promise<Map<string, JsonClient>> {
  const byWorker = new Map<string, JsonClient>();
  for (let round = 0; round < 50 && byWorker.size < 2; round++) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => JsonClient.connect(port)));
    for (const c of batch) {
      assert.ok(c.worker, 'the worker is named in the 101 response');
      if (byWorker.has(c.worker)) c.close();
      else {
        byWorker.set(c.worker, c);
        clients.push(c);
      }
    }
  }
  assert.equal(byWorker.size, 2, 'both workers accepted connections');
  return byWorker;
}

async function echoes(c: JsonClient, value: unknown): Promise<void> {
  c.send(value);
  assert.deepEqual(await c.next('the echo'), value);
}

it('two workers both echo; SIGTERM closes every client with 1001 and the server exits 0', async () => {
  const { proc, port, out } = await start(['--workers', '2']);
  assert.equal((await childrenOf(proc.pid!)).length, 2);
  const byWorker = await oneOnEachWorker(port);
  for (const [worker, c] of byWorker) await echoes(c, { worker, n: 1 });
  proc.kill('SIGTERM');
  for (const c of byWorker.values()) {
    await c.closed();
    assert.equal(c.closeCode, 1001);
  }
  assert.deepEqual(await exitOf(proc), { code: 0, signal: null });
  // The primary says it, once; its workers (whose stdout is its own) say nothing.
  assert.match(out(), /^ws-stream echo server listening on [^\n]+\nshutting down\n$/);
});

const missing = await ipv6LoopbackMissing();
if (missing === null) {
  it('--host ::1: the primary prints the URL with the address in brackets, ws://[::1]:PORT/, which answers', async () => {
    const { proc, url, port } = await start(['--host', '::1', '--workers', '2']);
    assert.equal(url, `ws://[::1]:${port}/`);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`http://[::1]:${port}/`, resolve).on('error', reject);
    });
    res.resume();
    assert.equal(res.statusCode, 200);
    proc.kill('SIGTERM');
    assert.deepEqual(await exitOf(proc), { code: 0, signal: null });
  });
} else {
  it(`--host ::1 --workers 2: NOT TESTED, this machine has no IPv6 loopback (listening on ::1: ${missing})`, (t) => {
    t.diagnostic(`the [::1] URL of serve --workers was not checked: listening on ::1 failed with ${missing}`);
    assert.ok(
      NO_IPV6_CODES.includes(missing),
      `${missing} is not a "no IPv6 here" error: a failure of the test itself`,
    );
  });
}

it('a worker killed is replaced; the other worker’s clients go on; the URL is printed once', async () => {
  const { proc, port, out } = await start(['--workers', '2']);
  const byWorker = await oneOnEachWorker(port);
  const [[, victim], [, survivor]] = [...byWorker];
  // One of the two workers: whichever client it served is cut, the other goes on.
  const killed = (await childrenOf(proc.pid!))[0]!;
  process.kill(killed, 'SIGKILL');
  const cut = await Promise.race([victim!.closed().then(() => victim!), survivor!.closed().then(() => survivor!)]);
  const alive = cut === victim ? survivor! : victim!;
  assert.equal(cut.closeCode, null, 'cut without a close frame');
  await echoes(alive, { still: 'here' });
  // Replaced: two workers again, and a new connection is served.
  await poll(async () => (await childrenOf(proc.pid!)).filter((pid) => pid !== killed).length === 2);
  // Until the replacement (a worker id not seen before) serves one: it listens.
  let fresh: JsonClient | undefined;
  while (fresh === undefined) {
    const c = await JsonClient.connect(port);
    clients.push(c);
    if (byWorker.has(c.worker!)) c.close();
    else fresh = c;
  }
  await echoes(fresh, { fresh: true });
  proc.kill('SIGTERM');
  await alive.closed();
  assert.equal(alive.closeCode, 1001);
  assert.deepEqual(await exitOf(proc), { code: 0, signal: null });
  // The primary printed its URL once, when both first workers listened, not again for the replacement.
  assert.match(out(), /^ws-stream echo server listening on [^\n]+\nshutting down\n$/);
});

/** The PEM certificate a wss:// server presents (read without checking it). */
async function certificateSeen(port: number): Promise<string> {
  const sock = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  try {
    await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
    const der = sock.getPeerCertificate().raw.toString('base64');
    return `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  } finally {
    sock.destroy();
  }
}

/** A WebSocket upgrade over TLS trusting only `ca`: the worker named in its 101 (the socket closed after). */
function upgradeTrusting(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      ca,
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve(String(res.headers['x-ws-stream-worker']));
    });
    req.once('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.once('error', reject);
    req.end();
  });
}

it('--tls without --cert: every worker serves the one certificate the primary made', async () => {
  const { proc, port } = await start(['--workers', '2', '--tls']);
  const ca = await certificateSeen(port);
  // Connections (ten at a time) trusting only that certificate, until both workers answered one.
  const workers = new Set<string>();
  for (let round = 0; round < 50 && workers.size < 2; round++) {
    for (const worker of await Promise.all(Array.from({ length: 10 }, () => upgradeTrusting(port, ca)))) {
      workers.add(worker);
    }
  }
  assert.deepEqual([...workers].sort(), ['1', '2'], 'both workers accepted a client that trusts the certificate');
  proc.kill('SIGTERM');
  assert.deepEqual(await exitOf(proc), { code: 0, signal: null });
});

it('workers that exit soon after they listen are forked again after a doubling delay, never at once', async () => {
  // Every worker exits as soon as it listens: each exit is logged with the delay before the next fork.
  const crash = new URL('./crash-after-listen.js', import.meta.url).href;
  const proc = spawn(process.execPath, ['--import', crash, MAIN, 'serve', '--port', '0', '--workers', '2'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(proc);
  let err = '';
  const exits = await new Promise<string[]>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const lines = err.split('\n').filter((line) => /^worker \d+ exited/.test(line));
      if (lines.length >= 4) resolve(lines.slice(0, 4));
    });
    proc.once('exit', (code) => reject(new Error(`ws-stream serve exited with ${code}: ${err}`)));
  });
  const delays = exits.map((line) => {
    const m = /^worker \d+ exited \(code 3\) soon after it listened; another in (\d+) ms$/.exec(line);
    assert.ok(m, `a delayed fork: ${line}`);
    return Number(m[1]);
  });
  assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
  proc.kill('SIGTERM');
  await exitOf(proc);
});

it('a worker that dies after its stability window is replaced at once, and the next early death waits 1 s again', async () => {
  // The primary's 10 s stability windows pass when this test sends SIGUSR2 (see the hook): no waiting.
  const hook = new URL('./stable-on-signal.js', import.meta.url).href;
  const proc = spawn(process.execPath, ['--import', hook, MAIN, 'serve', '--port', '0', '--workers', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let err = '';
  const waiting: (() => void)[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const wake of waiting.splice(0)) wake();
  });
  const exited = exitOf(proc);
  /** The first line of stderr that starts with `start`, once printed (the primary's lines, and the hook's). */
  const told = (start: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = err.split('\n').find((l) => l.startsWith(start) && err.includes(`${l}\n`));
        if (line !== undefined) resolve(line);
        else if (proc.exitCode !== null || proc.signalCode !== null)
          reject(new Error(`exited before ${start}: ${err}`));
        else waiting.push(check);
      };
      check();
      void exited.then(check);
    });
  await told('stable-hook: worker 1 listened');
  await told('stable-hook: worker 2 listened');
  // Within its window: a short-lived worker, its replacement forked after 1 s.
  process.kill(workerPid(proc.pid!, '1'), 'SIGKILL');
  assert.equal(await told('worker 1 '), 'worker 1 exited (SIGKILL) soon after it listened; another in 1000 ms');
  await told('stable-hook: worker 3 listened');
  proc.kill('SIGUSR2');
  assert.equal(await told('stable-hook: windows passed'), 'stable-hook: windows passed: 2');
  // Past its window: replaced at once (no delay).
  process.kill(workerPid(proc.pid!, '3'), 'SIGKILL');
  assert.equal(await told('worker 3 '), 'worker 3 exited (SIGKILL); starting another');
  await told('stable-hook: worker 4 listened');
  // A stable worker reset the delay: the next short-lived one waits 1 s again, not 2 s.
  process.kill(workerPid(proc.pid!, '4'), 'SIGKILL');
  assert.equal(await told('worker 4 '), 'worker 4 exited (SIGKILL) soon after it listened; another in 1000 ms');
  proc.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
  const primaryLines = err.split('\n').filter((line) => line !== '' && !line.startsWith('stable-hook: '));
  assert.deepEqual(primaryLines, [
    'worker 1 exited (SIGKILL) soon after it listened; another in 1000 ms',
    'worker 3 exited (SIGKILL); starting another',
    'worker 4 exited (SIGKILL) soon after it listened; another in 1000 ms',
  ]);
});
