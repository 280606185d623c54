/**
 * NatsBroker on core NATS (a real nats-server without JetStream): a publish pending when the broker
 * closes (its connection stalled) rejects with ERR_WS_BROKER_UNAVAILABLE, and nothing keeps the
 * process alive after close() (the child process ends by itself although its command deadline is
 * 10 minutes).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BrokerProcess } from '../support/brokers.js';

const CHILD = fileURLToPath(new URL('./nats-close-child.js', import.meta.url));

it('core NATS: close() rejects a pending publish and leaves nothing running', { timeout: 120_000 }, async (t) => {
  const server = await BrokerProcess.nats({ jetstream: false });
  t.after(() => server.stop());
  const child = spawn(process.execPath, [CHILD, String(server.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])),
  );
  assert.equal(code, 0);
  assert.equal(out.trim(), 'rejected ERR_WS_BROKER_UNAVAILABLE');
});
