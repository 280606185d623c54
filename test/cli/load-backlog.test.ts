/**
 * A burst of connections while `ws-stream serve` does not accept (stopped here with SIGSTOP, as a
 * process busy with a storm of handshakes or a long GC is): they must wait in the kernel's accept
 * queue, not have their SYNs dropped. With node's default backlog, 511, the kernel queued 512 and
 * dropped the rest, whose clients waited for their SYN's retransmission (1 s, then 3 s, 7 s…): after
 * a 1 s stall, 290 of 1,500 clients got their 101 more than a second after the server ran again,
 * none with the kernel's limit (4,096 here).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { it } from 'node:test';
import { requestHead } from '../support/frames.js';
import { childrenOf } from './cli-support.js';
import { startProbed } from './load-support.js';

/** The kernel's cap on a listen backlog. */
const SOMAXCONN = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
/** The backlog `serve` asks for, as the kernel applies it. */
const BACKLOG = Math.min(SOMAXCONN, 65535);
/** Connections in the burst: more than node's default backlog, as many as the kernel lets wait. */
const BURST = Math.min(1000, BACKLOG);

/** The listening socket on `port`, as the kernel shows it: connections waiting to be accepted, and its backlog. */
function listener(port: number): { queued: number; backlog: number } {
  const row = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const [, queued, backlog] = row.split(/\s+/).map(Number);
  return { queued: queued!, backlog: backlog! };
}

for (const args of [[], ['--workers', '2'], ['--pubsub']]) {
  it(`serve${args.map((a) => ` ${a}`).join('')}: ${BURST} connections arriving while it does not accept all wait in the accept queue (backlog: the kernel's limit), then each gets its 101`, async () => {
    const server = await startProbed(args, undefined, []);
    const sockets: net.Socket[] = [];
    const pids = [server.proc.pid!, ...(args.includes('--workers') ? await childrenOf(server.proc.pid!) : [])];
    let stopped = false;
    try {
      assert.equal(listener(server.port).backlog, BACKLOG, "the backlog asked for is the kernel's limit");
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      stopped = true;
      const heads = Array.from({ length: BURST }, async () => {
        const socket = net.connect(server.port, '127.0.0.1');
        sockets.push(socket);
        await once(socket, 'connect'); // the kernel completed the TCP handshake: the connection is queued
        socket.write(requestHead({ Host: `127.0.0.1:${server.port}` }));
        let head = '';
        while (!head.includes('\r\n\r\n')) head += String((await once(socket, 'data'))[0]);
        return head;
      });
      // Connected, every one, while nothing accepts (a dropped SYN would wait here for its retransmission).
      await Promise.all(sockets.map((s) => (s.connecting ? once(s, 'connect') : undefined)));
      assert.equal(listener(server.port).queued, BURST);
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      stopped = false;
      for (const head of await Promise.all(heads)) assert.match(head, /^HTTP\/1\.1 101 /);
    } finally {
      if (stopped) for (const pid of pids) process.kill(pid, 'SIGCONT');
      for (const s of sockets) s.destroy();
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }
  });
}
