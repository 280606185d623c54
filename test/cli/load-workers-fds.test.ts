/**
 * `serve --pubsub --workers 2` run out of file descriptors: connections past the limit may be
 * refused, but once the clients leave, the server must hold no descriptor of theirs and serve
 * again (the README: running out of file descriptors never stops the server).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { it } from 'node:test';
import WebSocket from 'ws';
import { MAIN, childrenOf, exitOf } from './cli-support.js';
import { eventually } from './load-support.js';

/** Descriptors each process may hold: a few dozen of the server's own, the rest for clients. */
const FD_LIMIT = 128;
/** Clients opened at once: well past what the limit lets the workers accept. */
const CLIENTS = 300;
const BATCH = 50;

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Opens a ws client; resolves with it once open, or with the error that ended it. */
function openClient(url: string): Promise<{ ws: WebSocket; error?: Error }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: 2000 });
    ws.once('open', () => resolve({ ws }));
    ws.once('error', (error) => resolve({ ws, error }));
  });
}

it('pubsub --workers 2: after a burst past the descriptor limit, the clients gone, no descriptor is held and it serves again', async () => {
  const proc = spawn(
    'bash',
    [
      '-c',
      `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`,
      process.execPath,
      MAIN,
      'serve',
      '--pubsub',
      '--workers',
      '2',
      '--port',
      '0',
      '--quiet',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    let out = '';
    // Waits for the event, however long a loaded machine takes to start three processes.
    await new Promise<void>((resolve) => {
      proc.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (/listening on ws:\/\/\S+/.test(out)) resolve();
      });
      proc.once('exit', () => resolve());
    });
    const url = /listening on (ws:\/\/\S+)/.exec(out)?.[1];
    assert.ok(url, `the server started: ${out}`);
    const pids = [proc.pid!, ...(await childrenOf(proc.pid!))];
    assert.equal(pids.length, 3, 'a primary and two workers');
    const baseline = pids.map(fdCount);

    // In batches: the workers fill up to their limit while the primary still has room to accept.
    const results: { ws: WebSocket; error?: Error }[] = [];
    for (let i = 0; i < CLIENTS; i += BATCH) {
      results.push(...(await Promise.all(Array.from({ length: BATCH }, () => openClient(url)))));
    }
    const opened = results.filter((r) => !r.error).map((r) => r.ws);
    assert.ok(opened.length > 0 && opened.length < CLIENTS, `some were accepted, not all (${opened.length})`);
    await Promise.all(
      results.map(({ ws }) => {
        if (ws.readyState === WebSocket.CLOSED) return undefined;
        const closed = once(ws, 'close');
        ws.terminate();
        return closed;
      }),
    );

    // Every process back to (about) the descriptors it held before the burst.
    const settled = await eventually(() => pids.every((pid, i) => fdCount(pid) <= baseline[i]! + 4));
    assert.ok(
      settled,
      `descriptors before ${baseline.join('/')}, after ${pids.map(fdCount).join('/')} (primary/workers)`,
    );

    // And it serves: a subscription and a publication round trip.
    const { ws, error } = await openClient(url);
    assert.equal(error, undefined, `a new client connects: ${error?.message}`);
    const replies: { op: string; data?: unknown }[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        replies.push(JSON.parse(String(d)));
        if (replies.length === 2) resolve();
      }),
    );
    ws.send(JSON.stringify({ op: 'subscribe', topic: 'after' }));
    ws.send(JSON.stringify({ op: 'publish', topic: 'after', data: 'back' }));
    await got;
    assert.deepEqual(
      replies.map((r) => r.op),
      ['subscribed', 'message'],
    );
    assert.equal(replies[1]!.data, 'back');
    ws.terminate();
  } finally {
    proc.kill('SIGTERM');
    await exitOf(proc);
  }
});
